"""Turns a YAML request body into JSON with yaml.safe_load."""

import json

import yaml

from sdk.policy import UpstreamRequestModifications


def on_request(ctx, params):
    document = yaml.safe_load(ctx.body.content)
    return UpstreamRequestModifications(
        body=json.dumps(document, sort_keys=True).encode(),
        set_headers={"x-yaml-libyaml": str(getattr(yaml, "__with_libyaml__", None))},
    )
