from sdk.policy import Policy, PolicyMetadata, ProcessingMode, UpstreamRequestModifications


class HeaderPolicy(Policy):
    def mode(self):
        return ProcessingMode()

    def on_request(self, ctx, params):
        return UpstreamRequestModifications(
            set_headers={"x-legacy": self.params.get("value", "legacy"), "x-route": self.metadata.route_name}
        )


def get_policy(metadata: PolicyMetadata, params):
    return HeaderPolicy(metadata, params)
