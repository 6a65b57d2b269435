//! Classifies every way a sandboxed call can fail, in one place.

use wasmtime::Trap;

use super::bindings::Failure;
use super::error::SandboxError;
use super::host::clocks::SleepPastDeadline;
use super::limits::Limits;
use crate::contract::Phase;

/// Fuel Python burns per millisecond on this class of machine (~12 k per µs);
/// used only to explain fuel budgets in error messages.
const FUEL_PER_MS: u64 = 12_000_000;

/// What the store recorded about the call, needed to tell limits apart.
pub struct StoreFacts {
    /// The limiter refused a `memory.grow`.
    pub memory_refused: bool,
    /// The tail of the guest's raw stderr.
    pub stderr_tail: String,
}

fn crashed(what: String, facts: &StoreFacts) -> SandboxError {
    if facts.stderr_tail.is_empty() {
        SandboxError::Trapped(what)
    } else {
        SandboxError::Trapped(format!("{what}; guest stderr: {}", facts.stderr_tail))
    }
}

/// Classifies a trap or host error that ended a call (or its instantiation).
pub fn from_trap(error: &wasmtime::Error, limits: &Limits, facts: &StoreFacts) -> SandboxError {
    if let Some(trap) = error.downcast_ref::<Trap>() {
        match trap {
            Trap::OutOfFuel => return fuel_exhausted(limits),
            Trap::Interrupt => {
                return SandboxError::DeadlineExceeded {
                    timeout: limits.timeout,
                };
            }
            _ if facts.memory_refused => return memory_limit(limits),
            Trap::StackOverflow => {
                return crashed("stack overflow (recursion too deep)".into(), facts);
            }
            other => return crashed(other.to_string(), facts),
        }
    }
    if let Some(full) = error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
        return SandboxError::PoolFull(full.to_string());
    }
    if error.downcast_ref::<SleepPastDeadline>().is_some() {
        return SandboxError::DeadlineExceeded {
            timeout: limits.timeout,
        };
    }
    if facts.memory_refused {
        return memory_limit(limits);
    }
    if error.downcast_ref::<wasmtime::WasmBacktrace>().is_some() {
        // A host function failed while guest code was calling it: the guest
        // asked for something the sandbox does not have (a stale or forged
        // resource handle, say). Its fault, not the host's.
        return crashed(
            format!("a host call was refused: {}", error.root_cause()),
            facts,
        );
    }
    if hostcall_fuel_exhausted(error) {
        return SandboxError::InvalidResult(format!(
            "the policy handed the host more than {} MiB at once (a result that large cannot be sent either)",
            crate::sandbox::state::MAX_HOSTCALL_BYTES >> 20
        ));
    }
    SandboxError::Internal(format!("{error:#}"))
}

/// Whether lifting a value out of the guest ran out of hostcall fuel
/// (`Store::set_hostcall_fuel`). Wasmtime's error type for it is private,
/// so its message is matched; `tests/escape/cases/out_huge_body.py` fails
/// if the wording changes.
fn hostcall_fuel_exhausted(error: &wasmtime::Error) -> bool {
    error
        .root_cause()
        .to_string()
        .contains("fuel allocated for hostcalls has been exhausted")
}

/// Classifies the guest's own `failure` result.
pub fn from_guest(
    failure: Failure,
    policy: &str,
    phase: Phase,
    limits: &Limits,
    facts: &StoreFacts,
) -> SandboxError {
    match failure {
        Failure::NotImplemented => SandboxError::PhaseNotImplemented {
            policy: policy.to_string(),
            phase,
        },
        Failure::Raised(raised) if raised.kind == "MemoryError" && facts.memory_refused => {
            memory_limit(limits)
        }
        Failure::Raised(raised) => SandboxError::PolicyRaised {
            kind: raised.kind,
            message: raised.message,
            location: raised.location,
            traceback: raised.traceback,
        },
        Failure::InvalidInput(message) => SandboxError::InvalidInput(message),
        Failure::InvalidAction(message) => SandboxError::InvalidResult(message),
    }
}

fn fuel_exhausted(limits: &Limits) -> SandboxError {
    SandboxError::FuelExhausted {
        budget: limits.fuel,
        approx_ms: limits.fuel / FUEL_PER_MS,
    }
}

fn memory_limit(limits: &Limits) -> SandboxError {
    SandboxError::MemoryLimit {
        limit_bytes: limits.memory_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::bindings::RaisedException;

    fn facts(memory_refused: bool) -> StoreFacts {
        StoreFacts {
            memory_refused,
            stderr_tail: String::new(),
        }
    }

    #[test]
    fn traps_map_to_limit_errors() {
        let limits = Limits::default();
        let fuel = from_trap(
            &wasmtime::Error::new(Trap::OutOfFuel),
            &limits,
            &facts(false),
        );
        assert!(matches!(fuel, SandboxError::FuelExhausted { .. }));
        let epoch = from_trap(
            &wasmtime::Error::new(Trap::Interrupt),
            &limits,
            &facts(false),
        );
        assert!(matches!(epoch, SandboxError::DeadlineExceeded { .. }));
        let oom = from_trap(
            &wasmtime::Error::new(Trap::UnreachableCodeReached),
            &limits,
            &facts(true),
        );
        assert!(matches!(oom, SandboxError::MemoryLimit { .. }));
        let crash = from_trap(
            &wasmtime::Error::new(Trap::UnreachableCodeReached),
            &limits,
            &facts(false),
        );
        assert!(matches!(crash, SandboxError::Trapped(_)));
    }

    #[test]
    fn memory_error_counts_as_limit_only_when_growth_was_refused() {
        let raised = || {
            Failure::Raised(RaisedException {
                kind: "MemoryError".into(),
                message: String::new(),
                location: String::new(),
                traceback: String::new(),
            })
        };
        let limits = Limits::default();
        let hit = from_guest(raised(), "p@v1", Phase::OnRequest, &limits, &facts(true));
        assert!(matches!(hit, SandboxError::MemoryLimit { .. }));
        let own = from_guest(raised(), "p@v1", Phase::OnRequest, &limits, &facts(false));
        assert!(matches!(own, SandboxError::PolicyRaised { .. }));
    }
}
