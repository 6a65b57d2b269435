//! What the gateway relies on, end to end: version lookup as it registers
//! policies (SPEC §1), `analytics_metadata` only when set, and a policy's
//! exception as one line on the wire with its whole traceback in the host
//! log and in `policy-host run`'s output.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};

use policy_host::contract::Headers;
use policy_host::transport::client::{WireOutcome, decode_response};
use policy_host::transport::proto::{ExecutionResponse, execution_response, request_action_result};
use serde_json::json;

use crate::harness::{harness, params, request};
use crate::server::{
    Settings, TestServer, binary, exchange, outcome_kind, probe_policies, serve_command,
    set_headers, wait_for_socket, wire_request,
};

fn probe(what: &str) -> policy_host::contract::CallInput {
    request(Headers::new(), None, params(json!({"do": what})))
}

/// Exact `name:version` first, then the highest loaded version with the
/// same major: `v1`, `v1.0.0`, `v1.7.3` and `v2.0.0` each reach the right
/// component.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_resolve_exactly_then_to_the_highest_of_the_major() {
    let server = TestServer::start(Settings {
        aliases: vec![
            ("add-python-header", "tenant", "v1.0.0"),
            ("request-only", "tenant", "v1.2.0"),
            ("probe", "tenant", "v2.0.0"),
        ],
        ..Settings::no_policies()
    })
    .await;
    let mut client = server.client().await;
    let versions = ["v1.0.0", "v1", "v1.7.3", "v2.0.0", "v2", "v3"];
    let requests = versions
        .iter()
        .map(|version| wire_request(version, "tenant", version, &probe("echo")))
        .collect();
    let (responses, _) = exchange(&mut client, requests).await;
    let by_id: HashMap<_, _> = responses
        .iter()
        .map(|r| (r.request_id.as_str(), r))
        .collect();
    assert!(set_headers(by_id["v1.0.0"]).contains_key("X-Python-Policy"));
    for highest_v1 in ["v1", "v1.7.3"] {
        assert_eq!(
            set_headers(by_id[highest_v1])
                .get("x-request-only")
                .map(String::as_str),
            Some("yes"),
            "{highest_v1} reaches v1.2.0"
        );
    }
    for v2 in ["v2.0.0", "v2"] {
        assert!(
            set_headers(by_id[v2]).contains_key("x-path"),
            "{v2} reaches the probe"
        );
    }
    assert_eq!(outcome_kind(by_id["v3"]), "policy_not_found");
    server.stop().await;
}

