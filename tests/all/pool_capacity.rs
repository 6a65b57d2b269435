//! The instance pool's size: two instances per call slot (the call's, and
//! a load-time check while a worker loads a cold policy) plus spares for
//! loads outside the workers. A full pool is a typed, retryable error for
//! a call, and a load-time check waits for a slot instead of failing.

use std::sync::Arc;

use policy_host::dispatch::load_policy;
use policy_host::sandbox::{
    EngineOptions, LimitOverrides, Limits, ReadyInstance, SandboxEngine, SandboxError,
};

use crate::harness::harness;

/// Instances an engine sized for one call at a time holds at once.
const ONE_CALL_POOL: usize = 2 + 2;

fn engine_for_one_call() -> Arc<SandboxEngine> {
    Arc::new(
        SandboxEngine::new(EngineOptions {
            max_concurrent_calls: 1,
            ..Default::default()
        })
        .unwrap(),
    )
}

fn load(engine: &SandboxEngine, name: &str) -> policy_host::dispatch::LoadedPolicy {
    let wasm = harness().wasm(name);
    load_policy(
        engine,
        &harness().cache,
        &wasm,
        name,
        Limits::default(),
        LimitOverrides::default(),
    )
    .unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

#[test]
fn a_full_pool_is_a_typed_error_and_a_load_waits_for_a_slot() {
    let engine = engine_for_one_call();
    let probe = load(&engine, "probe").policy;
    let mut held: Vec<ReadyInstance> = (0..ONE_CALL_POOL)
        .map(|_| probe.prepare(&engine).expect("within the pool's size"))
        .collect();
    let Err(full) = probe.prepare(&engine) else {
        panic!("the pool holds {ONE_CALL_POOL} instances, not more")
    };
    assert!(matches!(full, SandboxError::PoolFull(_)), "{full:?}");
    assert_eq!(full.kind(), "pool_full");
    let loading = {
        let engine = engine.clone();
        std::thread::spawn(move || load(&engine, "request-only"))
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    held.pop();
    let loaded = loading.join().expect("the load waited for the freed slot");
    assert!(loaded.policy.description().phases.len() == 1);
    drop(held);
}
