//! How a sandboxed call can end without a result: a limit it hit, a trap,
//! the guest's own failure, or a fault of the host around it. The names are
//! the sandbox's; dispatch wraps them (`crate::dispatch::CallError`) and the
//! transport names them on the wire.

use std::time::Duration;

use crate::contract::Phase;

/// Why the sandbox produced no result for a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
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
    /// The guest could not read the input it was given.
    #[error("invalid request: {0}")]
    InvalidInput(String),
    /// The policy returned something that is not a valid action.
    #[error("policy returned an invalid result: {0}")]
    InvalidResult(String),
    /// The guest trapped for a reason other than a limit (stack overflow,
    /// `unreachable`, a fault in the Python runtime).
    #[error("policy crashed its sandbox: {0}")]
    Trapped(String),
    /// Every slot of the engine's instance pool was in use: the host is
    /// busier than it was sized for. Nothing of the policy ran.
    #[error("every sandbox slot is in use ({0}); try again")]
    PoolFull(String),
    /// A fault in the host around the guest (opening the policy's files,
    /// an engine error).
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

impl SandboxError {
    /// The failure's name in metrics and logs (dispatch's
    /// `CallError::kind` for a call that failed in the sandbox).
    pub fn kind(&self) -> &'static str {
        match self {
            SandboxError::PhaseNotImplemented { .. } => "phase_not_implemented",
            SandboxError::PolicyRaised { .. } => "policy_raised",
            SandboxError::FuelExhausted { .. } => "fuel_exhausted",
            SandboxError::DeadlineExceeded { .. } => "deadline_exceeded",
            SandboxError::MemoryLimit { .. } => "memory_limit",
            SandboxError::InvalidInput(_) => "invalid_request",
            SandboxError::InvalidResult(_) => "invalid_result",
            SandboxError::Trapped(_) => "sandbox_trap",
            SandboxError::PoolFull(_) => "pool_full",
            SandboxError::Internal(_) => "internal_error",
        }
    }

    /// Whether the call hit one of its sandbox limits or crashed the
    /// sandbox: what the circuit breaker counts against a policy.
    pub fn is_limit_or_crash(&self) -> bool {
        matches!(
            self,
            SandboxError::DeadlineExceeded { .. }
                | SandboxError::FuelExhausted { .. }
                | SandboxError::MemoryLimit { .. }
                | SandboxError::Trapped(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_location_and_the_limit() {
        let raised = SandboxError::PolicyRaised {
            kind: "KeyError".into(),
            message: "'x'".into(),
            location: String::new(),
            traceback: String::new(),
        };
        assert_eq!(raised.to_string(), "policy raised KeyError: 'x'");
        let located = SandboxError::PolicyRaised {
            kind: "KeyError".into(),
            message: "'x'".into(),
            location: "policy.py:12".into(),
            traceback: "Traceback ...".into(),
        };
        assert_eq!(
            located.to_string(),
            "policy raised KeyError: 'x' (policy.py:12)"
        );
        let timeout = SandboxError::DeadlineExceeded {
            timeout: Duration::from_millis(250),
        };
        assert_eq!(timeout.to_string(), "policy exceeded its 250 ms deadline");
        let memory = SandboxError::MemoryLimit {
            limit_bytes: 64 * 1024 * 1024,
        };
        assert_eq!(
            memory.to_string(),
            "policy exceeded its memory limit of 64 MiB"
        );
        let fuel = SandboxError::FuelExhausted {
            budget: 1000,
            approx_ms: 0,
        };
        assert!(fuel.to_string().contains("limits.fuel"));
        assert!(fuel.is_limit_or_crash() && !raised.is_limit_or_crash());
    }
}
