//! The dispatcher: validates a call, finds its policy, admits it onto a
//! sandbox worker thread and returns the result.
//!
//! Policy code never runs on the async reactor: [`Dispatcher::submit`]
//! validates a call and queues it for the worker pool (as many threads as
//! the engine has instance slots) in submission order; the returned
//! [`PendingCall`] resolves with the result.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;

use super::ahead::SandboxWorker;
use super::workers::WorkerPool;

use super::registry::{PolicyRegistry, major_version};
use super::resident::PolicyEntry;
use crate::call::{
    CallInput, CallOutput, Exchange, JsonObject, Phase, PolicyMetadata, SharedContext,
};
use crate::error::CallError;
use crate::sandbox::SandboxEngine;

/// Caps on what one call may carry, checked before any sandbox work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputCaps {
    /// Total body bytes (request plus response).
    pub max_body_bytes: usize,
    /// Header entries across every header map.
    pub max_headers: usize,
    /// Bytes of header names and values together.
    pub max_header_bytes: usize,
    /// Bytes of params and shared metadata as JSON.
    pub max_json_bytes: usize,
}

impl Default for InputCaps {
    /// 16 MiB of body (a guest must hold a body in its 64 MiB memory to read
    /// it), 1,024 headers / 1 MiB of header text, 1 MiB of params+metadata JSON.
    fn default() -> Self {
        InputCaps {
            max_body_bytes: 16 * 1024 * 1024,
            max_headers: 1024,
            max_header_bytes: 1024 * 1024,
            max_json_bytes: 1024 * 1024,
        }
    }
}

/// How many sandbox worker threads run calls, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerOptions {
    /// Worker threads: calls that run at the same time.
    pub count: usize,
    /// Whether an idle worker instantiates the policy it ran last ahead of
    /// its next call (see [`super::ahead`]).
    pub make_ahead: bool,
    /// The time slice a worker asks for before sleeping at light load, so
    /// that it runs as soon as a call wakes it ([`super::workers`]); `None`
    /// keeps the kernel's default.
    pub wake_slice: Option<Duration>,
}

/// The default [`WorkerOptions::wake_slice`]: the shortest the kernel
/// grants. A worker woken with it preempts a default-slice thread (another
/// worker's after-call work) at once.
pub const DEFAULT_WAKE_SLICE: Duration = Duration::from_micros(100);

impl WorkerOptions {
    /// `count` workers that instantiate ahead when idle and use the default
    /// wake slice.
    pub fn new(count: usize) -> Self {
        WorkerOptions {
            count,
            make_ahead: true,
            wake_slice: Some(DEFAULT_WAKE_SLICE),
        }
    }
}

/// One call as the transport hands it over, before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
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

/// Routes calls to policies and runs them on worker threads.
pub struct Dispatcher {
    registry: Arc<PolicyRegistry>,
    workers: WorkerPool<SandboxWorker>,
    caps: InputCaps,
    in_flight: Arc<InFlight>,
}

/// Counts calls admitted past validation (waiting for a worker or running).
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
}

/// Decrements the in-flight count when a call ends, however it ends.
struct InFlightGuard(Arc<InFlight>);

