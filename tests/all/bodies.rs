//! Bodies of real sizes over the real socket: up to 1 MiB works within the
//! default limits, and past a cap the caller is told which cap and by how much.

use policy_host::contract::{Action, Headers};
use policy_host::transport::client::{WireOutcome, decode_response};
use policy_host::transport::proto::ExecutionResponse;
use serde_json::{Value, json};

use crate::harness::{params, request, response};
use crate::server::{Settings, TestServer, exchange, outcome_kind, wire_request};

const MIB: usize = 1024 * 1024;

/// A JSON object of about `size` bytes: `{"items": [{"id": 0, "name": …}, …]}`.
fn json_document(size: usize) -> Vec<u8> {
    let mut items = Vec::new();
    let mut len = 12;
    while len < size {
        let item = json!({"id": items.len(), "name": format!("item-{:08}", items.len())});
        len += item.to_string().len() + 1;
        items.push(item);
    }
    serde_json::to_vec(&json!({ "items": items })).unwrap()
}

fn body_of(response: &ExecutionResponse) -> Value {
    let WireOutcome::Done { action, .. } = decode_response(response.clone()) else {
        panic!("expected a result, got {response:?}")
    };
    let body = match action {
        Some(Action::ContinueRequest(changes)) => changes.body,
        Some(Action::ContinueResponse(changes)) => changes.body,
        other => panic!("expected modifications, got {other:?}"),
    };
    serde_json::from_slice(&body.expect("a rewritten body")).unwrap()
}

fn error_message(response: &ExecutionResponse) -> String {
    match decode_response(response.clone()) {
        WireOutcome::Failed(error) => error.message,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mib_bodies_are_read_and_rewritten_within_the_default_limits() {
    let server = TestServer::start(Settings::default()).await;
    let mut client = server.client().await;
    let document = json_document(MIB);
    assert!(document.len() >= MIB);
    let inject = params(json!({"injectFields": {"source": "gateway"}}));
    let mask = params(json!({"maskFields": ["items"], "maskValue": "hidden"}));
    let schema = params(json!({"schema": {"type": "object", "required": ["items"]}}));
    let masked = response(Some(&document), mask);
    let requests = vec![
        wire_request(
            "inject",
            "python-json-body-transform",
            "v1.0.0",
            &request(Headers::new(), Some(&document), inject),
        ),
        wire_request("mask", "python-json-body-transform", "v1.0.0", &masked),
        wire_request(
            "validate",
            "python-body-validator",
            "v1.0.0",
            &request(Headers::new(), Some(&document), schema),
        ),
    ];
    let (responses, status) = exchange(&mut client, requests).await;
    assert!(status.is_none(), "{status:?}");
    let by_id = |id: &str| responses.iter().find(|r| r.request_id == id).unwrap();
    let injected = body_of(by_id("inject"));
    assert_eq!(injected["source"], "gateway");
    let original: Value = serde_json::from_slice(&document).unwrap();
    assert_eq!(injected["items"], original["items"], "every item survives");
    assert_eq!(body_of(by_id("mask")), json!({"items": "hidden"}));
    // A body that satisfies the schema passes untouched.
    assert_eq!(outcome_kind(by_id("validate")), "ok");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_caps_the_error_names_the_cap_and_the_size() {
    let mut settings = Settings::default();
    settings.caps.max_body_bytes = MIB / 2;
    settings.max_response_bytes = MIB / 4;
    let server = TestServer::start(settings).await;
    let mut client = server.client().await;
    let big = json_document(MIB);
    let fits = json_document(MIB / 3);
    let inject = params(json!({"injectFields": {"source": "gateway"}}));
    let requests = vec![
        wire_request(
            "body",
            "python-json-body-transform",
            "v1.0.0",
            &request(Headers::new(), Some(&big), inject.clone()),
        ),
        wire_request(
            "result",
            "python-json-body-transform",
            "v1.0.0",
            &request(Headers::new(), Some(&fits), inject),
        ),
    ];
    let (responses, status) = exchange(&mut client, requests).await;
    assert!(status.is_none(), "{status:?}");
    let by_id = |id: &str| responses.iter().find(|r| r.request_id == id).unwrap();
    assert_eq!(outcome_kind(by_id("body")), "invalid_request");
    let message = error_message(by_id("body"));
    assert!(
        message.contains(&format!("{} bytes", big.len()))
            && message.contains(&format!("{}-byte cap", MIB / 2)),
        "{message}"
    );
    assert_eq!(outcome_kind(by_id("result")), "response_too_large");
    let message = error_message(by_id("result"));
    assert!(message.contains(&(MIB / 4).to_string()), "{message}");
    server.stop().await;
}
