//! The sandbox-escape suite: every hostile one-file policy in
//! `tests/escape/cases/` is built, served by the real `policy-host serve`
//! binary on a real Unix socket, and called for several rounds.
//!
//! Each case states what it tries and what must happen in `# tries:` and
//! `# expect:` lines at its top (see `tests/escape/README.md`). For every
//! case and round the runner checks that:
//! - `on_request` ends with the expected typed error or harmless result, and
//!   nothing the case returns contains a host secret;
//! - the next normal call on the same policy (`on_response`) and on a
//!   different policy succeed;
//! - the server process stays alive and healthy, and its resident memory
//!   does not keep growing from round to round.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use policy_host::contract::{Action, CallInput, Headers};
use policy_host::transport::client::{WireOutcome, decode_response};
use policy_host::transport::proto::python_executor_service_client::PythonExecutorServiceClient;
use serde_json::json;
use tonic::transport::Channel;

use crate::escape_cases::{Case, Expect, all_cases};
use crate::harness::{PARALLEL_BUILDS, harness, headers, params, request, response};
use crate::server::{exchange, health, serve_command, wait_for_socket, wire_request};

/// Rounds of every case (`make soak` raises it); resident memory is
/// compared between the first and the last.
fn rounds() -> usize {
    crate::server::soak_rounds(4).max(2)
}
/// How much the server's resident memory may grow between the first round
/// and the last (pool slots keep at most 16 MiB of dirty pages each).
const MAX_RSS_GROWTH_BYTES: u64 = 96 * 1024 * 1024;

/// Writes `case` as a policy package under `stage` and returns its directory.
fn stage_package(stage: &Path, case: &Case) -> PathBuf {
    let dir = stage.join(&case.name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.py"), &case.source).unwrap();
    let mut definition = format!(
        "name: {}\nversion: v1\ndescription: \"escape case: {}\"\nruntime: python\n",
        case.policy_name(),
        case.tries.replace('"', "'")
    );
    if !case.limits.is_empty() {
        definition.push_str("limits:\n");
        for (key, value) in &case.limits {
            definition.push_str(&format!("  {key}: {value}\n"));
        }
    }
    std::fs::write(dir.join("policy-definition.yaml"), definition).unwrap();
    dir
}

/// Strings that must never appear in anything a policy returns.
fn host_secrets(planted: &str) -> Vec<String> {
    let mut secrets = vec![
        planted.to_string(),
        crate::harness::project_root().display().to_string(),
    ];
    if let Ok(hostname) = std::fs::read_to_string("/etc/hostname") {
        let hostname = hostname.trim();
        if hostname.len() >= 4 {
            secrets.push(hostname.to_string());
        }
    }
    secrets
}

/// A `/proc/<pid>/status` field in bytes (`VmRSS`, `RssAnon`, `RssFile`).
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn resident_bytes(pid: u32) -> u64 {
    let (anon, file) = (status_bytes(pid, "RssAnon"), status_bytes(pid, "RssFile"));
    eprintln!(
        "escape server: RSS {} MiB ({} MiB anonymous, {} MiB file-backed)",
        (anon + file) >> 20,
        anon >> 20,
        file >> 20
    );
    status_bytes(pid, "VmRSS")
}

/// The `policy-host serve` process, killed on drop.
struct ServerProcess {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds one case (from the cache when unchanged), compiles it with the
/// harness engine and puts it in `policies`.
fn build_case(case: &Case, stage: &Path, policies: &Path) {
    let package = stage_package(stage, case);
    let wasm = harness()
        .try_build(&package)
        .unwrap_or_else(|e| panic!("building escape case {}: {e}", case.name));
    harness().load_wasm(&case.policy_name(), &wasm);
    let file = policies.join(format!("{}-v1.wasm", case.policy_name()));
    std::fs::write(file, &wasm).unwrap();
}

/// Builds every case (from the cache when unchanged), compiles it with the
/// harness engine (so the server loads cached code), and starts the server.
async fn start_server(
    cases: &[Case],
    stage: &Path,
) -> (ServerProcess, PythonExecutorServiceClient<Channel>) {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    tokio::task::block_in_place(|| {
        // As many builders as the harness runs builds at once, each taking
        // the next case.
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..PARALLEL_BUILDS {
                scope.spawn(|| {
                    while let Some(case) =
                        cases.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                    {
                        build_case(case, stage, &policies);
                    }
                });
            }
        });
        let probe = harness().wasm("probe");
        std::fs::write(policies.join("probe-v1.wasm"), &*probe).unwrap();
    });
    let socket = dir.path().join("executor.sock");
    // No warm memory slots: every call then lands on a slot another
    // tenant's image (and hostile call) has just left, the strictest case
    // for isolation, and the RSS check sees leaks rather than the pool
    // keeping one warm slot per policy.
    let child = serve_command(&policies, &socket, "error")
        .args(["--warm-memory-slots", "0"])
        .stdout(Stdio::null())
        // Hostile policies log on purpose; the outcomes are checked per call.
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = ServerProcess { child, _dir: dir };
    let client = wait_for_socket(&socket).await;
    (server, client)
}

