//! The dispatcher: validates a call, finds its policy, admits it onto a
//! sandbox worker thread and returns the result.
//!
//! Policy code never runs on the async reactor: [`Dispatcher::submit`]
//! validates a call, asks the policy's circuit breaker and the server-wide
//! queue bound ([`super::admission`]) to let it in, and queues it for the
//! worker pool (as many threads as the engine has instance slots) in
//! submission order; the returned [`PendingCall`] resolves with the result.
//! Every outcome goes through [`CallObserver`] (metrics, breaker, log).
//!
//! The registry can be replaced while calls run ([`Dispatcher::swap_registry`]):
//! a call holds the entry it was admitted with, so it finishes on the
//! version it started on.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use tokio::sync::oneshot;

use super::admission::{Admission, Ticket, default_max_queued};
use super::ahead::SandboxWorker;
use super::breaker::{BreakerSettings, Pass};
use super::caps::{InputCaps, check_caps};
use super::metrics::{HostState, Metrics};
use super::observe::{CallObserver, Timing};
use super::registry::{PolicyRegistry, major_version};
use super::resident::{LoadFailure, PolicyEntry};
use super::worker_options::{Likely, Worker, WorkerOptions};
use super::workers::WorkerPool;
use crate::contract::{
    CallInput, CallOutput, Exchange, JsonObject, Phase, PolicyMetadata, SharedContext,
};
use crate::dispatch::CallError;
use crate::sandbox::{CompiledPolicy, SandboxEngine, SandboxError};

/// One call as the transport hands it over, before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The caller's id for the call, for logs.
    pub request_id: String,
    /// Requested policy name.
    pub policy_name: String,
    /// Requested policy version.
    pub policy_version: String,
    /// Requested phase, as sent.
    pub phase: String,
    /// The request or response context, if the request carried one.
    pub exchange: Option<Exchange>,
    /// Shared context.
    pub shared: SharedContext,
    /// Where the policy is attached.
    pub policy: PolicyMetadata,
    /// The policy's params.
    pub params: JsonObject,
}

impl Invocation {
    /// The invocation of `name` `version` with a call input built by the
    /// caller (the CLI, tests): what the transport would hand over for the
    /// same request.
    pub fn of(request_id: &str, name: &str, version: &str, input: CallInput) -> Self {
        Invocation {
            request_id: request_id.to_string(),
            policy_name: name.to_string(),
            policy_version: version.to_string(),
            phase: input.phase.as_str().to_string(),
            exchange: Some(input.exchange),
            shared: input.shared,
            policy: input.policy,
            params: input.params,
        }
    }
}

/// Routes calls to policies and runs them on worker threads.
pub struct Dispatcher {
    registry: RwLock<Arc<PolicyRegistry>>,
    engine: Arc<SandboxEngine>,
    workers: WorkerPool<Worker>,
    /// Which worker holds an instance made ahead of which policy.
    likely: Likely,
    caps: InputCaps,
    admission: Arc<Admission>,
    observer: Arc<CallObserver>,
}

impl Dispatcher {
    /// A dispatcher running at most `workers.count` calls at once, with the
    /// default queue bound, no circuit breaker and no metrics (see the
    /// `with_` methods).
    pub fn new(
        engine: Arc<SandboxEngine>,
        registry: PolicyRegistry,
        workers: WorkerOptions,
        caps: InputCaps,
    ) -> Self {
        let (pool, likely) = workers.start(&engine);
        Dispatcher {
            registry: RwLock::new(Arc::new(registry)),
            engine,
            admission: Admission::new(default_max_queued(pool.size())),
            workers: pool,
            likely,
            caps,
            observer: Arc::new(CallObserver::new(BreakerSettings::off(), None)),
        }
    }

    /// At most `max_queued` calls wait for a worker; more are `overloaded`.
    pub fn with_max_queued(mut self, max_queued: usize) -> Self {
        self.admission = Admission::new(max_queued);
        self
    }

    /// Every policy gets a circuit breaker with `settings` (tightened by the
    /// policy's own), and calls are counted in `metrics` when given.
    pub fn with_observer(
        mut self,
        breaker: BreakerSettings,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        self.observer = Arc::new(CallObserver::new(breaker, metrics));
        self
    }