fn wire_analytics(response: &ExecutionResponse) -> Option<prost_types::Struct> {
    match &response.result {
        Some(execution_response::Result::RequestResult(result)) => match &result.action {
            Some(request_action_result::Action::ContinueRequest(changes)) => {
                changes.analytics_metadata.clone()
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

/// The field is absent unless the policy set analytics (the old executor
/// never sends an empty map).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_metadata_is_on_the_wire_only_when_set() {
    let server = TestServer::start(Settings::default()).await;
    let mut client = server.client().await;
    let (responses, _) = exchange(
        &mut client,
        vec![
            wire_request("plain", "probe", "v1", &probe("echo")),
            wire_request("analytics", "probe", "v1", &probe("analytics")),
        ],
    )
    .await;
    let by_id: HashMap<_, _> = responses
        .iter()
        .map(|r| (r.request_id.as_str(), r))
        .collect();
    assert_eq!(wire_analytics(by_id["plain"]), None);
    let set = wire_analytics(by_id["analytics"]).expect("analytics that were set are sent");
    assert_eq!(set.fields.len(), 2);
    server.stop().await;
}

/// On the wire a policy's exception is one line naming its frame; the
/// server's log (at the default level) has the whole traceback, tagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raised_exception_is_one_line_on_the_wire_and_a_traceback_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let policies = probe_policies(dir.path());
    let socket = dir.path().join("executor.sock");
    let mut child = serve_command(&policies, &socket, "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut client = wait_for_socket(&socket).await;
    let (responses, _) = exchange(
        &mut client,
        vec![wire_request("trace-me-7", "probe", "v1", &probe("raise"))],
    )
    .await;
    let WireOutcome::Failed(error) = decode_response(responses[0].clone()) else {
        panic!("{responses:?}")
    };
    assert_eq!(error.error_type, "execution_error");
    assert!(!error.message.contains('\n'), "{}", error.message);
    assert!(
        error
            .message
            .starts_with("policy raised KeyError: 'missing-thing' (policy.py:"),
        "{}",
        error.message
    );
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    tokio::task::block_in_place(|| child.wait()).unwrap();
    check_raised_log_line(&log, "trace-me-7");
}

/// The server's log has one line for the call `request_id`, uncoloured,
/// tagged with the policy and the failure's kind, and holding the whole
/// traceback.
fn check_raised_log_line(log: &str, request_id: &str) {
    let line = log
        .lines()
        .find(|line| line.contains(request_id))
        .unwrap_or_else(|| panic!("no log line for the call:\n{log}"));
    assert!(
        !line.contains('\x1b'),
        "no terminal colours in a piped log: {line}"
    );
    for expected in [
        "WARN",
        "policy=probe",
        "version=v1",
        "kind=\"policy_raised\"",
    ] {
        assert!(line.contains(expected), "{expected}: {line}");
    }
    for expected in [
        "Traceback (most recent call last)",
        "policy.py",
        "missing-thing",
    ] {
        assert!(
            line.contains(expected),
            "the traceback, on the record's line: {line}"
        );
    }
}

/// `policy-host run` prints the exception's location and whole traceback.
#[test]
fn run_prints_the_traceback_of_a_raised_exception() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_probe(
        dir.path(),
        r#"{"headers": {}}"#,
        r#"{"do": "raise"}"#,
        "on_request",
    );
    assert_eq!(output.status.code(), Some(1));
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    let error = &printed["error"];
    assert_eq!(error["type"], "execution_error");
    assert_eq!(error["exception"], "KeyError");
    assert!(
        error["location"]
            .as_str()
            .unwrap()
            .starts_with("policy.py:"),
        "{error}"
    );
    let traceback = error["traceback"].as_str().unwrap();
    assert!(
        traceback.starts_with("Traceback (most recent call last)"),
        "{traceback}"
    );
    assert!(
        traceback.trim_end().ends_with("KeyError: 'missing-thing'"),
        "{traceback}"
    );
}

/// Runs `policy-host run` on the probe with a context file and params.
fn run_probe(
    dir: &std::path::Path,
    context: &str,
    params: &str,
    phase: &str,
) -> std::process::Output {
    let component = dir.join("probe-v1.wasm");
    std::fs::write(&component, &*harness().wasm("probe")).unwrap();
    let (context_file, params_file) = (dir.join("ctx.json"), dir.join("params.json"));
    std::fs::write(&context_file, context).unwrap();
    std::fs::write(&params_file, params).unwrap();
    Command::new(binary())
        .arg("run")
        .arg(&component)
        .args(["--phase", phase, "--context"])
        .arg(&context_file)
        .arg("--params")
        .arg(&params_file)
        .env(
            "POLICY_HOST_CACHE_DIR",
            policy_host::cache::ArtifactCache::default_path(),
        )
        .output()
        .unwrap()
}

/// `policy-host run` takes the server's path: input over the server's caps
/// is refused before any sandbox runs, with the server's error; and its exit
/// status follows the one table (0 a result, 1 a call's error, 2 a command
/// that could not run).
#[test]
fn run_checks_input_as_the_server_does_and_exits_by_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let many: HashMap<String, String> = (0..1025).map(|i| (format!("h{i}"), "v".into())).collect();
    let crowded = json!({ "headers": many }).to_string();
    let refused = run_probe(dir.path(), &crowded, r#"{"do": "echo"}"#, "on_request");
    assert_eq!(refused.status.code(), Some(1));
    let printed: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(printed["error"]["type"], "invalid_request", "{printed}");
    let message = printed["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("1025 headers, over the cap of 1024"),
        "{message}"
    );
    let answered = run_probe(
        dir.path(),
        r#"{"headers": {}}"#,
        r#"{"do": "echo"}"#,
        "on_request",
    );
    assert_eq!(
        answered.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&answered.stdout)
    );
    let unusable = run_probe(dir.path(), r#"{"headers": {}}"#, "{}", "on_middle");
    assert_eq!(unusable.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unusable.stderr).contains("on_middle"));
}
