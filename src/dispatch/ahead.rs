//! Instances made ahead: what a sandbox worker keeps between calls.
//!
//! Every call still runs on a fresh, never-used instance. What moves is
//! *when* the work around the call happens:
//! - the used store is dropped (its pooled memory reset) after the result has
//!   been sent, not before;
//! - when its queue is empty, a worker instantiates the policy whose call
//!   is likely next ([`super::likely`]: the one policy of a loop, the next
//!   of policies called in turn, a hot tenant), so that call skips
//!   instantiation. Under load the queue is never empty and nothing is made
//!   ahead; a call of another policy drops the ready instance and
//!   instantiates its own.
//!
//! A ready instance holds nothing of any call: its input, fuel and deadline
//! are given when the call begins ([`CompiledPolicy::call_ready`]).
//!
//! A worker does not keep a policy alive: the recent calls it chooses from
//! and the owner of its ready instance are weak references. Once the
//! registry drops a policy (unloaded past the resident bound, or replaced
//! by a reload) and its last call has ended, the next
//! [`WorkerState::idle`] drops that policy's ready instance and never
//! chooses it again; the dispatcher wakes idle workers for this when it
//! drops one.

use std::sync::{Arc, Weak};
use std::time::Instant;

use super::likely::LikelyNext;
use super::workers::WorkerState;
use crate::contract::{CallInput, CallOutput};
use crate::dispatch::CallError;
use crate::sandbox::{CompiledPolicy, ReadyInstance, SandboxEngine, SpentInstance};

/// One sandbox worker's state.
pub struct SandboxWorker {
    engine: Arc<SandboxEngine>,
    make_ahead: bool,
    /// This worker's index among the pool's, for `likely`.
    index: usize,
    /// The pool's recent calls, shared by its workers.
    likely: Arc<LikelyNext<CompiledPolicy>>,
    ready: Option<(Weak<CompiledPolicy>, ReadyInstance)>,
    spent: Option<SpentInstance>,
}

impl SandboxWorker {
    /// Worker `index` on `engine`, choosing what to make ahead from the
    /// calls noted in `likely` (shared by the pool's workers); `make_ahead`
    /// turns instantiating ahead on.
    pub fn new(
        engine: Arc<SandboxEngine>,
        make_ahead: bool,
        index: usize,
        likely: Arc<LikelyNext<CompiledPolicy>>,
    ) -> Self {
        SandboxWorker {
            engine,
            make_ahead,
            index,
            likely,
            ready: None,
            spent: None,
        }
    }

    /// Runs one call of `policy` on a never-used instance: the one made
    /// ahead if it is this policy's, else a new one. The used store is kept
    /// until [`WorkerState::after_job`].
    pub fn call(
        &mut self,
        policy: &Arc<CompiledPolicy>,
        input: CallInput,
    ) -> Result<CallOutput, CallError> {
        let started = Instant::now();
        let (ready, made_ahead) = match self.ready.take() {
            Some((owner, ready)) if std::ptr::eq(owner.as_ptr(), Arc::as_ptr(policy)) => {
                (ready, true)
            }
            other => {
                // Another policy's instance: dropped first, so a call holds
                // one pooled instance (a load before it may hold a second
                // for its check: `engine::instance_slots`).
                drop(other);
                (policy.prepare(&self.engine)?, false)
            }
        };
        let on_path = (!made_ahead).then(|| started.elapsed());
        self.likely.started(self.index, policy);
        let (result, spent) = policy.call_ready(&self.engine, ready, input);
        self.spent = Some(spent);
        result.map_err(CallError::from).map(|mut output| {
            output.stats.record_instantiation(on_path);
            output
        })
    }
}

impl WorkerState for SandboxWorker {
    fn after_job(&mut self) {
        self.spent = None;
    }

    fn idle(&mut self) {
        let dropped = |(owner, _): &(Weak<CompiledPolicy>, _)| owner.strong_count() == 0;
        if self.ready.as_ref().is_some_and(dropped) {
            self.ready = None;
            self.likely.released(self.index);
        }
        if !self.make_ahead || self.ready.is_some() {
            return;
        }
        let Some(policy) = self.likely.choose(self.index) else {
            return;
        };
        match policy.prepare(&self.engine) {
            Ok(ready) => self.ready = Some((Arc::downgrade(&policy), ready)),
            // The call itself will try again and report the error.
            Err(error) => {
                self.likely.released(self.index);
                tracing::debug!(
                    policy = policy.label(),
                    %error,
                    "instantiating ahead failed"
                )
            }
        }
    }
}