    /// Calls currently admitted (waiting for a worker or running).
    pub fn in_flight(&self) -> usize {
        self.admission.in_flight()
    }

    /// The most calls ever admitted at once.
    pub fn peak_in_flight(&self) -> usize {
        self.admission.peak_in_flight()
    }

    /// How many policies are servable (in memory or loaded on first use).
    pub fn policy_count(&self) -> usize {
        self.registry().len()
    }

    /// The registry of servable policies now.
    pub fn registry(&self) -> Arc<PolicyRegistry> {
        self.registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Serves `registry` from now on; calls already admitted finish on the
    /// entries they hold.
    pub fn swap_registry(&self, registry: PolicyRegistry) {
        let old = std::mem::replace(
            &mut *self.registry.write().unwrap_or_else(|e| e.into_inner()),
            Arc::new(registry),
        );
        old.retire();
        drop(old);
        self.workers.idle_nudge().nudge();
    }

    /// The metrics, when they are on.
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.observer.metrics()
    }

    /// The metrics in the OpenMetrics text format, refreshed now; `None`
    /// when metrics are off.
    pub fn metrics_text(&self) -> Option<String> {
        let metrics = self.observer.metrics()?;
        let registry = self.registry();
        let pool = self.engine.pool_usage();
        let host = HostState {
            in_flight: self.admission.in_flight(),
            queued: self.admission.queued(),
            busy_workers: self.admission.running(),
            workers: self.workers.size(),
            policies: registry.len(),
            resident: registry.resident(),
            pool_instances: pool.instances,
            pool_memories: pool.memories,
            pool_warm_memories: pool.warm_memories,
        };
        let breakers = registry
            .entries()
            .iter()
            .filter_map(|entry| Some((entry.label(), entry.breaker_if_made()?.state())));
        metrics.refresh(host, breakers);
        Some(metrics.encode())
    }

    /// Validates and runs one call.
    pub async fn execute(&self, invocation: Invocation) -> Result<CallOutput, CallError> {
        self.submit(invocation)?.await
    }

    /// Validates a call and queues it; calls start in the order they were
    /// submitted. Dropping the returned [`PendingCall`] before a worker takes
    /// the call cancels it.
    pub fn submit(&self, invocation: Invocation) -> Result<PendingCall, CallError> {
        let request_id = invocation.request_id.clone();
        let registry = self.registry();
        let (entry, phase) = self.find(&registry, &invocation)?;
        let loaded = entry.if_loaded();
        let (input, pass, ticket) = self.admit(&entry, loaded.as_deref(), phase, invocation)?;
        let observer = self.observer.clone();
        let nudge = self.workers.idle_nudge();
        let drops = registry.drops();
        // Workers with an instance of this policy made ahead.
        let holders = loaded.map(|p| self.likely.holders(&p));
        let holders = holders.unwrap_or_default();
        let result = self
            .workers
            .submit_to(&holders, move |worker: &mut Worker| {
                let result = run_on_worker(
                    worker.get_mut(),
                    &registry,
                    &entry,
                    input,
                    ticket,
                    (&observer, &request_id, pass),
                );
                // Policies were dropped since this call was admitted (perhaps
                // its own, which it held until now): idle workers let go of
                // what they keep of them (`ahead`). This worker does when its
                // queue empties.
                if registry.drops() != drops {
                    drop((registry, entry));
                    nudge.nudge();
                }
                result
            });
        Ok(PendingCall { result })
    }

    /// The entry and phase a call names; a failure is counted as a
    /// rejected call.
    fn find(
        &self,
        registry: &PolicyRegistry,
        call: &Invocation,
    ) -> Result<(Arc<PolicyEntry>, Phase), CallError> {
        let found = call
            .phase
            .parse::<Phase>()
            .map_err(CallError::UnknownPhase)
            .and_then(|phase| {
                let entry = registry
                    .lookup(&call.policy_name, &call.policy_version)
                    .cloned()
                    .ok_or_else(|| CallError::PolicyNotFound {
                        name: call.policy_name.clone(),
                        version: call.policy_version.clone(),
                        major: major_version(&call.policy_version).to_string(),
                    })?;
                Ok((entry, phase))
            });
        found.inspect_err(|error| {
            let asked = format!("{}@{}", call.policy_name, call.policy_version);
            self.observer.rejected(&call.request_id, &asked, error);
        })
    }

