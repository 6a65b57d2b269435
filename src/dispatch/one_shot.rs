//! One call of one policy through a dispatcher of its own: how the CLI
//! (`policy-host run`, `bench inproc`'s input check) runs a call on the
//! server's path — input caps, phase checks, the same errors — without a
//! server.

use std::sync::Arc;

use super::caps::InputCaps;
use super::dispatcher::{Dispatcher, Invocation};
use super::error::CallError;
use super::registry::PolicyRegistry;
use super::worker_options::WorkerOptions;
use crate::contract::{CallInput, CallOutput};
use crate::sandbox::{CompiledPolicy, SandboxEngine};

/// Runs `input` once on `policy` (served as `name` `version`) through a
/// dispatcher with one worker, nothing made ahead and the server's default
/// input caps. Blocks until the call ends.
pub fn call_once(
    engine: Arc<SandboxEngine>,
    (name, version): (&str, &str),
    policy: Arc<CompiledPolicy>,
    input: CallInput,
) -> Result<CallOutput, CallError> {
    let mut registry = PolicyRegistry::new();
    registry
        .insert(name, version, policy)
        .map_err(|error| CallError::Internal(error.to_string()))?;
    let workers = WorkerOptions {
        count: 1,
        make_ahead: false,
        wake_slice: None,
    };
    let dispatcher = Dispatcher::new(engine, registry, workers, InputCaps::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|error| CallError::Internal(format!("starting a runtime: {error}")))?;
    runtime.block_on(dispatcher.execute(Invocation::of("one-shot", name, version, input)))
}
