//! The gRPC service end to end: real server, real Unix socket, real
//! components, a client generated from `proto/`.

use std::collections::HashMap;

use policy_host::contract::{Action, Headers};
use policy_host::transport::client::{WireOutcome, decode_response};
use policy_host::transport::proto::{ExecutionRequest, HealthCheckRequest};
use serde_json::json;

use crate::harness::{headers, params, request, response};
use crate::server::{Settings, TestServer, exchange, outcome_kind, wire_request};

fn done(
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
    let schema = json!({"schema": {"type": "object", "required": ["a"]}});
    let requests = vec![
        wire_request(
            "h-req",
            "add-python-header",
            "v1.0.0",
            &request(Headers::new(), None, params(json!({}))),
        ),
        wire_request(
            "h-resp",
            "add-python-header",
            "v1.0.0",
            &response(None, params(json!({}))),
        ),
        wire_request(
            "rh-req",
            "add-python-response-header",
            "v1.0.0",
            &request(Headers::new(), None, params(json!({}))),
        ),
        wire_request(
            "rh-resp",
            "add-python-response-header",
            "v1.0.0",
            &response(None, params(json!({}))),
        ),
        wire_request(
            "v-req",
            "python-body-validator",
            "v1.0.0",
            &request(Headers::new(), Some(b"{}"), params(schema.clone())),
        ),
        wire_request(
            "v-resp",
            "python-body-validator",
            "v1.0.0",
            &response(Some(b"{}"), params(schema)),
        ),
        wire_request(
            "t-req",
            "python-json-body-transform",
            "v1.0.0",
            &request(
                Headers::new(),
                Some(b"{\"a\":1}"),
                params(json!({"injectFields": {"b": 2}})),
            ),
        ),
        wire_request(
            "t-resp",
            "python-json-body-transform",
            "v1.0.0",
            &response(
                Some(b"{\"pw\":\"x\"}"),
                params(json!({"maskFields": ["pw"]})),
            ),
        ),
    ];
    let (responses, status) = exchange(&mut client, requests).await;
    assert!(status.is_none(), "{status:?}");
    let by_id: HashMap<String, _> = responses
        .into_iter()
        .map(|r| (r.request_id.clone(), r))
        .collect();
    assert_eq!(by_id.len(), 8);

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
    server.stop().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_path_is_an_execution_error_and_the_stream_survives() {
    let mut settings = Settings::default();
    settings.caps.max_body_bytes = 1024;
    let server = TestServer::start(settings).await;
    let mut client = server.client().await;
    let mut mismatch = wire_request("mismatch", "probe", "v1", &probe("echo"));
    mismatch.phase = "on_response".into();
    let mut unknown_phase = wire_request("phase", "probe", "v1", &probe("echo"));
    unknown_phase.phase = "on_body".into();
    let mut no_context = wire_request("no-context", "probe", "v1", &probe("echo"));
    no_context.context = None;
    let requests = vec![
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
    ];
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

fn many(prefix: &str, count: usize) -> Vec<ExecutionRequest> {
    (0..count)
        .map(|index| {
            let input = request(
                headers(&[("x-index", &index.to_string())]),
                None,
                params(json!({"headerValue": format!("{prefix}-{index}")})),
            );
            wire_request(
                &format!("{prefix}-{index}"),
                "add-python-header",
                "v1.0.0",
                &input,
            )
        })
        .collect()
}

fn assert_all_answered_once(
    prefix: &str,
    count: usize,
    responses: &[policy_host::transport::proto::ExecutionResponse],
) {
    assert_eq!(responses.len(), count, "{prefix}");
    let mut seen = std::collections::HashSet::new();
    for response in responses {
        assert!(
            seen.insert(response.request_id.clone()),
            "{} answered twice",
            response.request_id
        );
        // On a loaded machine a call may wait in the queue past its
        // deadline; it is then answered `timeout` without running, which is
        // still its one answer.
        if let WireOutcome::Failed(error) = decode_response(response.clone())
            && error.message.contains("in the queue")
        {
            assert_eq!(error.error_type, "timeout");
            continue;
        }
        let (action, _) = done(response.clone());
        let Some(Action::ContinueRequest(changes)) = action else {
            panic!("{action:?}")
        };
        // The result belongs to this request: the value was derived from its id.
        assert_eq!(
            changes.headers.set_headers["X-Python-Policy"],
            response.request_id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_multiplexed_requests_are_each_answered_once() {
    let server = TestServer::start(Settings::default()).await;
    let mut client = server.client().await;
    let (responses, status) = exchange(&mut client, many("one", 2000)).await;
    assert!(status.is_none(), "{status:?}");
    assert_all_answered_once("one", 2000, &responses);
    assert!(
        server.dispatcher.peak_in_flight() <= 100,
        "{}",
        server.dispatcher.peak_in_flight()
    );

    let mut streams = Vec::new();
    for stream in 0..4 {
        let mut client = server.client().await;
        let prefix = format!("s{stream}");
        streams.push(tokio::spawn(async move {
            let (responses, status) = exchange(&mut client, many(&prefix, 2000)).await;
            assert!(status.is_none(), "{status:?}");
            assert_all_answered_once(&prefix, 2000, &responses);
        }));
    }
    for stream in streams {
        stream.await.unwrap();
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_caps_in_flight_calls_and_admits_in_arrival_order() {
    // One worker: calls run one after another, in the order they were
    // admitted; each reports the wall-clock time it ran at.
    let settings = Settings {
        max_in_flight: 5,
        workers: 1,
        ..Settings::default()
    };
    let server = TestServer::start(settings).await;
    let mut client = server.client().await;
    let requests: Vec<_> = (0..100)
        .map(|index| {
            let input = request(Headers::new(), None, params(json!({"do": "now"})));
            wire_request(&format!("bp-{index}"), "probe", "v1", &input)
        })
        .collect();
    let (responses, status) = exchange(&mut client, requests).await;
    assert!(status.is_none(), "{status:?}");
    assert_eq!(responses.len(), 100);
    // Admission is first-come first-served (the reader submits in arrival
    // order to a FIFO worker queue; see workers::tests), so ordering the
    // calls by when they ran gives back the order they were sent in. (The
    // order responses arrive in is not checked: answering tasks may be
    // scheduled in any order.)
    let mut ran: Vec<(u128, usize)> = responses
        .iter()
        .map(|response| {
            let (action, _) = done(response.clone());
            let Some(Action::ContinueRequest(changes)) = action else {
                panic!("{action:?}")
            };
            let index = response
                .request_id
                .trim_start_matches("bp-")
                .parse()
                .unwrap();
            (changes.headers.set_headers["x-now"].parse().unwrap(), index)
        })
        .collect();
    ran.sort();
    let order: Vec<usize> = ran.iter().map(|(_, index)| *index).collect();
    assert_eq!(order, (0..100).collect::<Vec<_>>());
    let peak = server.dispatcher.peak_in_flight();
    assert!((1..=5).contains(&peak), "peak in flight {peak}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_with_calls_in_flight_answers_them_all() {
    let server = TestServer::start(Settings::default()).await;
    let mut client = server.client().await;
    let slow = request(
        Headers::new(),
        None,
        params(json!({"do": "sleep", "seconds": 0.05})),
    );
    let requests: Vec<_> = (0..20)
        .map(|i| wire_request(&format!("slow-{i}"), "probe", "v1", &slow))
        .collect();
    // The request stream ends right after the last request: a half-close.
    let (responses, status) = exchange(&mut client, requests).await;
    assert!(status.is_none(), "{status:?}");
    assert_eq!(responses.len(), 20);
    assert!(responses.iter().all(|r| outcome_kind(r) == "ok"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_leaves_the_server_healthy() {
    let server = TestServer::start(Settings::default()).await;
    {
        let mut client = server.client().await;
        let slow = request(
            Headers::new(),
            None,
            params(json!({"do": "sleep", "seconds": 0.2})),
        );
        let (sender, receiver) = tokio::sync::mpsc::channel(64);
        for i in 0..30 {
            sender
                .send(wire_request(&format!("gone-{i}"), "probe", "v1", &slow))
                .await
                .unwrap();
        }
        let mut stream = client
            .execute_stream(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await
            .unwrap()
            .into_inner();
        let _first = stream.message().await.unwrap();
        // Drop the stream, the sender and the connection mid-flight.
    }
    let mut client = server.client().await;
    let health = client
        .health_check(HealthCheckRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(health.ready);
    let (responses, status) = exchange(&mut client, many("after", 10)).await;
    assert!(status.is_none());
    assert_all_answered_once("after", 10, &responses);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_loaded_policies_on_both_services() {
    let server = TestServer::start(Settings::default()).await;
    let mut client = server.client().await;
    let health = client
        .health_check(HealthCheckRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(health.ready);
    assert_eq!(health.loaded_policies, 6);
    let channel = policy_host::transport::client::connect_channel(&server.socket)
        .await
        .unwrap();
    let mut standard = tonic_health::pb::health_client::HealthClient::new(channel);
    for service in ["", "wso2.gateway.python.v1.PythonExecutorService"] {
        let reply = standard
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            reply.status(),
            tonic_health::pb::health_check_response::ServingStatus::Serving,
            "{service:?}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_no_policies_is_healthy() {
    let server = TestServer::start(Settings {
        policies: vec![],
        ..Settings::default()
    })
    .await;
    let mut client = server.client().await;
    let health = client
        .health_check(HealthCheckRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(health.ready);
    assert_eq!(health.loaded_policies, 0);
    let (responses, _) = exchange(&mut client, many("none", 1)).await;
    assert_eq!(outcome_kind(&responses[0]), "policy_not_found");
    server.stop().await;
}