impl InFlight {
    fn enter(self: &Arc<Self>) -> InFlightGuard {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        InFlightGuard(self.clone())
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Dispatcher {
    /// A dispatcher running at most `workers.count` calls at once.
    pub fn new(
        engine: Arc<SandboxEngine>,
        registry: PolicyRegistry,
        workers: WorkerOptions,
        caps: InputCaps,
    ) -> Self {
        let pool = WorkerPool::new(workers.count, workers.wake_slice, |_| {
            SandboxWorker::new(engine.clone(), workers.make_ahead)
        });
        Dispatcher {
            registry: Arc::new(registry),
            workers: pool,
            caps,
            in_flight: Arc::default(),
        }
    }

    /// Calls currently admitted (waiting for a worker or running).
    pub fn in_flight(&self) -> usize {
        self.in_flight.now.load(Ordering::SeqCst)
    }

    /// The most calls ever admitted at once.
    pub fn peak_in_flight(&self) -> usize {
        self.in_flight.peak.load(Ordering::SeqCst)
    }

    /// How many policies are servable (in memory or loaded on first use).
    pub fn policy_count(&self) -> usize {
        self.registry.len()
    }

    /// The registry of servable policies.
    pub fn registry(&self) -> &Arc<PolicyRegistry> {
        &self.registry
    }

    /// Validates and runs one call.
    pub async fn execute(&self, invocation: Invocation) -> Result<CallOutput, CallError> {
        self.submit(invocation)?.await
    }

    /// Validates a call and queues it; calls start in the order they were
    /// submitted. Dropping the returned [`PendingCall`] before a worker takes
    /// the call cancels it.
    pub fn submit(&self, invocation: Invocation) -> Result<PendingCall, CallError> {
        let (entry, input) = self.validate(invocation)?;
        let in_flight = self.in_flight.enter();
        let registry = self.registry.clone();
        let result = self.workers.submit(move |worker: &mut SandboxWorker| {
            // A cold policy is loaded here, on the worker, and the call waits.
            let policy = registry.resolve(&entry).map_err(|error| {
                CallError::Internal(format!("loading {}: {error}", entry.label()))
            })?;
            check_phase(&policy, input.phase)?;
            worker.call(&policy, input)
        });
        Ok(PendingCall {
            result,
            _in_flight: in_flight,
        })
    }

    fn validate(&self, invocation: Invocation) -> Result<(Arc<PolicyEntry>, CallInput), CallError> {
        let phase: Phase = invocation
            .phase
            .parse()
            .map_err(|_| CallError::UnknownPhase(invocation.phase.clone()))?;
        let policy = self
            .registry
            .lookup(&invocation.policy_name, &invocation.policy_version)
            .ok_or_else(|| CallError::PolicyNotFound {
                name: invocation.policy_name.clone(),
                version: invocation.policy_version.clone(),
                major: major_version(&invocation.policy_version).to_string(),
            })?
            .clone();
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
        if let Some(loaded) = policy.if_loaded() {
            check_phase(&loaded, phase)?;
        }
        let input = CallInput {
            phase,
            exchange,
            shared: invocation.shared,
            policy: invocation.policy,
            params: invocation.params,
        };
        check_caps(&input, &self.caps)?;
        Ok((policy, input))
    }
}

/// A queued call; resolves with its result.
pub struct PendingCall {
    result: oneshot::Receiver<Result<CallOutput, CallError>>,
    _in_flight: InFlightGuard,
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
fn check_phase(policy: &crate::sandbox::CompiledPolicy, phase: Phase) -> Result<(), CallError> {
    if policy.implements(phase) {
        return Ok(());
    }
    Err(CallError::PhaseNotImplemented {
        policy: policy.label().to_string(),
        phase,
    })
}

fn context_name(phase: Phase) -> &'static str {
    match phase {
        Phase::OnRequest => "request_context",
        Phase::OnResponse => "response_context",
    }
}

fn headers_of(exchange: &Exchange) -> Vec<&crate::call::Headers> {
    match exchange {
        Exchange::Request(view) => vec![&view.headers],
        Exchange::Response(view) => vec![&view.request_headers, &view.response_headers],
    }
}

/// Rejects inputs over the caps with a message naming the cap.
pub fn check_caps(input: &CallInput, caps: &InputCaps) -> Result<(), CallError> {
    let too_big = |what: &str, size: usize, cap: usize| {
        Err(CallError::InvalidInput(format!(
            "{what} is {size} bytes, over the {cap}-byte cap"
        )))
    };
    let body = input.body_bytes();
    if body > caps.max_body_bytes {
        return too_big("the body", body, caps.max_body_bytes);
    }
    let maps = headers_of(&input.exchange);
    let count: usize =
        maps.iter().map(|map| map.len()).sum::<usize>() + input.shared.auth_context.len();
    if count > caps.max_headers {
        return Err(CallError::InvalidInput(format!(
            "{count} headers, over the cap of {}",
            caps.max_headers
        )));
    }
    let header_bytes: usize = maps
        .iter()
        .flat_map(|map| map.iter())
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if header_bytes > caps.max_header_bytes {
        return too_big("header text", header_bytes, caps.max_header_bytes);
    }
    let json_bytes = json_size(&input.params) + json_size(&input.shared.metadata);
    if json_bytes > caps.max_json_bytes {
        return too_big("params and metadata", json_bytes, caps.max_json_bytes);
    }
    Ok(())
}

fn json_size(object: &JsonObject) -> usize {
    serde_json::to_vec(object).map_or(usize::MAX, |bytes| bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::RequestView;

    fn input(body: usize, headers: usize) -> CallInput {
        let mut view = RequestView {
            body: Some(vec![0u8; body].into()),
            ..Default::default()
        };
        for index in 0..headers {
            view.headers.insert(format!("h{index}"), "v".into());
        }
        CallInput {
            exchange: Exchange::Request(view),
            ..CallInput::placeholder()
        }
    }

    #[test]
    fn caps_reject_oversized_inputs_with_a_clear_message() {
        let caps = InputCaps {
            max_body_bytes: 10,
            max_headers: 2,
            ..Default::default()
        };
        assert!(check_caps(&input(10, 2), &caps).is_ok());
        let error = check_caps(&input(11, 0), &caps).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid request: the body is 11 bytes, over the 10-byte cap"
        );
        assert_eq!(error.error_type(), "invalid_request");
        assert!(
            check_caps(&input(0, 3), &caps)
                .unwrap_err()
                .to_string()
                .contains("3 headers")
        );
    }
}
