//! A policy loaded into the engine, and the fresh-sandbox call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::Store;

use super::bindings::{Policy, PolicyPre};
use super::engine::SandboxEngine;
use super::error::SandboxError;
use super::failure::{self, StoreFacts};
use super::limits::Limits;
use super::shared::{Overrides, PolicyCode};
use super::state::{HostState, PolicyFiles};
use crate::bundle::Mount;
use crate::contract::{
    CallInput, CallOutput, CallStats, Entry, GuestDescription, Phase, guest_json, micros,
};

/// The wall-clock bound on making an instance ready (instantiation and the
/// first export's setup). Fuel still bounds its CPU; this only keeps a
/// machine busy with other work from failing a load or a call before the
/// policy's code has started.
pub const SETUP_DEADLINE: Duration = Duration::from_secs(10);

/// How long a load-time check waits for a free pool slot.
const POOL_WAIT: Duration = Duration::from_secs(30);

/// A policy ready to run: its pre-linked component and its limits.
pub struct CompiledPolicy {
    label: Arc<str>,
    pre: PolicyPre<HostState>,
    limits: Limits,
    description: GuestDescription,
    files: PolicyFiles,
    overrides: Option<Overrides>,
}

impl CompiledPolicy {
    /// Links `code` and checks it in one throwaway instance: that it
    /// fits the engine's pool, within `limits`, and what phases it has.
    /// Every instance gets `mounts` (the policy's own files) read-only,
    /// opened here once.
    pub fn new(
        engine: &SandboxEngine,
        code: PolicyCode,
        label: &str,
        limits: Limits,
        mounts: Vec<Mount>,
    ) -> Result<Self, LoadError> {
        let instance_pre = engine
            .linker()
            .instantiate_pre(&code.component)
            .map_err(LoadError::link)?;
        let pre = PolicyPre::new(instance_pre).map_err(LoadError::link)?;
        let files =
            PolicyFiles::open(&mounts).map_err(|error| LoadError::Files(format!("{error:#}")))?;
        let mut policy = CompiledPolicy {
            label: Arc::from(label),
            pre,
            limits,
            description: GuestDescription {
                phases: Vec::new(),
                entry: Entry::Functions,
            },
            files,
            overrides: code.overrides,
        };
        policy.description = policy.describe(engine)?;
        Ok(policy)
    }

    /// `name@version`, as the policy appears in logs.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether this policy runs on the runtime shared by every policy of
    /// its toolchain (else on a compiled copy of its own).
    pub fn on_shared_runtime(&self) -> bool {
        self.overrides.is_some()
    }

    /// How many bytes of its snapshot are mapped from another policy's
    /// image instead of its own (pages both have, kept once).
    pub fn shared_image_bytes(&self) -> usize {
        self.overrides
            .as_ref()
            .map_or(0, Overrides::shared_image_bytes)
    }

    /// How many bytes of its snapshot, those that differ from the image it
    /// shares pages with, are kept in memory for resets (none when it
    /// shares few).
    pub fn image_bytes_in_memory(&self) -> usize {
        self.overrides
            .as_ref()
            .map_or(0, Overrides::image_bytes_in_memory)
    }

    /// The limits every call of this policy runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// What the guest glue reported about the module.
    pub fn description(&self) -> &GuestDescription {
        &self.description
    }

    /// Whether the module defines `phase`.
    pub fn implements(&self, phase: Phase) -> bool {
        self.description.phases.contains(&phase)
    }

    fn describe(&self, engine: &SandboxEngine) -> Result<GuestDescription, LoadError> {
        let (mut store, policy) = self.instantiate_when_free(engine)?;
        let json = call_describe(&mut store, &policy)
            .map_err(|error| LoadError::Check(format!("{error:#}")))?;
        GuestDescription::from_json(&json).map_err(LoadError::Check)
    }

