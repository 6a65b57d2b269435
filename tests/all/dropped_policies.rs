//! A policy the registry drops (unloaded past the resident bound, or
//! replaced by a reload) is freed once its last call ends: no idle worker
//! keeps it, nor an instance of it made ahead, until its next job. Each
//! test has an engine of its own, so its pool's live instances are the
//! workers' alone.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use policy_host::contract::CallInput;
use policy_host::dispatch::{
    Dispatcher, EntryMeta, InputCaps, Invocation, PolicyEntry, PolicyRegistry, WorkerOptions,
    load_policy,
};
use policy_host::sandbox::{CompiledPolicy, EngineOptions, LimitOverrides, Limits, SandboxEngine};
use serde_json::json;

use crate::harness::{counter_request, harness, params, request};

/// Workers of the dispatcher: one call of each pair lands on each.
const WORKERS: usize = 2;

/// A probe call that keeps its worker busy for a while, so that calls
/// made at once land on different workers.
fn nap() -> CallInput {
    request(
        Default::default(),
        None,
        params(json!({"do": "sleep", "seconds": 0.1})),
    )
}

/// An engine like the harness's (so its compiled code is in the cache).
fn own_engine() -> Arc<SandboxEngine> {
    Arc::new(
        SandboxEngine::new(EngineOptions {
            max_concurrent_calls: 16,
            incremental_compilation: true,
            ..Default::default()
        })
        .expect("engine"),
    )
}

/// Test policy `name` loaded on `engine`, held by nothing else.
fn load(engine: &SandboxEngine, name: &str) -> Arc<CompiledPolicy> {
    let h = harness();
    let wasm = h.wasm(name);
    let loaded = load_policy(
        engine,
        &h.cache,
        &wasm,
        name,
        Limits::default(),
        LimitOverrides::default(),
    );
    loaded
        .unwrap_or_else(|e| panic!("loading {name}: {e}"))
        .policy
}

struct Host {
    engine: Arc<SandboxEngine>,
    dispatcher: Dispatcher,
    runtime: tokio::runtime::Runtime,
}

impl Host {
    fn new(engine: Arc<SandboxEngine>, registry: PolicyRegistry) -> Self {
        Host {
            engine: engine.clone(),
            dispatcher: Dispatcher::new(
                engine,
                registry,
                WorkerOptions::new(WORKERS),
                InputCaps::default(),
            ),
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
        }
    }

    /// Runs a napping probe call on every worker at once, then waits until
    /// each is idle again (and has made a probe instance ahead).
    fn probe_on_every_worker(&self) {
        let call = |n: usize| {
            let call = Invocation::of(&format!("nap-{n}"), "probe", "v1", nap());
            self.dispatcher.execute(call)
        };
        let (first, second) = self
            .runtime
            .block_on(async { tokio::join!(call(0), call(1)) });
        first.expect("the probe naps");
        second.expect("the probe naps");
        std::thread::sleep(Duration::from_millis(200));
    }

    fn call(&self, policy: &str) {
        let call = Invocation::of("next", policy, "v1", counter_request("x"));
        self.runtime
            .block_on(self.dispatcher.execute(call))
            .expect("the call runs");
    }

    /// Waits until `policy` is freed and the pool holds `instances` live
    /// instances, and they stay so for a while: the workers keep nothing
    /// of the dropped policy.
    fn assert_freed(&self, policy: &Weak<CompiledPolicy>, instances: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut settled = 0;
        while settled < 20 {
            let live = self.engine.pool_usage().instances;
            let held = policy.strong_count() > 0;
            settled = if held || live != instances {
                0
            } else {
                settled + 1
            };
            assert!(
                Instant::now() < deadline,
                "the dropped policy is still held ({held}), {live} live instances \
                 (expected {instances})"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn a_reload_leaves_no_worker_holding_the_policy_it_replaced() {
    let engine = own_engine();
    let probe = load(&engine, "probe");
    let old = Arc::downgrade(&probe);
    let mut registry = PolicyRegistry::new();
    registry.insert("probe", "v1", probe).unwrap();
    let host = Host::new(engine.clone(), registry);
    host.probe_on_every_worker();
    assert_eq!(engine.pool_usage().instances, WORKERS as u64, "made ahead");

    let mut next = PolicyRegistry::new();
    next.insert("request-only", "v1", load(&engine, "request-only"))
        .unwrap();
    host.dispatcher.swap_registry(next);
    // Idle, and nothing to make ahead yet.
    host.assert_freed(&old, 0);
    host.call("request-only");
}

#[test]
fn an_unloaded_policy_is_not_kept_by_idle_workers() {
    let engine = own_engine();
    let loaded: Arc<Mutex<Vec<Weak<CompiledPolicy>>>> = Arc::default();
    let record = loaded.clone();
    let for_probe = engine.clone();
    let probe = PolicyEntry::lazy(
        "probe@v1".into(),
        Box::new(move || {
            let policy = load(&for_probe, "probe");
            record.lock().unwrap().push(Arc::downgrade(&policy));
            Ok(policy)
        }),
        EntryMeta::default(),
    );
    let other = load(&engine, "request-only");
    let request_only = PolicyEntry::lazy(
        "request-only@v1".into(),
        Box::new(move || Ok(other.clone())),
        EntryMeta::default(),
    );
    let mut registry = PolicyRegistry::with_max_resident(1);
    registry.insert_entry("probe", "v1", probe).unwrap();
    registry
        .insert_entry("request-only", "v1", request_only)
        .unwrap();
    let host = Host::new(engine.clone(), registry);
    host.probe_on_every_worker();
    assert_eq!(engine.pool_usage().instances, WORKERS as u64, "made ahead");

    // Loading the other policy unloads the probe, on one worker; the other
    // worker sleeps with a probe instance made ahead.
    host.call("request-only");
    let probes = loaded.lock().unwrap().clone();
    assert_eq!(probes.len(), 1, "the probe loaded once");
    // The one left: that worker's instance of the other policy, made ahead.
    host.assert_freed(&probes[0], 1);
    host.call("request-only");
}
