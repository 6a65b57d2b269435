//! Operating a multi-tenant host, on the real `serve` binary over a real
//! Unix socket: metrics scraped over HTTP, failure logs and their budget,
//! operator ceilings, the queue bound, queue-wait timeouts, and each
//! circuit-breaker transition driven by a real hostile policy.

use std::collections::HashSet;
use std::time::Duration;

use policy_host::contract::{CallInput, Headers};
use serde_json::json;

use crate::harness::{params, request};
use crate::served::{Served, free_port, sample, scrape};
use crate::server::{exchange, outcome_kind, serve_command, wire_request};

fn probe(what: &str) -> CallInput {
    request(Headers::new(), None, params(json!({"do": what})))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_the_calls_made() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut served = Served::start(&["probe"], &["--metrics-listen", &listen], "info").await;
    for i in 0..7 {
        assert_eq!(
            served
                .call(&format!("ok-{i}"), "probe", &probe("echo"))
                .await
                .0,
            "ok"
        );
    }
    for i in 0..3 {
        let (kind, _) = served
            .call(&format!("raise-{i}"), "probe", &probe("raise"))
            .await;
        assert_eq!(kind, "execution_error");
    }
    for i in 0..2 {
        let (kind, _) = served
            .call(&format!("lost-{i}"), "nobody", &probe("echo"))
            .await;
        assert_eq!(kind, "policy_not_found");
    }
    check_counts(&scrape(port).await);
}

