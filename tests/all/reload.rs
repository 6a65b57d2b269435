//! Hot reload on the real `serve` binary: SIGHUP and file changes during
//! traffic drop no call, a component that does not load leaves the serving
//! version in service, and a removed component stops taking calls.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use policy_host::contract::Headers;
use serde_json::json;

use crate::harness::{harness, params, request};
use crate::served::{Served, install};
use crate::server::{exchange, health, outcome_kind, set_headers, wire_request};

/// The `reloaded` policy, generation 1 or 2: it answers with its
/// generation as `x-generation`. Built once (and cached across runs).
fn generation(number: usize) -> &'static [u8] {
    static BUILT: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    &BUILT.get_or_init(|| {
        let stage = tempfile::tempdir().unwrap();
        [1, 2]
            .iter()
            .map(|n| {
                let dir = stage.path().join(format!("generation-{n}"));
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(
                    dir.join("policy.py"),
                    format!(
                        "from sdk.policy import UpstreamRequestModifications\n\nGENERATION = \"{n}\"\n\n\n\
                         def on_request(ctx, params):\n    \
                         return UpstreamRequestModifications(set_headers={{\"x-generation\": GENERATION}})\n"
                    ),
                )
                .unwrap();
                std::fs::write(
                    dir.join("policy-definition.yaml"),
                    "name: reloaded\nversion: v1\ndescription: Answers with its generation.\nruntime: python\n",
                )
                .unwrap();
                harness().try_build(&dir).unwrap()
            })
            .collect()
    })[number - 1]
}

const FILE: &str = "reloaded-v1.wasm";

async fn served_with_generation_one(extra: &[&str]) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    let (first, probe) = tokio::task::block_in_place(|| (generation(1), harness().wasm("probe")));
    install(&policies, FILE, first);
    install(&policies, "probe-v1.wasm", &probe);
    Served::start_in(dir, policies, extra, "info").await
}

/// Waits until the server has logged `count` reloads.
async fn reloads_logged(served: &Served, count: usize) {
    for _ in 0..1200 {
        let done = served
            .log()
            .lines()
            .filter(|l| l.contains("reloaded policies"))
            .count();
        if done >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{count} reloads never logged: {}", served.log());
}

fn generation_call(id: &str) -> policy_host::transport::proto::ExecutionRequest {
    let input = request(Headers::new(), None, params(json!({})));
    wire_request(id, "reloaded", "v1", &input)
}

async fn answering_generation(served: &mut Served) -> String {
    let (responses, _) = exchange(&mut served.client, vec![generation_call("which")]).await;
    set_headers(&responses[0])["x-generation"].clone()
}

/// Calls the reloaded policy, 50 on a stream at a time, until 5,000 are
/// answered and `reloading` is cleared; the count and the failures.
async fn calls_until(
    mut client: policy_host::transport::proto::python_executor_service_client::PythonExecutorServiceClient<
        tonic::transport::Channel,
    >,
    reloading: std::sync::Arc<AtomicBool>,
) -> (usize, Vec<policy_host::transport::proto::ExecutionResponse>) {
    let (mut answered, mut failed) = (0usize, Vec::new());
    while answered < 5000 || reloading.load(Ordering::SeqCst) {
        let batch: Vec<_> = (0..50)
            .map(|i| generation_call(&format!("c{answered}-{i}")))
            .collect();
        let (responses, status) = exchange(&mut client, batch).await;
        assert!(status.is_none(), "{status:?}");
        answered += responses.len();
        failed.extend(
            responses
                .iter()
                .filter(|r| outcome_kind(r) != "ok")
                .cloned(),
        );
    }
    (answered, failed)
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_reloads_during_five_thousand_calls_drop_none_and_the_new_version_answers() {
    let mut served = served_with_generation_one(&["--watch-debounce-ms", "100"]).await;
    let client = served.client.clone();
    let reloading = std::sync::Arc::new(AtomicBool::new(true));
    let traffic = tokio::spawn(calls_until(client.clone(), reloading.clone()));
    let policies = served.policies.clone();
    for round in 0..10 {
        let next = tokio::task::block_in_place(|| generation(if round % 4 == 0 { 2 } else { 1 }));
        if round % 2 == 0 {
            install(&policies, FILE, next);
        } else {
            served.signal(libc::SIGHUP);
        }
        reloads_logged(&served, round + 1).await;
    }
    reloading.store(false, Ordering::SeqCst);
    let (answered, failed) = traffic.await.unwrap();
    assert!(answered >= 5000);
    assert!(
        failed.is_empty(),
        "{} of {answered} calls failed: {:?}",
        failed.len(),
        failed.first()
    );
    let log = served.log();
    assert!(
        log.lines()
            .any(|l| l.contains("reloaded policies") && l.contains("SIGHUP")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("reloaded policies") && l.contains("a component changed")),
        "{log}"
    );
    install(
        &policies,
        FILE,
        tokio::task::block_in_place(|| generation(2)),
    );
    served.signal(libc::SIGHUP);
    for _ in 0..1200 {
        if answering_generation(&mut served).await == "2" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("generation 2 never answered: {}", served.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_does_not_load_at_reload_leaves_the_serving_version() {
    let mut served = served_with_generation_one(&["--no-watch"]).await;
    assert_eq!(answering_generation(&mut served).await, "1");
    install(&served.policies, FILE, b"not a component any more");
    install(&served.policies, "garbage.wasm", b"\0asm garbage");
    served.signal(libc::SIGHUP);
    reloads_logged(&served, 1).await;
    assert_eq!(
        answering_generation(&mut served).await,
        "1",
        "the old version serves"
    );
    let log = served.log();
    assert!(
        log.lines()
            .any(|l| l.contains(FILE) && l.contains("the version it held before keeps serving")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("garbage.wasm") && l.contains("ERROR")),
        "{log}"
    );
    let reloaded = log
        .lines()
        .find(|l| l.contains("reloaded policies"))
        .unwrap();
    assert!(reloaded.contains("failed=2"), "{reloaded}");
    install(
        &served.policies,
        FILE,
        tokio::task::block_in_place(|| generation(2)),
    );
    served.signal(libc::SIGHUP);
    reloads_logged(&served, 2).await;
    assert_eq!(
        answering_generation(&mut served).await,
        "2",
        "a fixed file serves again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_component_stops_taking_calls() {
    let mut served = served_with_generation_one(&["--no-watch"]).await;
    let echo = request(Headers::new(), None, params(json!({"do": "echo"})));
    assert_eq!(served.call("before", "probe", &echo).await.0, "ok");
    std::fs::remove_file(served.policies.join("probe-v1.wasm")).unwrap();
    served.signal(libc::SIGHUP);
    reloads_logged(&served, 1).await;
    assert_eq!(
        served.call("after", "probe", &echo).await.0,
        "policy_not_found"
    );
    let health = health(&mut served.client).await;
    assert_eq!(
        health.loaded_policies, 1,
        "only the reloaded policy is left"
    );
}
