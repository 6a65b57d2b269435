//! The one error a policy call can end with, as dispatch sees it: the
//! sandbox's own failures wrapped whole, plus what dispatch itself refuses
//! (no such policy or phase, input over the caps, the host overloaded, the
//! policy's breaker open). The transport names each on the wire
//! (`crate::transport::status`); [`CallError::kind`] is the name metrics and
//! logs use.

use std::time::Duration;

use crate::contract::UnknownPhase;
use crate::sandbox::SandboxError;

/// Why a policy call produced no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No loaded policy matches the name and version (nor its major version).
    #[error("policy {name} {version} is not loaded (nor any {major} release)")]
    PolicyNotFound {
        /// Requested name.
        name: String,
        /// Requested version.
        version: String,
        /// The major version the lookup fell back to.
        major: String,
    },
    /// The phase name is not one the contract defines.
    #[error(transparent)]
    UnknownPhase(#[from] UnknownPhase),
    /// The request cannot be run as given (bad phase/context pairing,
    /// input over the caps); refused before any sandbox ran.
    #[error("invalid request: {0}")]
    InvalidInput(String),
    /// The sandbox ran the call and it failed there.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// Too many calls are waiting; try again later.
    #[error("server overloaded: {0}")]
    Overloaded(String),
    /// The call waited for a worker longer than its policy's deadline, so
    /// it was not run.
    #[error(
        "the call waited {} ms in the queue, past its policy's {} ms deadline, and was not run: the host is overloaded",
        .waited.as_millis(), .timeout.as_millis()
    )]
    QueueTimeout {
        /// How long it waited.
        waited: Duration,
        /// The policy's deadline.
        timeout: Duration,
    },
    /// The policy's circuit breaker is open: its recent calls kept hitting
    /// sandbox limits, so its calls are refused for a while.
    #[error(
        "policy {policy} is refused for {} ms more: its last {failures} calls hit sandbox limits (circuit breaker open)",
        .retry_in.as_millis()
    )]
    CircuitOpen {
        /// `name@version` of the policy.
        policy: String,
        /// The failures in a row that opened it.
        failures: u32,
        /// Time left before a trial call.
        retry_in: Duration,
    },
    /// The call's encoded result is bigger than the client accepts.
    #[error(
        "the policy's result is {size} bytes, over the {cap}-byte response cap (the client would reject it)"
    )]
    ResponseTooLarge {
        /// The encoded size.
        size: usize,
        /// The cap.
        cap: usize,
    },
    /// A fault in the host itself.
    #[error("internal error: {0}")]
    Internal(String),
}

impl CallError {
    /// The outcome's name in metrics and logs: one per cause, so that a
    /// deadline and a queue wait, or a raise and a wire-level
    /// `execution_error`, stay apart.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::PolicyNotFound { .. } => "policy_not_found",
            CallError::UnknownPhase(_) => "unknown_phase",
            CallError::InvalidInput(_) => "invalid_request",
            CallError::Sandbox(error) => error.kind(),
            CallError::Overloaded(_) => "overloaded",
            CallError::QueueTimeout { .. } => "queue_timeout",
            CallError::CircuitOpen { .. } => "circuit_open",
            CallError::ResponseTooLarge { .. } => "response_too_large",
            CallError::Internal(_) => "internal_error",
        }
    }

    /// The sandbox's failure, when the call got that far.
    pub fn sandbox(&self) -> Option<&SandboxError> {
        match self {
            CallError::Sandbox(error) => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_keep_causes_apart() {
        let deadline = CallError::from(SandboxError::DeadlineExceeded {
            timeout: Duration::from_millis(5),
        });
        let queued = CallError::QueueTimeout {
            waited: Duration::from_millis(6),
            timeout: Duration::from_millis(5),
        };
        assert_eq!(deadline.kind(), "deadline_exceeded");
        assert_eq!(queued.kind(), "queue_timeout");
        assert_eq!(deadline.to_string(), "policy exceeded its 5 ms deadline");
        assert!(deadline.sandbox().is_some() && queued.sandbox().is_none());
        let unknown = CallError::from(UnknownPhase("x".into()));
        assert_eq!(
            unknown.to_string(),
            "unknown phase \"x\": expected \"on_request\" or \"on_response\""
        );
    }
}