    /// Validation, the breaker, then the queue bound; a refusal is counted
    /// against the policy.
    fn admit(
        &self,
        entry: &PolicyEntry,
        loaded: Option<&CompiledPolicy>,
        phase: Phase,
        invocation: Invocation,
    ) -> Result<(CallInput, Pass, Ticket), CallError> {
        let request_id = invocation.request_id.clone();
        let input = self
            .validate(loaded, phase, invocation)
            .inspect_err(|error| {
                self.observer.not_run(entry, &request_id, None, error);
            })?;
        let pass = self.observer.admit(entry, &request_id)?;
        let ticket = self.admission.enter().inspect_err(|error| {
            self.observer.not_run(entry, &request_id, Some(pass), error);
        })?;
        Ok((input, pass, ticket))
    }

    /// Checks the call against its phase, its policy (when `loaded`) and the
    /// input caps.
    fn validate(
        &self,
        loaded: Option<&CompiledPolicy>,
        phase: Phase,
        invocation: Invocation,
    ) -> Result<CallInput, CallError> {
        let exchange = invocation.exchange.ok_or_else(|| {
            CallError::InvalidInput(
                "the request carries neither request_context nor response_context".into(),
            )
        })?;
        if exchange.phase() != phase {
            return Err(CallError::InvalidInput(format!(
                "phase {phase} needs {}, but the request carries {}",
                context_name(phase),
                context_name(exchange.phase())
            )));
        }
        if let Some(loaded) = loaded {
            check_phase(loaded, phase)?;
        }
        let input = CallInput {
            phase,
            exchange,
            shared: invocation.shared,
            policy: invocation.policy,
            params: invocation.params,
        };
        check_caps(&input, &self.caps)?;
        Ok(input)
    }
}

/// The observer, the request id and the breaker pass of a queued call.
type Observed<'a> = (&'a CallObserver, &'a str, Pass);

/// A queued call, once a worker has taken it: load the policy if it is
/// cold, refuse it if it waited past its deadline, run it, observe it.
fn run_on_worker(
    worker: &mut SandboxWorker,
    registry: &PolicyRegistry,
    entry: &PolicyEntry,
    input: CallInput,
    mut ticket: Ticket,
    (observer, request_id, pass): Observed<'_>,
) -> Result<CallOutput, CallError> {
    let waited = ticket.start();
    let mut ran = None;
    let result = registry
        .resolve(entry)
        .map_err(|error| load_error(entry, &error))
        .and_then(|policy| {
            check_phase(&policy, input.phase)?;
            Admission::check_wait(waited, policy.limits().timeout)?;
            let started = Instant::now();
            let result = worker.call(&policy, input);
            ran = Some(started.elapsed());
            result
        });
    observer.finished(entry, request_id, pass, &result, Timing { waited, ran });
    result
}

/// A failed load as the call sees it: the host too busy to load now is
/// `overloaded` (the next call tries again), anything else internal.
fn load_error(entry: &PolicyEntry, failure: &LoadFailure) -> CallError {
    let message = format!("loading {}: {failure}", entry.label());
    if failure.transient {
        CallError::Overloaded(message)
    } else {
        CallError::Internal(message)
    }
}

/// A queued call; resolves with its result.
pub struct PendingCall {
    result: oneshot::Receiver<Result<CallOutput, CallError>>,
}

impl std::future::Future for PendingCall {
    type Output = Result<CallOutput, CallError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.result)
            .poll(cx)
            .map(|received| {
                received.unwrap_or_else(|_| {
                    Err(CallError::Internal("the sandbox worker stopped".into()))
                })
            })
    }
}

/// Refuses a call for a phase the policy does not define.
fn check_phase(policy: &CompiledPolicy, phase: Phase) -> Result<(), CallError> {
    if policy.implements(phase) {
        return Ok(());
    }
    Err(SandboxError::PhaseNotImplemented {
        policy: policy.label().to_string(),
        phase,
    }
    .into())
}

fn context_name(phase: Phase) -> &'static str {
    match phase {
        Phase::OnRequest => "request_context",
        Phase::OnResponse => "response_context",
    }
}