async fn call(
    client: &mut PythonExecutorServiceClient<Channel>,
    id: &str,
    policy: &str,
    input: &CallInput,
) -> WireOutcome {
    let (mut responses, status) =
        exchange(client, vec![wire_request(id, policy, "v1", input)]).await;
    assert!(status.is_none(), "{id}: stream ended with {status:?}");
    assert_eq!(responses.len(), 1, "{id}: exactly one answer");
    decode_response(responses.remove(0))
}

fn set_headers(action: &Option<Action>) -> BTreeMap<String, String> {
    match action {
        Some(Action::ContinueRequest(changes)) => changes.headers.set_headers.clone(),
        _ => BTreeMap::new(),
    }
}

/// Checks one `on_request` outcome against the case's expectations; records
/// `Differs` values in `seen`.
fn check_outcome(
    case: &Case,
    outcome: &WireOutcome,
    secrets: &[String],
    seen: &mut BTreeMap<String, Vec<String>>,
) -> Result<(), String> {
    let shown = format!("{outcome:?}");
    if let Some(secret) = secrets.iter().find(|s| shown.contains(s.as_str())) {
        return Err(format!("the result reveals host secret {secret:?}"));
    }
    for expect in &case.expects {
        match (expect, outcome) {
            (Expect::Error { types, contains }, WireOutcome::Failed(error)) => {
                if !types.contains(&error.error_type) || !error.message.contains(contains.as_str())
                {
                    return Err(format!(
                        "expected error {types:?} containing {contains:?}, got {} {:?}",
                        error.error_type,
                        error.message.chars().take(300).collect::<String>()
                    ));
                }
            }
            (Expect::Ok(wanted), WireOutcome::Done { action, .. }) => {
                let got = set_headers(action);
                for (name, value) in wanted {
                    if got.get(name) != Some(value) {
                        return Err(format!("expected {name}={value}, got {got:?}"));
                    }
                }
            }
            (Expect::Differs(name), WireOutcome::Done { action, .. }) => {
                let value = set_headers(action).get(name).cloned().unwrap_or_default();
                seen.entry(name.clone()).or_default().push(value);
            }
            _ => {
                return Err(format!(
                    "expected {expect:?}, got {}",
                    shown.chars().take(300).collect::<String>()
                ));
            }
        }
    }
    Ok(())
}

fn hostile_input(case: &Case, round: usize) -> CallInput {
    let secret = format!("escape-secret-{}-{round}", case.name);
    let body = format!("{secret}-body");
    let mut input = request(
        headers(&[("x-secret", &secret), ("x-round", &round.to_string())]),
        Some(body.as_bytes()),
        params(json!({})),
    );
    input.shared.request_id = format!("{}-{round}", case.name);
    input
}

/// Runs one round of one case; returns what went wrong, if anything.
async fn run_case(
    client: &mut PythonExecutorServiceClient<Channel>,
    case: &Case,
    round: usize,
    secrets: &[String],
    seen: &mut BTreeMap<String, Vec<String>>,
) -> Result<(), String> {
    let id = format!("{}-{round}", case.name);
    let policy = case.policy_name();
    let outcome = call(client, &id, &policy, &hostile_input(case, round)).await;
    check_outcome(case, &outcome, secrets, seen)?;
    let normal = response(Some(b"{}"), params(json!({})));
    match call(client, &format!("{id}-normal"), &policy, &normal).await {
        WireOutcome::Done { action: None, .. } => {}
        other => return Err(format!("the next normal call on {policy} gave {other:?}")),
    }
    let echo = request(Headers::new(), None, params(json!({"do": "echo"})));
    match call(client, &format!("{id}-other"), "probe", &echo).await {
        WireOutcome::Done {
            action: Some(Action::ContinueRequest(_)),
            ..
        } => Ok(()),
        other => Err(format!("the next call on another policy gave {other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_policies_are_contained_and_the_server_stays_healthy() {
    let cases = all_cases();
    assert!(cases.len() >= 30, "the suite has {} cases", cases.len());
    let stage = tempfile::tempdir().unwrap();
    let planted = format!("escape-host-secret-{}", std::process::id());
    std::fs::write(stage.path().join("secret.txt"), &planted).unwrap();
    let secrets = host_secrets(&planted);
    let (mut server, mut client) = start_server(&cases, stage.path()).await;
    let pid = server.child.id();
    let mut failures = Vec::new();
    let mut seen: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut rss_after_first_round = 0;
    let rounds = rounds();
    for round in 0..rounds {
        for case in &cases {
            let case_seen = seen.entry(case.name.clone()).or_default();
            if let Err(why) = run_case(&mut client, case, round, &secrets, case_seen).await {
                failures.push(format!("{} (round {round}): {why}", case.name));
            }
        }
        let resident = resident_bytes(pid);
        if round == 0 {
            rss_after_first_round = resident;
        }
    }
    for (case, headers) in &seen {
        for (name, values) in headers {
            let distinct: std::collections::HashSet<_> = values.iter().collect();
            if distinct.len() != values.len() {
                failures.push(format!("{case}: {name} repeated across calls: {values:?}"));
            }
        }
    }
    assert!(
        !Path::new("/tmp/policy-host-escape-was-here").exists(),
        "a policy wrote to the host's /tmp"
    );
    let growth = resident_bytes(pid).saturating_sub(rss_after_first_round);
    assert!(
        growth <= MAX_RSS_GROWTH_BYTES,
        "server RSS grew {growth} bytes between round 1 and round {rounds}"
    );
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server exited"
    );
    assert!(health(&mut client).await.ready);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
