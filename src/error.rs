//! The one error type a policy call can end with.
//!
//! The sandbox produces the execution variants, dispatch adds lookup and
//! admission failures, and the transport turns each into the wire's
//! `ExecutionError` with [`CallError::error_type`] as its `error_type`.

use std::time::Duration;

use crate::call::Phase;

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
    #[error("unknown phase {0:?}: expected \"on_request\" or \"on_response\"")]
    UnknownPhase(String),
    /// The policy module does not define this phase.
    #[error("policy {policy} does not implement {phase}")]
    PhaseNotImplemented {
        /// `name@version` of the policy.
        policy: String,
        /// The phase that was called.
        phase: Phase,
    },
    /// Policy code raised a Python exception. The message (one line) names
    /// the policy's own frame; the traceback is for the host log and
    /// `policy-host run`, never the wire.
    #[error("policy raised {kind}: {message}{}", at(location))]
    PolicyRaised {
        /// The exception class name.
        kind: String,
        /// `str(exception)`, on one line.
        message: String,
        /// `file:line` of the innermost frame in the policy's own files
        /// (empty when unknown).
        location: String,
        /// The formatted Python traceback.
        traceback: String,
    },
    /// The call used up its fuel budget.
    #[error(
        "policy ran out of fuel (budget {budget} units, about {approx_ms} ms of CPU): raise limits.fuel or make the policy cheaper"
    )]
    FuelExhausted {
        /// The budget it had.
        budget: u64,
        /// The budget in approximate CPU milliseconds.
        approx_ms: u64,
    },
    /// The call ran past its deadline.
    #[error("policy exceeded its {} ms deadline", .timeout.as_millis())]
    DeadlineExceeded {
        /// The deadline it had.
        timeout: Duration,
    },
    /// The guest needed more memory than its cap.
    #[error("policy exceeded its memory limit of {} MiB", .limit_bytes / (1024 * 1024))]
    MemoryLimit {
        /// The cap in bytes.
        limit_bytes: u64,
    },
    /// The request cannot be run as given (bad phase/context pairing,
    /// oversized input, malformed data).
    #[error("invalid request: {0}")]
    InvalidInput(String),
    /// The policy returned something that is not a valid action.
    #[error("policy returned an invalid result: {0}")]
    InvalidResult(String),
    /// The guest trapped for a reason other than a limit (stack overflow,
    /// `unreachable`, a fault in the Python runtime).
    #[error("policy crashed its sandbox: {0}")]
    Trapped(String),
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
    /// A fault in the host itself.
    #[error("internal error: {0}")]
    Internal(String),
}

/// ` (policy.py:12)`, or nothing for an unknown location.
fn at(location: &str) -> String {
    if location.is_empty() {
        String::new()
    } else {
        format!(" ({location})")
    }
}

impl CallError {
    /// The `error_type` the wire contract carries (SPEC §1): the old
    /// executor's `execution_error` and `timeout` where they apply, clear
    /// names for the rest.
    pub fn error_type(&self) -> &'static str {
        match self {
            CallError::PolicyNotFound { .. } => "policy_not_found",
            CallError::UnknownPhase(_) => "unknown_phase",
            CallError::PhaseNotImplemented { .. } => "phase_not_implemented",
            CallError::PolicyRaised { .. } => "execution_error",
            CallError::FuelExhausted { .. } => "fuel_exhausted",
            CallError::DeadlineExceeded { .. } => "timeout",
            CallError::MemoryLimit { .. } => "memory_limit",
            CallError::InvalidInput(_) => "invalid_request",
            CallError::InvalidResult(_) => "invalid_result",
            CallError::Trapped(_) => "sandbox_trap",
            CallError::Overloaded(_) => "overloaded",
            CallError::QueueTimeout { .. } => "timeout",
            CallError::CircuitOpen { .. } => "circuit_open",
            CallError::Internal(_) => "internal_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names_are_kept_for_legacy_cases() {
        let raised = CallError::PolicyRaised {
            kind: "KeyError".into(),
            message: "'x'".into(),
            location: String::new(),
            traceback: String::new(),
        };
        assert_eq!(raised.error_type(), "execution_error");
        assert_eq!(raised.to_string(), "policy raised KeyError: 'x'");
        let located = CallError::PolicyRaised {
            kind: "KeyError".into(),
            message: "'x'".into(),
            location: "policy.py:12".into(),
            traceback: "Traceback ...".into(),
        };
        assert_eq!(
            located.to_string(),
            "policy raised KeyError: 'x' (policy.py:12)"
        );
        let timeout = CallError::DeadlineExceeded {
            timeout: Duration::from_millis(250),
        };
        assert_eq!(timeout.error_type(), "timeout");
        assert_eq!(timeout.to_string(), "policy exceeded its 250 ms deadline");
    }

    #[test]
    fn limit_messages_name_the_limit() {
        let memory = CallError::MemoryLimit {
            limit_bytes: 64 * 1024 * 1024,
        };
        assert_eq!(
            memory.to_string(),
            "policy exceeded its memory limit of 64 MiB"
        );
        assert_eq!(memory.error_type(), "memory_limit");
        let fuel = CallError::FuelExhausted {
            budget: 1000,
            approx_ms: 0,
        };
        assert!(fuel.to_string().contains("limits.fuel"));
    }
}
