//! Benchmark support, never used to serve: calls on a reused instance.
//!
//! Serving always runs a call on a fresh, never-used instance. `bench
//! inproc` compares that with the floor of calling one instance again and
//! again (state carries over between calls), which only this module can do;
//! nothing in dispatch or the transport reaches it.

use std::time::{Duration, Instant};

use super::engine::SandboxEngine;
use super::error::SandboxError;
use super::policy::CompiledPolicy;
use crate::contract::CallInput;

/// Calls one instance serves before [`time_reused_instance`] replaces it.
pub const REUSED_CALLS_PER_INSTANCE: usize = 32;

/// Runs `input` `calls` times on reused instances of `policy` and returns
/// each call's duration. Each instance serves [`REUSED_CALLS_PER_INSTANCE`]
/// calls and is then replaced, untimed: host calls' buffers stay in guest
/// memory until the instance goes, so one instance would run out of memory
/// on big bodies.
pub fn time_reused_instance(
    policy: &CompiledPolicy,
    engine: &SandboxEngine,
    input: &CallInput,
    calls: usize,
) -> Result<Vec<Duration>, SandboxError> {
    let mut durations = Vec::with_capacity(calls);
    while durations.len() < calls {
        let (mut store, bindings) = policy.instantiate(engine)?;
        for _ in 0..REUSED_CALLS_PER_INSTANCE.min(calls - durations.len()) {
            let started = Instant::now();
            policy.run(engine, &mut store, &bindings, input.clone())?;
            durations.push(started.elapsed());
        }
    }
    Ok(durations)
}
