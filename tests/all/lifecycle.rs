//! Stream-ending conditions and the server process's lifecycle.

use std::process::Command;

use policy_host::contract::Headers;
use policy_host::transport::proto;
use prost::Message;
use serde_json::json;
use tonic::codegen::http::uri::PathAndQuery;

use crate::harness::{params, request};
use crate::server::{
    Settings, TestServer, binary, exchange, health, open_stream, outcome_kind, probe_policies,
    serve_command, sleeping_probes, wait_for_socket, wire_request,
};

/// A frame laid out like an ExecutionRequest, except that it can put a
/// varint where `params` (a message) belongs: an undecodable frame.
#[derive(Clone, PartialEq, prost::Message)]
struct RawFrame {
    #[prost(string, tag = "1")]
    request_id: String,
    #[prost(string, tag = "2")]
    policy_name: String,
    #[prost(string, tag = "3")]
    policy_version: String,
    #[prost(string, tag = "4")]
    phase: String,
    #[prost(uint64, optional, tag = "5")]
    wrong_wire_type: Option<u64>,
    #[prost(bytes = "vec", optional, tag = "6")]
    request_context: Option<Vec<u8>>,
}

fn raw(request: &proto::ExecutionRequest) -> RawFrame {
    let Some(proto::execution_request::Context::RequestContext(context)) = &request.context else {
        panic!()
    };
    RawFrame {
        request_id: request.request_id.clone(),
        policy_name: request.policy_name.clone(),
        policy_version: request.policy_version.clone(),
        phase: request.phase.clone(),
        wrong_wire_type: None,
        request_context: Some(context.encode_to_vec()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_frame_ends_the_stream_with_invalid_argument_after_answering() {
    let server = TestServer::start(Settings::default()).await;
    let channel = policy_host::transport::client::connect_channel(&server.socket)
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let good = wire_request(
        "good",
        "add-python-header",
        "v1.0.0",
        &request(Headers::new(), None, params(json!({}))),
    );
    let mut frames: Vec<RawFrame> = (0..3)
        .map(|i| RawFrame {
            request_id: format!("good-{i}"),
            ..raw(&good)
        })
        .collect();
    frames.push(RawFrame {
        request_id: "bad".into(),
        wrong_wire_type: Some(7),
        ..raw(&good)
    });
    frames.push(RawFrame {
        request_id: "never-read".into(),
        ..raw(&good)
    });
    let path =
        PathAndQuery::from_static("/wso2.gateway.python.v1.PythonExecutorService/ExecuteStream");
    let codec = tonic_prost::ProstCodec::<RawFrame, proto::ExecutionResponse>::default();
    let mut stream = grpc
        .streaming(tonic::Request::new(tokio_stream::iter(frames)), path, codec)
        .await
        .unwrap()
        .into_inner();
    let mut answered = Vec::new();
    let end = loop {
        match stream.message().await {
            Ok(Some(response)) => answered.push(response.request_id),
            Ok(None) => break None,
            Err(status) => break Some(status),
        }
    };
    answered.sort();
    assert_eq!(answered, ["good-0", "good-1", "good-2"]);
    let status = end.expect("the stream must end with an error status, not OK");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    // The server is still fine.
    let mut client = server.client().await;
    assert!(health(&mut client).await.ready);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_load_answers_in_flight_calls_exits_zero_and_removes_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let policies = probe_policies(dir.path());
    let socket = dir.path().join("sock/executor.sock");
    // 40 calls of 0.1 s on two workers queue for up to 2 s: a deadline
    // above that, so that none times out in the queue.
    let mut child = serve_command(&policies, &socket, "warn")
        .args(["--timeout-ms", "30000"])
        .spawn()
        .unwrap();
    let mut client = wait_for_socket(&socket).await;
    let (sender, mut stream) = open_stream(&mut client, sleeping_probes("load", 40, 0.1)).await;
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(outcome_kind(&first), "ok");
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut answered = 1;
    let end = loop {
        match stream.message().await {
            Ok(Some(response)) => {
                assert_eq!(
                    outcome_kind(&response),
                    "ok",
                    "in-flight calls complete normally"
                );
                answered += 1;
            }
            Ok(None) => break None,
            Err(status) => break Some(status),
        }
    };
    drop(sender);
    let status = tokio::task::block_in_place(|| child.wait()).unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(!socket.exists(), "the socket file must be removed");
    // Every request the server had read was answered; the stream then ended
    // with UNAVAILABLE (unread requests were never started).
    assert!(answered >= 1);
    if let Some(status) = end {
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_servers_socket_is_never_taken_and_a_stale_one_is_replaced() {
    let server = TestServer::start(Settings::no_policies()).await;
    let error = policy_host::transport::bind_unix_socket(&server.socket).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("another server is already listening"),
        "{error}"
    );
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    assert!(policy_host::transport::bind_unix_socket(&stale).is_ok());
    let regular = dir.path().join("regular-file");
    std::fs::write(&regular, b"keep me").unwrap();
    assert!(policy_host::transport::bind_unix_socket(&regular).is_err());
    assert_eq!(std::fs::read(&regular).unwrap(), b"keep me");
    server.stop().await;
}

#[test]
fn the_call_subcommand_prints_the_response() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::start(Settings::default()));
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx.json");
    std::fs::write(
        &context,
        r#"{"headers": {"a": "b"}, "path": "/x", "shared": {"request_id": "r"}}"#,
    )
    .unwrap();
    let output = Command::new(binary())
        .args([
            "call",
            "--policy",
            "add-python-header",
            "--version",
            "v1.0.0",
            "--phase",
            "on_request",
            "--socket",
        ])
        .arg(&server.socket)
        .arg("--context")
        .arg(&context)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        printed["action"]["set_headers"]["X-Python-Policy"],
        "hello-from-python"
    );
    let output = Command::new(binary())
        .args([
            "call",
            "--policy",
            "missing",
            "--version",
            "v1",
            "--phase",
            "on_request",
            "--socket",
        ])
        .arg(&server.socket)
        .arg("--context")
        .arg(&context)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["error"]["type"], "policy_not_found");
    runtime.block_on(server.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_components_are_skipped_with_one_cause_and_the_rest_serve() {
    let dir = tempfile::tempdir().unwrap();
    let policies = probe_policies(dir.path());
    let probe = std::fs::read(policies.join("probe-v1.wasm")).unwrap();
    std::fs::write(policies.join("garbage.wasm"), b"this is not wasm").unwrap();
    std::fs::write(policies.join("truncated.wasm"), &probe[..probe.len() / 2]).unwrap();
    std::fs::write(policies.join("probe-again.wasm"), &probe).unwrap();
    let socket = dir.path().join("executor.sock");
    let child = serve_command(&policies, &socket, "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut client = wait_for_socket(&socket).await;
    let health = health(&mut client).await;
    assert!(health.ready);
    assert_eq!(health.loaded_policies, 1, "only the probe loads");
    let echo = request(Headers::new(), None, params(json!({"do": "echo"})));
    let (responses, _) = exchange(&mut client, vec![wire_request("1", "probe", "v1", &echo)]).await;
    assert_eq!(outcome_kind(&responses[0]), "ok");
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let output = tokio::task::block_in_place(|| child.wait_with_output()).unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    for file in ["garbage.wasm", "truncated.wasm"] {
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("skipping a component") && l.contains(file))
            .collect();
        assert_eq!(lines.len(), 1, "{file} is logged once: {log}");
    }
    let garbage = log.lines().find(|l| l.contains("garbage.wasm")).unwrap();
    assert_eq!(
        garbage.matches("not a WebAssembly component").count(),
        1,
        "the cause is given once: {garbage}"
    );
    assert!(
        log.lines().any(|l| l.contains("loaded twice")),
        "the duplicate is named: {log}"
    );
    let ready = log.lines().find(|l| l.contains("serving")).unwrap();
    assert!(ready.contains("skipped=3"), "{ready}");
}