    /// [`CompiledPolicy::instantiate`], waiting while every pool slot is in
    /// use (each is freed when its call ends) for up to [`POOL_WAIT`].
    fn instantiate_when_free(
        &self,
        engine: &SandboxEngine,
    ) -> Result<(Store<HostState>, Policy), LoadError> {
        let started = Instant::now();
        loop {
            match self.instantiate(engine) {
                Err(SandboxError::PoolFull(why)) if started.elapsed() < POOL_WAIT => {
                    tracing::debug!(policy = %self.label, "load-time check waits for a pool slot: {why}");
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(SandboxError::PoolFull(why)) => return Err(LoadError::PoolFull(why)),
                other => return other.map_err(|error| LoadError::Check(error.to_string())),
            }
        }
    }

    /// A new store and instance; the call's input comes later
    /// ([`HostState::begin_call`]). Instantiating and the first export's
    /// setup are the host's work, not the policy's, so they run under
    /// [`SETUP_DEADLINE`] (or the policy's deadline if longer); the call's
    /// own deadline starts when the call does.
    pub(super) fn instantiate(
        &self,
        engine: &SandboxEngine,
    ) -> Result<(Store<HostState>, Policy), SandboxError> {
        let state = HostState::new(&self.limits, self.label.clone(), &self.files);
        let mut store = Store::new(engine.engine(), state);
        if let Some(overrides) = &self.overrides {
            overrides.apply(&mut store);
        }
        store.limiter(|state| &mut state.limiter);
        store.set_max_component_handles(crate::sandbox::state::MAX_COMPONENT_HANDLES);
        store.set_hostcall_fuel(crate::sandbox::state::MAX_HOSTCALL_BYTES);
        store.set_fuel(self.limits.fuel).map_err(internal)?;
        let setup = self.limits.timeout.max(SETUP_DEADLINE);
        engine.arm_deadline(&mut store, setup).map_err(internal)?;
        match self.pre.instantiate(&mut store) {
            Ok(policy) => Ok((store, policy)),
            Err(error) => Err(failure::from_trap(&error, &self.limits, &facts(&store))),
        }
    }

    /// Runs one call on a new store and a never-used instance, dropped
    /// before this returns.
    pub fn call(
        &self,
        engine: &SandboxEngine,
        input: CallInput,
    ) -> Result<CallOutput, SandboxError> {
        let started = Instant::now();
        let ready = self.prepare(engine)?;
        let instantiated = started.elapsed();
        let (result, spent) = self.call_ready(engine, ready, input);
        drop(spent);
        result.map(|mut output| {
            output.stats.record_instantiation(Some(instantiated));
            output
        })
    }

    /// Creates a store and a never-used instance of this policy, ready for
    /// [`CompiledPolicy::call_ready`]. Nothing of any call is in it: the
    /// call's input, fuel and deadline are set when the call begins, so an
    /// instance may be made ahead of time (off the call's critical path).
    pub fn prepare(&self, engine: &SandboxEngine) -> Result<ReadyInstance, SandboxError> {
        let (mut store, bindings) = self.instantiate(engine)?;
        self.run_first_export_setup(&mut store, &bindings)?;
        Ok(ReadyInstance {
            store,
            bindings,
            policy: self.label.clone(),
        })
    }

    /// Calls the component's `describe` export once, before the instance
    /// gets its call. The first export call on a fresh instance does
    /// componentize-py's one-time setup (environment, arguments, and the
    /// reseed of Python's `random`, which the glue defers to its first
    /// draw; ~26 k instructions); doing it here takes that off the
    /// critical path when the instance is made ahead. No policy code and
    /// no call input are involved: `describe` returns what the glue found
    /// at build time, so the instance is still unused by any call.
    fn run_first_export_setup(
        &self,
        store: &mut Store<HostState>,
        bindings: &Policy,
    ) -> Result<(), SandboxError> {
        match call_describe(store, bindings) {
            Ok(_) => Ok(()),
            Err(error) => Err(failure::from_trap(&error, &self.limits, &facts(store))),
        }
    }

    /// Runs one call on `ready` (an instance of this policy from
    /// [`CompiledPolicy::prepare`]) and hands back the used store, whose
    /// drop (resetting its pooled memory) the caller may defer until the
    /// result is on its way.
    ///
    /// # Panics
    /// If `ready` was prepared for another policy.
    pub fn call_ready(
        &self,
        engine: &SandboxEngine,
        ready: ReadyInstance,
        input: CallInput,
    ) -> (Result<CallOutput, SandboxError>, SpentInstance) {
        assert!(
            Arc::ptr_eq(&ready.policy, &self.label),
            "an instance of {} was handed to {}",
            ready.policy,
            self.label
        );
        let ReadyInstance {
            mut store,
            bindings,
            ..
        } = ready;
        let result = self.run(engine, &mut store, &bindings, input);
        (result, SpentInstance { _store: store })
    }

    pub(super) fn run(
        &self,
        engine: &SandboxEngine,
        store: &mut Store<HostState>,
        bindings: &Policy,
        input: CallInput,
    ) -> Result<CallOutput, SandboxError> {
        let started = Instant::now();
        let phase = input.phase;
        store
            .data_mut()
            .begin_call(input, &self.limits, self.label.clone());
        store.set_fuel(self.limits.fuel).map_err(internal)?;
        engine
            .arm_deadline(store, self.limits.timeout)
            .map_err(internal)?;
        let handler = bindings.policy_host_policy_handler();
        let result = match phase {
            Phase::OnRequest => handler.call_on_request(&mut *store),
            Phase::OnResponse => handler.call_on_response(&mut *store),
        };
        let facts = facts(store);
        report_dropped_logs(store);
        let outcome = match result {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(failure)) => {
                return Err(failure::from_guest(
                    failure,
                    &self.label,
                    phase,
                    &self.limits,
                    &facts,
                ));
            }
            Err(error) => return Err(failure::from_trap(&error, &self.limits, &facts)),
        };
        let action = guest_json::parse_action(&outcome.action, outcome.body, phase)
            .map_err(SandboxError::InvalidResult)?;
        let updated_metadata =
            guest_json::parse_metadata(&outcome.metadata).map_err(SandboxError::InvalidResult)?;
        Ok(CallOutput {
            action,
            updated_metadata,
            stats: self.stats(store, started),
        })
    }

