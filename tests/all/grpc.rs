//! The gRPC service end to end: real server, real Unix socket, real
//! components, a client generated from `proto/`.

use std::collections::HashMap;

use policy_host::contract::{Action, Headers};
use policy_host::transport::client::{WireOutcome, decode_response};
use serde_json::json;

use crate::harness::{params, request, response};
use crate::server::{Settings, TestServer, exchange, outcome_kind, wire_request};

/// The action and metadata of a response that must be a result.
pub(crate) fn done(
    response: policy_host::transport::proto::ExecutionResponse,
) -> (Option<Action>, serde_json::Map<String, serde_json::Value>) {
    match decode_response(response) {
        WireOutcome::Done {
            action,
            updated_metadata,
        } => (action, updated_metadata),
        other => panic!("expected a result, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_policy_answers_both_phases() {
    let server = TestServer::start(Settings::default()).await;
    let mut client = server.client().await;
    let (responses, status) = exchange(&mut client, sample_requests()).await;
    assert!(status.is_none(), "{status:?}");
    let by_id: Answers = responses
        .into_iter()
        .map(|r| (r.request_id.clone(), r))
        .collect();
    assert_eq!(by_id.len(), 8);
    check_header_samples(&by_id);
    check_body_samples(&by_id);
    server.stop().await;
}

/// Responses by request id.
type Answers = HashMap<String, policy_host::transport::proto::ExecutionResponse>;

/// One request per sample policy and phase; the id names both.
fn sample_requests() -> Vec<policy_host::transport::proto::ExecutionRequest> {
    let schema = json!({"schema": {"type": "object", "required": ["a"]}});
    let no_body = || request(Headers::new(), None, params(json!({})));
    let inputs = [
        ("h-req", "add-python-header", no_body()),
        (
            "h-resp",
            "add-python-header",
            response(None, params(json!({}))),
        ),
        ("rh-req", "add-python-response-header", no_body()),
        (
            "rh-resp",
            "add-python-response-header",
            response(None, params(json!({}))),
        ),
        (
            "v-req",
            "python-body-validator",
            request(Headers::new(), Some(b"{}"), params(schema.clone())),
        ),
        (
            "v-resp",
            "python-body-validator",
            response(Some(b"{}"), params(schema)),
        ),
        (
            "t-req",
            "python-json-body-transform",
            request(
                Headers::new(),
                Some(b"{\"a\":1}"),
                params(json!({"injectFields": {"b": 2}})),
            ),
        ),
        (
            "t-resp",
            "python-json-body-transform",
            response(
                Some(b"{\"pw\":\"x\"}"),
                params(json!({"maskFields": ["pw"]})),
            ),
        ),
    ];
    (inputs.iter())
        .map(|(id, policy, input)| wire_request(id, policy, "v1.0.0", input))
        .collect()
}

/// The two header samples: each sets its header in its own phase only.
fn check_header_samples(by_id: &Answers) {
    let (action, _) = done(by_id["h-req"].clone());
    let Some(Action::ContinueRequest(changes)) = action else {
        panic!("{action:?}")
    };
    assert_eq!(
        changes.headers.set_headers["X-Python-Policy"],
        "hello-from-python"
    );
    assert_eq!(changes.body, None);
    assert_eq!(done(by_id["h-resp"].clone()).0, None);
    assert_eq!(done(by_id["rh-req"].clone()).0, None);
    let (action, _) = done(by_id["rh-resp"].clone());
    let Some(Action::ContinueResponse(changes)) = action else {
        panic!("{action:?}")
    };
    assert_eq!(
        changes.headers.set_headers["X-Python-Response-Policy"],
        "hello-from-python-response"
    );
}

/// The two body samples: the validator rejects, the transform rewrites.
fn check_body_samples(by_id: &Answers) {
    let (action, _) = done(by_id["v-req"].clone());
    let Some(Action::ImmediateResponse(rejection)) = action else {
        panic!("{action:?}")
    };
    assert_eq!(rejection.status_code, 400);
    assert_eq!(done(by_id["v-resp"].clone()).0, None);
    let (action, _) = done(by_id["t-req"].clone());
    let Some(Action::ContinueRequest(changes)) = action else {
        panic!("{action:?}")
    };
    // Struct numbers reach Python as floats, exactly as the old executor gave them.
    assert_eq!(changes.body.as_deref(), Some(&b"{\"a\":1,\"b\":2.0}"[..]));
    let (action, _) = done(by_id["t-resp"].clone());
    let Some(Action::ContinueResponse(changes)) = action else {
        panic!("{action:?}")
    };
    assert_eq!(changes.body.as_deref(), Some(&b"{\"pw\":\"****\"}"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_major_version_fallback_work_over_the_wire() {
    let server = TestServer::start(Settings::default()).await;
    let mut client = server.client().await;
    let mut input = request(Headers::new(), None, params(json!({"do": "metadata"})));
    input.shared.metadata = params(json!({"count": 1}));
    // `probe` is registered as v1; v1.4.2 falls back to it.
    let (responses, _) = exchange(
        &mut client,
        vec![wire_request("m", "probe", "v1.4.2", &input)],
    )
    .await;
    let (action, metadata) = done(responses[0].clone());
    assert_eq!(action, None);
    assert_eq!(metadata["count"], json!(2.0));
    assert_eq!(metadata["added"], json!("by-policy"));
    server.stop().await;
}

fn probe(what: &str) -> policy_host::contract::CallInput {
    request(Headers::new(), None, params(json!({"do": what})))
}

/// One request for every way a call can fail (and one that succeeds),
/// each named by its id.
fn failing_requests() -> Vec<policy_host::transport::proto::ExecutionRequest> {
    let mut mismatch = wire_request("mismatch", "probe", "v1", &probe("echo"));
    mismatch.phase = "on_response".into();
    let mut unknown_phase = wire_request("phase", "probe", "v1", &probe("echo"));
    unknown_phase.phase = "on_body".into();
    let mut no_context = wire_request("no-context", "probe", "v1", &probe("echo"));
    no_context.context = None;
    vec![
        wire_request("unknown", "no-such-policy", "v1.0.0", &probe("echo")),
        unknown_phase,
        wire_request(
            "not-implemented",
            "request-only",
            "v1",
            &response(None, params(json!({}))),
        ),
        mismatch,
        no_context,
        wire_request("raised", "probe", "v1", &probe("raise")),
        wire_request(
            "oversized",
            "probe",
            "v1",
            &request(
                Headers::new(),
                Some(&[7u8; 2048]),
                params(json!({"do": "echo"})),
            ),
        ),
        wire_request("invalid-result", "probe", "v1", &probe("bad-action")),
        wire_request(
            "memory",
            "probe",
            "v1",
            &request(
                Headers::new(),
                None,
                params(json!({"do": "alloc", "mib": 500})),
            ),
        ),
        wire_request(
            "deadline",
            "probe",
            "v1",
            &request(
                Headers::new(),
                None,
                params(json!({"do": "sleep", "seconds": 60})),
            ),
        ),
        wire_request("fuel", "probe", "v1", &probe("loop")),
        wire_request("fine", "probe", "v1", &probe("echo")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_path_is_an_execution_error_and_the_stream_survives() {
    let mut settings = Settings::default();
    settings.caps.max_body_bytes = 1024;
    let server = TestServer::start(settings).await;
    let mut client = server.client().await;
    let requests = failing_requests();
    let (responses, status) = exchange(&mut client, requests).await;
    assert!(status.is_none(), "{status:?}");
    let kinds: HashMap<String, String> = responses
        .iter()
        .map(|r| (r.request_id.clone(), outcome_kind(r)))
        .collect();
    let expected = [
        ("unknown", "policy_not_found"),
        ("phase", "unknown_phase"),
        ("not-implemented", "phase_not_implemented"),
        ("mismatch", "invalid_request"),
        ("no-context", "invalid_request"),
        ("raised", "execution_error"),
        ("oversized", "invalid_request"),
        ("invalid-result", "invalid_result"),
        ("memory", "memory_limit"),
        ("deadline", "timeout"),
        // A busy loop spends its 10^9 fuel in ~100 ms of CPU; on two cores
        // shared with component builds the 500 ms deadline can come first
        // (CI at e493fa8). Either way the loop is stopped and answered;
        // limits.rs checks fuel exhaustion on its own.
        ("fuel", "fuel_exhausted|timeout"),
        ("fine", "ok"),
    ];
    for (id, kind) in expected {
        let got = kinds.get(id).map(String::as_str).unwrap_or("missing");
        assert!(
            kind.split('|').any(|k| k == got),
            "{id}: expected {kind}, got {got}: {kinds:?}"
        );
    }
    assert_eq!(responses.len(), expected.len());
    let error = responses
        .iter()
        .find(|r| r.request_id == "unknown")
        .unwrap();
    let WireOutcome::Failed(error) = decode_response(error.clone()) else {
        panic!()
    };
    assert_eq!(error.policy_name, "no-such-policy");
    assert_eq!(error.policy_version, "v1.0.0");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_and_empty_request_ids_are_each_answered() {
    let server = TestServer::start(Settings::default()).await;
    let mut client = server.client().await;
    let input = probe("echo");
    let requests = vec![
        wire_request("same", "probe", "v1", &input),
        wire_request("same", "probe", "v1", &input),
        wire_request("", "probe", "v1", &input),
        wire_request("", "probe", "v1", &input),
    ];
    let (responses, status) = exchange(&mut client, requests).await;
    assert!(status.is_none());
    assert_eq!(
        responses.iter().filter(|r| r.request_id == "same").count(),
        2
    );
    assert_eq!(
        responses.iter().filter(|r| r.request_id.is_empty()).count(),
        2
    );
    assert!(responses.iter().all(|r| outcome_kind(r) == "ok"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_responses_become_errors() {
    let settings = Settings {
        max_response_bytes: 1024,
        ..Settings::default()
    };
    let server = TestServer::start(settings).await;
    let mut client = server.client().await;
    let big = vec![b'x'; 4096];
    let input = response(Some(&big), params(json!({})));
    let (responses, _) = exchange(
        &mut client,
        vec![wire_request("big", "probe", "v1", &input)],
    )
    .await;
    assert_eq!(outcome_kind(&responses[0]), "response_too_large");
    server.stop().await;
}
