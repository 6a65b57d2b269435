//! The JSON that crosses the WIT boundary: the context the guest pulls in and
//! the action it hands back.
//!
//! Bodies never appear here; they cross as bytes through `call-input.body`
//! and `outcome.body`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::contract::{
    Action, CallInput, Exchange, HeaderChanges, Headers, ImmediateResponse, JsonObject, Phase,
    PolicyMetadata, RequestChanges, ResponseChanges, SharedContext,
};

// Empty strings, empty maps and false flags are left out of the context
// (here, and by the serde attributes of SharedContext and PolicyMetadata):
// the glue reads every field with the same default, and each key the guest
// parses costs it a string, a memo lookup and a dict insert.

#[derive(Serialize)]
struct GuestContext<'a> {
    phase: &'static str,
    shared: &'a SharedContext,
    policy: &'a PolicyMetadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<GuestRequest<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<GuestResponse<'a>>,
}

fn is_false(flag: &bool) -> bool {
    !flag
}

#[derive(Serialize)]
struct GuestRequest<'a> {
    #[serde(skip_serializing_if = "Headers::is_empty")]
    headers: &'a Headers,
    #[serde(skip_serializing_if = "str::is_empty")]
    path: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    method: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    authority: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    scheme: &'a str,
    #[serde(skip_serializing_if = "is_false")]
    body_present: bool,
    #[serde(skip_serializing_if = "is_false")]
    end_of_stream: bool,
}

#[derive(Serialize)]
struct GuestResponse<'a> {
    #[serde(skip_serializing_if = "Headers::is_empty")]
    request_headers: &'a Headers,
    #[serde(skip_serializing_if = "str::is_empty")]
    request_path: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    request_method: &'a str,
    #[serde(skip_serializing_if = "is_false")]
    request_body_present: bool,
    #[serde(skip_serializing_if = "Headers::is_empty")]
    response_headers: &'a Headers,
    response_status: i32,
    #[serde(skip_serializing_if = "is_false")]
    response_body_present: bool,
}

/// The context JSON for `call-input.context`.
pub fn context_json(input: &CallInput) -> String {
    let (request, response) = match &input.exchange {
        Exchange::Request(view) => (
            Some(GuestRequest {
                headers: &view.headers,
                path: &view.path,
                method: &view.method,
                authority: &view.authority,
                scheme: &view.scheme,
                body_present: view.body.is_some(),
                end_of_stream: view.end_of_stream,
            }),
            None,
        ),
        Exchange::Response(view) => (
            None,
            Some(GuestResponse {
                request_headers: &view.request_headers,
                request_path: &view.request_path,
                request_method: &view.request_method,
                request_body_present: view.request_body_for_policy().is_some(),
                response_headers: &view.response_headers,
                response_status: view.response_status,
                response_body_present: view.response_body.is_some(),
            }),
        ),
    };
    let context = GuestContext {
        phase: input.phase.as_str(),
        shared: &input.shared,
        policy: &input.policy,
        request,
        response,
    };
    serde_json::to_string(&context).expect("context serializes: all keys are strings")
}

/// Largest action or metadata JSON the host parses. Far above anything a
/// gateway can use (responses are capped at 4 MiB by default), and small
/// enough that a hostile result (a million headers) is refused before the
/// host builds it into maps.
pub const MAX_RESULT_JSON_BYTES: usize = 8 * 1024 * 1024;

fn check_size(json: &str, what: &str) -> Result<(), String> {
    if json.len() <= MAX_RESULT_JSON_BYTES {
        return Ok(());
    }
    Err(format!(
        "the {what} is {} bytes of JSON, over the {MAX_RESULT_JSON_BYTES}-byte limit",
        json.len()
    ))
}

/// The action object the glue writes into `outcome.action`.
#[derive(Deserialize)]
#[serde(tag = "type")]
enum GuestAction {
    UpstreamRequestModifications {
        #[serde(flatten)]
        headers: HeaderChanges,
        #[serde(default)]
        path: Option<String>,
        #[serde(default)]
        method: Option<String>,
    },
    ImmediateResponse {
        status_code: i32,
        #[serde(default)]
        headers: Headers,
        #[serde(default)]
        analytics_metadata: JsonObject,
    },
    UpstreamResponseModifications {
        #[serde(flatten)]
        headers: HeaderChanges,
        #[serde(default)]
        status_code: Option<i32>,
    },
}

