//! A policy the registry drops (unloaded past the resident bound, or
//! replaced by a reload) is freed once its last call ends: no idle worker
//! keeps it, nor an instance of it made ahead, until its next job. Each
//! test has an engine of its own, so its pool's live instances are the
//! workers' alone.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use policy_host::contract::CallInput;
use policy_host::dispatch::{
    Dispatcher, EntryMeta, InputCaps, Invocation, PendingCall, PolicyEntry, PolicyRegistry,
    WorkerOptions, load_policy,
};
use policy_host::sandbox::{CompiledPolicy, EngineOptions, LimitOverrides, Limits, SandboxEngine};
use serde_json::json;

use crate::harness::{counter_request, harness, params, request};

/// A probe call that keeps its worker busy for `seconds`, so that calls
/// made at once land on different workers.
fn nap(seconds: f64) -> CallInput {
    request(
        Default::default(),
        None,
        params(json!({"do": "sleep", "seconds": seconds})),
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

/// Test policy `name` loaded on `engine`, held by nothing else, with a
/// deadline long enough for the naps below.
fn load(engine: &SandboxEngine, name: &str) -> Arc<CompiledPolicy> {
    let h = harness();
    let wasm = h.wasm(name);
    let loaded = load_policy(
        engine,
        &h.cache,
        &wasm,
        name,
        Limits::default(),
        LimitOverrides {
            timeout_ms: Some(10_000),
            ..Default::default()
        },
    );
    loaded
        .unwrap_or_else(|e| panic!("loading {name}: {e}"))
        .policy
}

struct Host {
    engine: Arc<SandboxEngine>,
    dispatcher: Dispatcher,
    workers: usize,
    runtime: tokio::runtime::Runtime,
}

impl Host {
    /// `workers` workers serving `registry` on `engine`, each idle with a
    /// probe instance made ahead.
    fn with_probes_ahead(
        engine: &Arc<SandboxEngine>,
        registry: PolicyRegistry,
        workers: usize,
    ) -> Self {
        let host = Host {
            engine: engine.clone(),
            dispatcher: Dispatcher::new(
                engine.clone(),
                registry,
                WorkerOptions::new(workers),
                InputCaps::default(),
            ),
            workers,
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
        };
        host.probe_on_every_worker();
        host
    }

    /// Runs a napping probe call on every worker at once, then waits until
    /// each is idle again (and has made a probe instance ahead).
    fn probe_on_every_worker(&self) {
        let naps: Vec<_> = (0..self.workers)
            .map(|n| self.submit(&format!("nap-{n}"), "probe", nap(0.1)))
            .collect();
        for call in naps {
            self.runtime.block_on(call).expect("the probe naps");
        }
        std::thread::sleep(Duration::from_millis(200));
        let live = self.engine.pool_usage().instances;
        assert_eq!(live, self.workers as u64, "instances made ahead");
    }

    fn submit(&self, id: &str, policy: &str, input: CallInput) -> PendingCall {
        let call = Invocation::of(id, policy, "v1", input);
        self.dispatcher.submit(call).expect("the call is admitted")
    }

    fn call(&self, policy: &str) {
        let call = self.submit("next", policy, counter_request("x"));
        self.runtime.block_on(call).expect("the call runs");
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
    let host = Host::with_probes_ahead(&engine, registry, 2);

    let mut next = PolicyRegistry::new();
    next.insert("request-only", "v1", load(&engine, "request-only"))
        .unwrap();
    host.dispatcher.swap_registry(next);
    // Idle, and nothing to make ahead yet.
    host.assert_freed(&old, 0);
    host.call("request-only");
}

/// A registry of the probe and `request-only`, both loaded on first use,
/// at most one resident; every probe it loads is recorded.
fn one_resident(engine: &Arc<SandboxEngine>) -> (PolicyRegistry, Probes) {
    let loaded = Probes::default();
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
    let other = load(engine, "request-only");
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
    (registry, loaded)
}

/// Each probe a registry loaded, held by nothing.
type Probes = Arc<Mutex<Vec<Weak<CompiledPolicy>>>>;

/// The one probe `loaded` holds.
fn the_probe(loaded: &Probes) -> Weak<CompiledPolicy> {
    let probes = loaded.lock().unwrap();
    assert_eq!(probes.len(), 1, "the probe loaded once");
    probes[0].clone()
}

#[test]
fn an_unloaded_policy_is_not_kept_by_idle_workers() {
    let engine = own_engine();
    let (registry, loaded) = one_resident(&engine);
    let host = Host::with_probes_ahead(&engine, registry, 2);

    // Loading the other policy unloads the probe, on one worker; the other
    // worker sleeps with a probe instance made ahead.
    host.call("request-only");
    // The one left: that worker's instance of the other policy, made ahead.
    host.assert_freed(&the_probe(&loaded), 1);
    host.call("request-only");
}

#[test]
fn the_last_call_of_an_unloaded_policy_wakes_the_idle_workers() {
    // One worker is still running a probe call when another unloads the
    // probe, so a third, idle one cannot let go of its probe instance yet;
    // it must when that last call ends.
    let engine = own_engine();
    let (registry, loaded) = one_resident(&engine);
    let host = Host::with_probes_ahead(&engine, registry, 3);

    let last = host.submit("last", "probe", nap(2.0));
    std::thread::sleep(Duration::from_millis(100));
    host.call("request-only");
    assert!(the_probe(&loaded).strong_count() > 0, "still running");
    host.runtime.block_on(last).expect("the last probe call");
    host.assert_freed(&the_probe(&loaded), 1);
}
