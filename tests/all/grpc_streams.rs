//! Streams over the real socket: many multiplexed calls, backpressure,
//! half-close, a client that disconnects, and health on both services.

use policy_host::contract::{Action, Headers};
use policy_host::transport::client::{WireOutcome, decode_response};
use policy_host::transport::proto::ExecutionRequest;
use serde_json::json;

use crate::grpc::done;
use crate::harness::{headers, params, request};
use crate::server::{
    Settings, TestServer, exchange, health, open_stream, outcome_kind, sleeping_probes,
    wire_request,
};

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
    // The request stream ends right after the last request: a half-close.
    let (responses, status) = exchange(&mut client, sleeping_probes("slow", 20, 0.05)).await;
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
        let (_sender, mut stream) =
            open_stream(&mut client, sleeping_probes("gone", 30, 0.2)).await;
        let _first = stream.message().await.unwrap();
        // Drop the stream, the sender and the connection mid-flight.
    }
    let mut client = server.client().await;
    let health = health(&mut client).await;
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
    let health = health(&mut client).await;
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
    let server = TestServer::start(Settings::no_policies()).await;
    let mut client = server.client().await;
    let health = health(&mut client).await;
    assert!(health.ready);
    assert_eq!(health.loaded_policies, 0);
    let (responses, _) = exchange(&mut client, many("none", 1)).await;
    assert_eq!(outcome_kind(&responses[0]), "policy_not_found");
    server.stop().await;
}