/// Decodes the guest's action JSON (`null` is pass-through), attaches the
/// body, and checks the action belongs to `phase` and carries only headers
/// HTTP can hold. The glue checks the phase too, but the glue runs inside the
/// sandbox: a hostile policy can replace it.
pub fn parse_action(
    json: &str,
    body: Option<Vec<u8>>,
    phase: Phase,
) -> Result<Option<Action>, String> {
    check_size(json, "action")?;
    let parsed: Option<GuestAction> =
        serde_json::from_str(json).map_err(|error| format!("malformed action JSON: {error}"))?;
    let body = body.map(Bytes::from);
    let action = parsed.map(|action| match action {
        GuestAction::UpstreamRequestModifications {
            headers,
            path,
            method,
        } => Action::ContinueRequest(RequestChanges {
            headers,
            body,
            path,
            method,
        }),
        GuestAction::ImmediateResponse {
            status_code,
            headers,
            analytics_metadata,
        } => Action::ImmediateResponse(ImmediateResponse {
            status_code,
            headers,
            body,
            analytics_metadata,
        }),
        GuestAction::UpstreamResponseModifications {
            headers,
            status_code,
        } => Action::ContinueResponse(ResponseChanges {
            headers,
            body,
            status_code,
        }),
    });
    let fits = matches!(
        (&action, phase),
        (None, _)
            | (
                Some(Action::ContinueRequest(_) | Action::ImmediateResponse(_)),
                Phase::OnRequest
            )
            | (Some(Action::ContinueResponse(_)), Phase::OnResponse)
    );
    if !fits {
        return Err(format!("{phase} returned an action of the other phase"));
    }
    if let Some(action) = &action {
        super::header_rules::check_action_headers(action)?;
    }
    Ok(action)
}

/// Decodes the guest's updated shared metadata.
pub fn parse_metadata(json: &str) -> Result<JsonObject, String> {
    check_size(json, "shared metadata")?;
    serde_json::from_str(json).map_err(|error| format!("malformed metadata JSON: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Phase, RequestView, ResponseView};

    fn input(exchange: Exchange) -> CallInput {
        CallInput {
            phase: exchange.phase(),
            exchange,
            shared: SharedContext {
                request_id: "r1".into(),
                ..Default::default()
            },
            policy: PolicyMetadata::default(),
            params: JsonObject::new(),
        }
    }

    #[test]
    fn request_context_carries_presence_but_not_the_body() {
        let view = RequestView {
            body: Some(Bytes::from_static(b"secret-body")),
            path: "/p".into(),
            ..Default::default()
        };
        let json = context_json(&input(Exchange::Request(view)));
        assert!(!json.contains("secret-body"));
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["phase"], "on_request");
        assert_eq!(value["request"]["body_present"], true);
        assert_eq!(value["request"]["path"], "/p");
        assert_eq!(value["shared"]["request_id"], "r1");
    }

    #[test]
    fn empty_fields_are_left_out_and_filled_ones_kept() {
        let view = RequestView {
            path: "/p".into(),
            ..Default::default()
        };
        let json = context_json(&input(Exchange::Request(view)));
        assert_eq!(
            json,
            r#"{"phase":"on_request","shared":{"request_id":"r1"},"policy":{},"request":{"path":"/p"}}"#
        );
        let view = ResponseView {
            response_status: 0,
            ..Default::default()
        };
        let json = context_json(&input(Exchange::Response(view)));
        assert!(
            json.ends_with(r#""response":{"response_status":0}}"#),
            "{json}"
        );
    }

    #[test]
    fn empty_request_body_is_absent_in_the_response_phase() {
        let view = ResponseView {
            request_body: Some(Bytes::new()),
            response_body: Some(Bytes::new()),
            ..Default::default()
        };
        let json = context_json(&input(Exchange::Response(view)));
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["phase"], Phase::OnResponse.as_str());
        assert_eq!(value["response"].get("request_body_present"), None);
        assert_eq!(value["response"]["response_body_present"], true);
    }

    #[test]
    fn actions_decode_with_their_body() {
        let json = r#"{"type":"UpstreamRequestModifications","set_headers":{"a":"b"},
            "remove_headers":["c"],"append_headers":{"d":["e"]},"analytics_metadata":{},
            "path":null,"method":"POST"}"#;
        let action = parse_action(json, Some(vec![]), Phase::OnRequest)
            .unwrap()
            .unwrap();
        let Action::ContinueRequest(changes) = action else {
            panic!("{action:?}")
        };
        assert_eq!(changes.headers.set_headers["a"], "b");
        assert_eq!(changes.method.as_deref(), Some("POST"));
        assert_eq!(changes.path, None);
        assert_eq!(changes.body, Some(Bytes::new()));
        assert_eq!(parse_action("null", None, Phase::OnResponse).unwrap(), None);
    }

    #[test]
    fn oversized_results_are_refused_before_parsing() {
        let huge = format!("{{\"x\":\"{}\"}}", "v".repeat(MAX_RESULT_JSON_BYTES));
        let error = parse_metadata(&huge).unwrap_err();
        assert!(
            error.contains("shared metadata") && error.contains("limit"),
            "{error}"
        );
        assert!(parse_action(&huge, None, Phase::OnRequest).is_err());
    }

    #[test]
    fn malformed_actions_are_errors_not_panics() {
        assert!(parse_action("{", None, Phase::OnRequest).is_err());
        assert!(parse_action(r#"{"type":"Nope"}"#, None, Phase::OnRequest).is_err());
        // A tampered glue returning the other phase's action is refused.
        let response_action = r#"{"type":"UpstreamResponseModifications","status_code":201}"#;
        assert!(parse_action(response_action, None, Phase::OnRequest).is_err());
        assert!(parse_action(response_action, None, Phase::OnResponse).is_ok());
        let immediate = r#"{"type":"ImmediateResponse","status_code":403}"#;
        assert!(parse_action(immediate, None, Phase::OnResponse).is_err());
        assert!(parse_metadata("[1]").is_err());
    }
}
