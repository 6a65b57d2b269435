//! Many tenants on one compiled runtime: every policy built by our
//! toolchain shares one copy of CPython's machine code, and still each
//! call sees only its own policy's snapshot and its own request, also on a
//! pool slot that another tenant's image has just left.

use std::path::Path;
use std::sync::OnceLock;

use policy_host::cache::ArtifactCache;
use policy_host::dispatch::load_policy;
use policy_host::sandbox::engine::PATCHED_WASMTIME;
use policy_host::sandbox::{CompiledPolicy, EngineOptions, LimitOverrides, Limits, SandboxEngine};
use serde_json::json;

use crate::harness::{counter_request, harness, params, policy_dir, request, set_header};
use crate::server::{
    exchange, serve_command, serve_command_with_workers, set_headers, wait_for_socket, wire_request,
};

/// Distinct tenants built for these tests (copies of the probe policy).
const TENANTS: usize = 8;

/// The name of tenant `index`.
pub(crate) fn tenant_name(index: usize) -> String {
    format!("tenant-{index}")
}

/// Tenant `index`'s component: the probe policy under its own name, with a
/// constant of its own in the snapshot and a list made right after it at
/// import, which every counter call appends to (so calls write where the
/// tenants' snapshots differ); it reports both as `x-tenant` (`tenant-N/1`
/// while the list is fresh) on every counter call, and what it drew from
/// every source of randomness while it was imported as `x-import-draws`.
/// Built once (and cached across runs).
pub(crate) fn tenant_wasm(index: usize) -> &'static [u8] {
    static BUILT: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    &BUILT.get_or_init(|| {
        let stage = tempfile::tempdir().unwrap();
        (0..TENANTS)
            .map(|i| {
                let dir = stage_tenant(stage.path(), i);
                harness()
                    .try_build(&dir)
                    .unwrap_or_else(|e| panic!("building {}: {e}", tenant_name(i)))
            })
            .collect()
    })[index]
}

/// Import-time draws from every entropy source a policy reaches (Python
/// code, C-seeded generators, `secrets`, `uuid`), as one JSON header value.
/// Every draw has a fixed length (floats as 16 digits), so that the tenants'
/// snapshots differ in what they drew and never in how their later objects
/// are laid out: a float's repr is 17 or 18 characters by chance, and one
/// more byte can move every later allocation and leave a tenant sharing few
/// pages with the base, build by build.
const IMPORT_DRAWS: &str = "import json as _json, os as _os, random as _random, secrets as _secrets, \
    uuid as _uuid\nIMPORT_DRAWS = _json.dumps({\"urandom\": _os.urandom(16).hex(), \
    \"random\": f\"{_random.Random().random():.16f}\", \"secrets\": _secrets.token_hex(16), \
    \"uuid\": str(_uuid.uuid4()), \"system\": f\"{_random.SystemRandom().random():.16f}\"})";

fn stage_tenant(stage: &Path, index: usize) -> std::path::PathBuf {
    let probe = policy_dir("probe");
    let dir = stage.join(tenant_name(index));
    std::fs::create_dir_all(&dir).unwrap();
    let source = std::fs::read_to_string(probe.join("policy.py")).unwrap();
    let wrapper = format!(
        "\nTENANT = {name:?}\nTENANT_LOG = [TENANT]\n{draws}\n_probe_on_request = on_request\n\n\n\
         def on_request(ctx, params):\n    result = _probe_on_request(ctx, params)\n    \
         if params.get(\"do\") == \"counter\":\n        TENANT_LOG.append(len(TENANT_LOG))\n        \
         result.set_headers[\"x-tenant\"] = \"/\".join(map(str, TENANT_LOG))\n        \
         result.set_headers[\"x-import-draws\"] = IMPORT_DRAWS\n    \
         return result\n",
        draws = IMPORT_DRAWS,
        name = tenant_name(index)
    );
    std::fs::write(dir.join("policy.py"), source + &wrapper).unwrap();
    std::fs::write(
        dir.join("policy-definition.yaml"),
        format!(
            "name: {}\nversion: v1\ndescription: A tenant of the shared-runtime tests.\nruntime: python\n",
            tenant_name(index)
        ),
    )
    .unwrap();
    dir
}

fn load(engine: &SandboxEngine, index: usize) -> CompiledPolicy {
    load_from(engine, &harness().cache, index)
}

/// Tenant `index` loaded in `engine` through `cache`.
pub(crate) fn load_from(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    index: usize,
) -> CompiledPolicy {
    let loaded = load_policy(
        engine,
        cache,
        tenant_wasm(index),
        &tenant_name(index),
        Limits::default(),
        LimitOverrides::default(),
    )
    .unwrap_or_else(|e| panic!("loading {}: {e}", tenant_name(index)));
    std::sync::Arc::try_unwrap(loaded.policy).unwrap_or_else(|_| panic!("shared"))
}