    fn stats(&self, store: &Store<HostState>, started: Instant) -> CallStats {
        let remaining = store.get_fuel().unwrap_or(0);
        CallStats {
            fuel_used: self.limits.fuel.saturating_sub(remaining),
            peak_memory_bytes: store.data().limiter.peak_memory() as u64,
            duration_us: micros(started.elapsed()),
            log_lines: store.data().call.log_lines(),
            instantiate_us: 0,
            made_ahead: false,
        }
    }
}

/// A store holding a never-used instance of one policy, made by
/// [`CompiledPolicy::prepare`] and spent by [`CompiledPolicy::call_ready`].
pub struct ReadyInstance {
    store: Store<HostState>,
    bindings: Policy,
    /// The owning policy's label; each `CompiledPolicy` allocates its own,
    /// so the pointer identifies the policy.
    policy: Arc<str>,
}

/// A store after its one call. Dropping it resets and returns its pooled
/// memory and instance slots (the bulk of a call's teardown cost), so a
/// caller may drop it after the result is on its way. Never reused.
#[must_use = "dropping a spent instance is where its pooled slots are reset"]
pub struct SpentInstance {
    _store: Store<HostState>,
}

/// Calls the guest's `describe` export: what the glue found at build time,
/// as JSON. Read once when a policy is loaded, and called on every new
/// instance for the first-export setup it triggers.
fn call_describe(store: &mut Store<HostState>, bindings: &Policy) -> wasmtime::Result<String> {
    bindings.policy_host_policy_handler().call_describe(store)
}

fn facts(store: &Store<HostState>) -> StoreFacts {
    StoreFacts {
        memory_refused: store.data().limiter.memory_refused(),
        stderr_tail: store.data().stderr_tail(),
    }
}

fn report_dropped_logs(store: &Store<HostState>) {
    let call = &store.data().call;
    if call.log_dropped() > 0 {
        tracing::warn!(
            target: "policy",
            policy = call.policy_label(),
            request_id = call.request_id(),
            dropped = call.log_dropped(),
            "policy log lines dropped: over the per-call limit"
        );
    }
}

fn internal(error: wasmtime::Error) -> SandboxError {
    SandboxError::Internal(format!("{error:#}"))
}

/// Why a component could not be made ready to run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The component's imports or exports do not match this host.
    #[error("component does not link against this host: {0}")]
    Link(String),
    /// The policy's own directories could not be opened.
    #[error("the policy's files could not be opened: {0}")]
    Files(String),
    /// The component linked but could not run its description call.
    #[error("component failed its load-time check: {0}")]
    Check(String),
    /// Every pool slot stayed in use while the load-time check waited for
    /// one: the host was busy, the component may be fine.
    #[error("no sandbox slot came free for the load-time check ({0})")]
    PoolFull(String),
}

impl LoadError {
    /// Whether loading again later may succeed (the component itself was
    /// not at fault).
    pub fn is_transient(&self) -> bool {
        matches!(self, LoadError::PoolFull(_))
    }

    fn link(error: wasmtime::Error) -> Self {
        LoadError::Link(format!("{error:#}"))
    }
}
