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

/// Guest memory one instance's calls may leave behind in host-call buffers
/// before it is replaced (a quarter of the default 64 MiB limit). A call
/// with a JSON body keeps about four times the body there (the text, its
/// marshal data, and the same again for the answer).
const RETAINED_BYTES_PER_INSTANCE: usize = 16 << 20;

/// Calls one instance serves for `input`: [`REUSED_CALLS_PER_INSTANCE`],
/// fewer when its bodies would fill the instance's memory first.
fn calls_per_instance(input: &CallInput) -> usize {
    let retained_per_call = 4 * input.body_bytes();
    (RETAINED_BYTES_PER_INSTANCE / retained_per_call.max(1)).clamp(1, REUSED_CALLS_PER_INSTANCE)
}

/// Runs `input` `calls` times on reused instances of `policy` and returns
/// each call's duration. Each instance serves up to
/// [`REUSED_CALLS_PER_INSTANCE`] calls (fewer for big bodies) and is then
/// replaced, untimed: host calls' buffers stay in guest memory until the
/// instance goes, so one instance would run out of memory on big bodies.
pub fn time_reused_instance(
    policy: &CompiledPolicy,
    engine: &SandboxEngine,
    input: &CallInput,
    calls: usize,
) -> Result<Vec<Duration>, SandboxError> {
    let mut durations = Vec::with_capacity(calls);
    let per_instance = calls_per_instance(input);
    while durations.len() < calls {
        let (mut store, bindings) = policy.instantiate(engine)?;
        for _ in 0..per_instance.min(calls - durations.len()) {
            let started = Instant::now();
            policy.run(engine, &mut store, &bindings, input.clone())?;
            durations.push(started.elapsed());
        }
    }
    Ok(durations)
}