#[test]
fn tenants_on_a_crowded_pool_see_only_their_own_snapshot_and_request() {
    // One call at a time and no warm slots: three memory slots for four
    // tenants called in turn, so every call lands on a slot whose last
    // image was another tenant's.
    let engine = SandboxEngine::new(EngineOptions {
        max_concurrent_calls: 1,
        warm_memory_slots: 0,
        ..Default::default()
    })
    .unwrap();
    let tenants: Vec<CompiledPolicy> = (0..4).map(|i| load(&engine, i)).collect();
    assert_eq!(
        tenants.iter().all(CompiledPolicy::on_shared_runtime),
        PATCHED_WASMTIME,
        "patched builds put every tenant on the shared runtime, stock builds none"
    );
    if PATCHED_WASMTIME {
        assert_eq!(engine.runtimes().len(), 1, "one runtime for all tenants");
        assert_snapshot_pages_shared(&tenants);
    }
    for round in 0..5 {
        for (index, tenant) in tenants.iter().enumerate() {
            let secret = format!("{}-secret-{round}", tenant_name(index));
            let output = tenant.call(&engine, counter_request(&secret)).unwrap();
            let fresh = format!("{}/1", tenant_name(index));
            assert_eq!(set_header(&output, "x-tenant"), fresh);
            assert_eq!(set_header(&output, "x-counter"), "1", "fresh module state");
            assert_eq!(set_header(&output, "x-seen"), format!("[\"{secret}\"]"));
            let dirty = request(Default::default(), None, params(json!({"do": "dirty"})));
            let output = tenant.call(&engine, dirty).unwrap();
            assert_eq!(set_header(&output, "x-marker-on-entry"), "pristine");
        }
    }
}

/// One image serves as the base: the first tenant loaded, or, when the
/// cache holds the others as deltas against another tenant's image, that
/// one (`image_delta`). Every other tenant, built on the same host with the
/// same pre-initialization entropy, maps every page it has in common with
/// the base from the base's artifact: nearly the whole snapshot. The few
/// pages each differs in are kept in memory, so that resets never read its
/// own artifact.
pub(crate) fn assert_snapshot_pages_shared(tenants: &[CompiledPolicy]) {
    let bases: Vec<&CompiledPolicy> = (tenants.iter())
        .filter(|tenant| tenant.shared_image_bytes() == 0)
        .collect();
    assert!(bases.len() <= 1, "{} tenants share nothing", bases.len());
    for base in bases {
        assert_eq!(base.image_bytes_in_memory(), 0, "the base keeps none");
    }
    for (index, tenant) in tenants.iter().enumerate() {
        if tenant.shared_image_bytes() == 0 {
            continue;
        }
        let shared = tenant.shared_image_bytes();
        assert!(
            shared >= 12 << 20,
            "{} maps only {} KiB from the base image",
            tenant_name(index),
            shared >> 10
        );
        let in_memory = tenant.image_bytes_in_memory();
        assert!(
            in_memory > 0 && in_memory <= 2 << 20,
            "{} keeps {} KiB of its image in memory",
            tenant_name(index),
            in_memory >> 10
        );
    }
}

#[test]
fn what_a_tenant_draws_while_imported_is_its_own() {
    // Every tenant is built from the same per-host entropy (so that their
    // snapshots share pages); the glue's per-build key must still make
    // what each drew at import time its own.
    let engine = SandboxEngine::new(EngineOptions {
        max_concurrent_calls: 1,
        ..Default::default()
    })
    .unwrap();
    let mut seen: Vec<serde_json::Map<String, serde_json::Value>> = Vec::new();
    for index in 0..4 {
        let tenant = load(&engine, index);
        let output = tenant.call(&engine, counter_request("draws")).unwrap();
        let draws: serde_json::Value =
            serde_json::from_str(set_header(&output, "x-import-draws")).unwrap();
        let draws = draws.as_object().unwrap().clone();
        assert_eq!(draws.len(), 5, "{draws:?}");
        for earlier in &seen {
            for (source, value) in &draws {
                assert_ne!(
                    earlier.get(source),
                    Some(value),
                    "{} drew the same {source} at import as an earlier tenant",
                    tenant_name(index)
                );
            }
        }
        seen.push(draws);
    }
}

/// The tenants' components in a directory of their own, compiled into the
/// shared cache first (so the server maps cached code).
fn tenant_directory(dir: &Path) -> std::path::PathBuf {
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    for index in 0..TENANTS {
        let wasm = tenant_wasm(index);
        harness().load_wasm(&tenant_name(index), wasm);
        std::fs::write(policies.join(format!("{}.wasm", tenant_name(index))), wasm).unwrap();
    }
    policies
}