/// The series after 7 ok calls, 3 raises and 2 calls of no policy.
fn check_counts(text: &str) {
    let calls = |outcome: &str| {
        sample(
            text,
            &format!(
                r#"policy_host_calls_total{{policy="probe",version="v1",outcome="{outcome}"}}"#
            ),
        )
    };
    assert_eq!(calls("ok"), Some(7.0), "{text}");
    assert_eq!(calls("policy_raised"), Some(3.0), "{text}");
    assert_eq!(
        sample(
            text,
            r#"policy_host_rejected_calls_total{error_type="policy_not_found"}"#
        ),
        Some(2.0)
    );
    let waits = r#"policy_host_queue_wait_seconds_count{policy="probe",version="v1"}"#;
    assert_eq!(
        sample(text, waits),
        Some(10.0),
        "every call that reached a worker waited"
    );
    let runs = r#"policy_host_execution_seconds_count{policy="probe",version="v1"}"#;
    assert_eq!(sample(text, runs), Some(10.0));
    let fuel = r#"policy_host_fuel_used_count{policy="probe",version="v1"}"#;
    assert_eq!(
        sample(text, fuel),
        Some(7.0),
        "fuel is recorded for completed calls"
    );
    let used = sample(text, r#"policy_host_made_ahead_total{result="used"}"#).unwrap_or(0.0);
    let missed = sample(text, r#"policy_host_made_ahead_total{result="missed"}"#).unwrap_or(0.0);
    assert_eq!(used + missed, 7.0, "{text}");
    assert_eq!(sample(text, "policy_host_policies"), Some(1.0));
    assert_eq!(sample(text, "policy_host_calls_in_flight"), Some(0.0));
    assert_eq!(sample(text, "policy_host_workers"), Some(2.0));
    let build = if cfg!(feature = "patched-wasmtime") {
        "patched"
    } else {
        "stock"
    };
    assert!(
        text.lines()
            .any(|l| l.starts_with("policy_host_build_info{")
                && l.contains(&format!(r#"wasmtime_build="{build}""#))),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_calls_are_logged_at_warn_within_each_policys_budget() {
    let mut served = Served::start(&["probe"], &["--breaker-failures", "0"], "warn").await;
    let flood: Vec<_> = (0..40)
        .map(|i| wire_request(&format!("flood-{i}"), "probe", "v1", &probe("raise")))
        .collect();
    let (responses, _) = exchange(&mut served.client, flood).await;
    assert_eq!(responses.len(), 40);
    let (kind, _) = served.call("lost", "nobody", &probe("echo")).await;
    assert_eq!(kind, "policy_not_found");
    let log = served.log();
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("call failed") && l.contains("policy=probe"))
        .collect();
    assert_eq!(
        failures.len(),
        10,
        "one policy gets 10 lines per window: {log}"
    );
    let first = failures[0];
    for field in [
        "WARN",
        "version=v1",
        "request_id=flood-",
        "kind=\"policy_raised\"",
        "traceback",
    ] {
        assert!(first.contains(field), "{field} in {first}");
    }
    assert!(
        log.lines().any(|l| l.contains("call failed")
            && l.contains("request_id=lost")
            && l.contains("policy_not_found")),
        "another policy's failure is still logged: {log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_asking_past_the_ceilings_gets_the_ceilings_with_a_warning() {
    let flags = [
        "--max-fuel",
        "5000000",
        "--max-timeout-ms",
        "50",
        "--breaker-failures",
        "0",
    ];
    let mut served = Served::start(&["noisy-neighbour"], &flags, "info").await;
    let (kind, message) = served.call("loop", "noisy-neighbour", &probe("loop")).await;
    assert_eq!(kind, "fuel_exhausted");
    assert!(message.contains("budget 5000000 units"), "{message}");
    let log = served.log();
    let warning = log
        .lines()
        .find(|l| l.contains("ceilings allow"))
        .unwrap_or_else(|| panic!("no ceiling warning: {log}"));
    assert!(warning.contains("noisy-neighbour@v1"), "{warning}");
    assert!(
        warning.contains("fuel 20000000 lowered to the ceiling 5000000"),
        "{warning}"
    );
    assert!(
        warning.contains("timeout_ms 100 lowered to the ceiling 50"),
        "{warning}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_default_above_its_ceiling_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = serve_command(dir.path(), &dir.path().join("s.sock"), "info")
        .args(["--memory-mib", "128", "--max-memory-mib", "64"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--max-memory-mib 64"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_that_outwaits_its_deadline_in_the_queue_is_not_run() {
    // One worker, busy for 2 s with a loop; the noisy neighbour (100 ms
    // deadline) queued behind it must time out without running.
    let flags = [
        "--workers",
        "1",
        "--fuel",
        "1000000000000",
        "--timeout-ms",
        "2000",
        "--breaker-failures",
        "0",
    ];
    let mut served = Served::start(&["probe", "noisy-neighbour"], &flags, "info").await;
    let calls = vec![
        wire_request("busy", "probe", "v1", &probe("loop")),
        wire_request("late", "noisy-neighbour", "v1", &probe("loop")),
    ];
    let (responses, _) = exchange(&mut served.client, calls).await;
    let late = responses.iter().find(|r| r.request_id == "late").unwrap();
    assert_eq!(outcome_kind(late), "timeout");
    let policy_host::transport::client::WireOutcome::Failed(error) =
        policy_host::transport::client::decode_response(late.clone())
    else {
        panic!("late call succeeded");
    };
    assert!(error.message.contains("in the queue"), "{}", error.message);
    assert!(
        error.message.contains("100 ms deadline"),
        "{}",
        error.message
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_past_the_queue_bound_is_answered_overloaded_and_each_request_once() {
    let flags = [
        "--workers",
        "1",
        "--max-queued",
        "4",
        "--timeout-ms",
        "300",
        "--fuel",
        "1000000000000",
        "--breaker-failures",
        "0",
    ];
    let mut served = Served::start(&["probe"], &flags, "warn").await;
    let flood: Vec<_> = (0..40)
        .map(|i| wire_request(&format!("f{i}"), "probe", "v1", &probe("loop")))
        .collect();
    let (responses, status) = exchange(&mut served.client, flood).await;
    assert!(status.is_none(), "{status:?}");
    let ids: HashSet<&str> = responses.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(
        (responses.len(), ids.len()),
        (40, 40),
        "every request answered exactly once"
    );
    let overloaded = responses
        .iter()
        .filter(|r| outcome_kind(r) == "overloaded")
        .count();
    assert!(overloaded >= 1, "nothing was shed");
    for response in &responses {
        let kind = outcome_kind(response);
        assert!(["overloaded", "timeout"].contains(&kind.as_str()), "{kind}");
    }
}

/// Three probe calls that run out of fuel.
async fn fail_three_times(served: &mut Served, prefix: &str) {
    for i in 0..3 {
        let (kind, _) = served
            .call(&format!("{prefix}-{i}"), "probe", &probe("loop"))
            .await;
        assert_eq!(kind, "fuel_exhausted");
    }
}

/// Waits for the breaker's cool-down (given in ms) to pass.
async fn past_cool_down(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms * 2)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_breaker_opens_refuses_tries_once_and_closes_or_reopens() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let flags = [
        "--breaker-failures",
        "3",
        "--breaker-cooldown-ms",
        "400",
        "--fuel",
        "20000000",
        "--metrics-listen",
        &listen,
    ];
    let mut served = Served::start(&["probe"], &flags, "info").await;
    fail_three_times(&mut served, "loop").await;
    let (kind, message) = served.call("refused", "probe", &probe("echo")).await;
    assert_eq!(kind, "circuit_open", "{message}");
    assert!(message.contains("probe@v1"), "{message}");
    let text = scrape(port).await;
    let open = r#"policy_host_breaker_state{policy="probe",version="v1",state="open"}"#;
    assert_eq!(sample(&text, open), Some(1.0), "{text}");
    past_cool_down(400).await;
    assert_eq!(
        served.call("trial-ok", "probe", &probe("echo")).await.0,
        "ok"
    );
    assert_eq!(served.call("after", "probe", &probe("echo")).await.0, "ok");
    fail_three_times(&mut served, "again").await;
    past_cool_down(400).await;
    assert_eq!(
        served.call("trial-bad", "probe", &probe("loop")).await.0,
        "fuel_exhausted"
    );
    assert_eq!(
        served.call("reopened", "probe", &probe("echo")).await.0,
        "circuit_open"
    );
    let log = served.log();
    let count = |what: &str| log.lines().filter(|l| l.contains(what)).count();
    assert_eq!(
        count("circuit breaker opened"),
        3,
        "closed→open twice, half-open→open once: {log}"
    );
    assert_eq!(count("circuit breaker half-open"), 2, "{log}");
    assert_eq!(count("circuit breaker closed"), 1, "{log}");
    let text = scrape(port).await;
    let opened =
        r#"policy_host_breaker_transitions_total{policy="probe",version="v1",state="open"}"#;
    assert_eq!(sample(&text, opened), Some(3.0), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_that_raises_does_not_trip_the_breaker() {
    let mut served = Served::start(&["probe"], &["--breaker-failures", "2"], "warn").await;
    for i in 0..6 {
        let (kind, _) = served
            .call(&format!("raise-{i}"), "probe", &probe("raise"))
            .await;
        assert_eq!(kind, "execution_error");
    }
    assert_eq!(served.call("still", "probe", &probe("echo")).await.0, "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_health_port_answers_probes_and_exposes_no_executor() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _served = Served::start(&["probe"], &["--health-listen", &listen], "info").await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{listen}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let mut executor =
        policy_host::transport::proto::python_executor_service_client::PythonExecutorServiceClient::new(channel);
    let refused = executor
        .health_check(policy_host::transport::proto::HealthCheckRequest {})
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unimplemented, "{refused:?}");
}
