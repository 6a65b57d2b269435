# tries: rewrite the guest glue so it hands the host malformed JSON and another phase's action
# expect: error invalid_result
import policy_host_action

from sdk.policy import UpstreamRequestModifications


def on_request(ctx, params):
    policy_host_action.to_json = lambda value, what: '{"type": "UpstreamResponseModifications", "status_code": 1e999'
    return UpstreamRequestModifications(set_headers={"x": "1"})


def on_response(ctx, params):
    return None