/// Sends `rounds` × 8 counter calls to every tenant, interleaved on one
/// stream, and checks each answer came from its own tenant's policy and
/// saw only its own request.
async fn call_every_tenant(
    client: &mut policy_host::transport::proto::python_executor_service_client::PythonExecutorServiceClient<tonic::transport::Channel>,
    rounds: usize,
) {
    let calls = TENANTS * 8 * rounds;
    let requests: Vec<_> = (0..calls)
        .map(|n| {
            let tenant = tenant_name(n % TENANTS);
            let secret = format!("{tenant}-call-{n}");
            wire_request(&n.to_string(), &tenant, "v1", &counter_request(&secret))
        })
        .collect();
    let (responses, status) = exchange(client, requests).await;
    assert!(status.is_none(), "stream ended with {status:?}");
    assert_eq!(responses.len(), calls, "every request answered");
    for response in responses {
        let n: usize = response.request_id.parse().unwrap();
        let tenant = tenant_name(n % TENANTS);
        let headers = set_headers(&response);
        let fresh = format!("{tenant}/1");
        assert_eq!(headers.get("x-tenant"), Some(&fresh), "call {n}");
        assert_eq!(headers.get("x-counter").map(String::as_str), Some("1"));
        assert_eq!(
            headers.get("x-seen"),
            Some(&format!("[\"{tenant}-call-{n}\"]")),
            "call {n} saw only its own request"
        );
    }
    let health = crate::server::health(client).await;
    assert!(health.ready);
    assert_eq!(
        health.loaded_policies, TENANTS as i32,
        "every tenant is servable"
    );
}

fn stop(mut child: std::process::Child) {
    // SAFETY: kill(2) on the child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_answers_many_tenants_interleaved_each_from_its_own_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policies = tokio::task::block_in_place(|| tenant_directory(dir.path()));
    let socket = dir.path().join("executor.sock");
    // The first calls queue behind the tenants' loads (seconds when the
    // artifact cache is cold), and a call's queue wait counts against its
    // deadline.
    let child = serve_command(&policies, &socket, "warn")
        .args(["--timeout-ms", "30000"])
        .spawn()
        .unwrap();
    let mut client = wait_for_socket(&socket).await;
    call_every_tenant(&mut client, 1).await;
    tokio::task::block_in_place(|| stop(child));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_past_the_resident_bound_load_on_demand_and_no_call_fails() {
    let dir = tempfile::tempdir().unwrap();
    let policies = tokio::task::block_in_place(|| tenant_directory(dir.path()));
    let socket = dir.path().join("executor.sock");
    // Nothing loaded ahead and room for two: most calls find their policy
    // cold or unloaded, and wait for it.
    // The log goes to a file: a pipe nobody reads until the end would fill
    // and stall the server.
    let log_path = dir.path().join("server.log");
    let child = serve_command(&policies, &socket, "debug")
        // Every call waits for loads ahead of it (~40-80 ms each, two at a
        // time), and a call's queue wait counts against its deadline.
        .args([
            "--max-resident-policies",
            "2",
            "--no-preload",
            "--timeout-ms",
            "30000",
        ])
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut client = wait_for_socket(&socket).await;
    for _ in 0..3 {
        call_every_tenant(&mut client, 1).await;
    }
    tokio::task::block_in_place(|| stop(child));
    let log = std::fs::read_to_string(&log_path).unwrap();
    let unloads = log
        .matches("unloaded the least recently used policy")
        .count();
    let loads = log.matches("loaded policy on demand").count();
    assert!(unloads >= TENANTS, "{unloads} unloads: {log}");
    assert!(loads >= TENANTS + unloads.min(TENANTS), "{loads} loads");
}

/// Cold tenants load while every worker already holds an instance made
/// ahead for a warm one: each load's check needs one more pool slot per
/// worker, and none may fail for want of one (nor be remembered as a
/// broken component). The checks overlap only by chance (each holds its
/// instance for ~1 ms of a ~50 ms load); `pool_capacity.rs` checks the
/// pool's size itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_tenants_load_while_every_worker_holds_a_made_ahead_instance() {
    let dir = tempfile::tempdir().unwrap();
    let policies = tokio::task::block_in_place(|| tenant_directory(dir.path()));
    let socket = dir.path().join("executor.sock");
    let log_path = dir.path().join("server.log");
    let child = serve_command_with_workers(&policies, &socket, "info", 4)
        .args(["--no-preload", "--timeout-ms", "30000"])
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut client = wait_for_socket(&socket).await;
    // Calls that sleep, so that every worker takes some; once idle, each
    // makes an instance of the warm tenant ahead.
    let warm = tenant_name(0);
    let nap = request(
        Default::default(),
        None,
        params(json!({"do": "sleep", "seconds": 0.05})),
    );
    let burst = (0..16)
        .map(|n| wire_request(&n.to_string(), &warm, "v1", &nap))
        .collect();
    let (answers, _) = exchange(&mut client, burst).await;
    assert_eq!(answers.len(), 16);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    call_every_tenant(&mut client, 2).await;
    tokio::task::block_in_place(|| stop(child));
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains("failed to load"), "{log}");
    assert!(!log.contains("could not load now"), "{log}");
}
