//! Per-call resource limits: memory, fuel and wall-clock deadline.
//!
//! Defaults are chosen for gateway policies (header and body manipulation):
//! - memory 64 MiB: a componentize-py guest starts at 12–17 MiB of linear
//!   memory; 64 MiB leaves room to parse multi-MiB JSON bodies while keeping a
//!   full pool of instances well under the host's memory.
//! - fuel 1,000 M: a trivial call burns ~0.3 M and Python burns ~12 k fuel per
//!   microsecond here, so this is roughly 80 ms of pure CPU: thousands of times
//!   what a normal policy needs, and far below the gateway's 30 s call timeout.
//! - timeout 500 ms: the deadline catches what fuel cannot (time spent
//!   sleeping or descheduled on a loaded host); it sits above the fuel budget
//!   so CPU-bound runaways report `fuel_exhausted`, the clearer error.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// One MiB.
pub const MIB: u64 = 1024 * 1024;

/// The limits one call runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Largest linear memory the guest may grow to, in bytes.
    pub memory_bytes: u64,
    /// Fuel budget (roughly, Wasm instructions).
    pub fuel: u64,
    /// Wall-clock deadline from the start of the call.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 * MIB,
            fuel: 1_000_000_000,
            timeout: Duration::from_millis(500),
        }
    }
}

/// Limits as written in a policy's `limits:` block or on the command line;
/// every field is optional and falls back to the server default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// Memory cap in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// Fuel budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Deadline in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// A limit value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Zero or absurdly large.
    #[error("limits.{field} = {value} is out of range (allowed {min}..={max})")]
    OutOfRange {
        /// The offending field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
}

/// Bounds every limit must respect, whoever sets it.
const MEMORY_MIB_RANGE: (u64, u64) = (16, 4096);
const FUEL_RANGE: (u64, u64) = (1_000_000, 1_000_000_000_000);
const TIMEOUT_MS_RANGE: (u64, u64) = (1, 60_000);

fn check(field: &'static str, value: u64, (min, max): (u64, u64)) -> Result<u64, LimitError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(LimitError::OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

impl LimitOverrides {
    /// Checks every value that is set against the allowed ranges.
    pub fn validate(&self) -> Result<(), LimitError> {
        if let Some(value) = self.memory_mib {
            check("memory_mib", value, MEMORY_MIB_RANGE)?;
        }
        if let Some(value) = self.fuel {
            check("fuel", value, FUEL_RANGE)?;
        }
        if let Some(value) = self.timeout_ms {
            check("timeout_ms", value, TIMEOUT_MS_RANGE)?;
        }
        Ok(())
    }

    /// `base` with every value this sets replacing the base's.
    pub fn apply_to(&self, base: Limits) -> Result<Limits, LimitError> {
        self.validate()?;
        Ok(Limits {
            memory_bytes: self.memory_mib.map_or(base.memory_bytes, |mib| mib * MIB),
            fuel: self.fuel.unwrap_or(base.fuel),
            timeout: self.timeout_ms.map_or(base.timeout, Duration::from_millis),
        })
    }
}

/// The most any policy's `limits:` block may ask for, set by the operator
/// (`serve --max-memory-mib/--max-fuel/--max-timeout-ms`); `None` leaves
/// only the built-in ranges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ceilings {
    /// Memory cap in MiB.
    pub memory_mib: Option<u64>,
    /// Fuel budget.
    pub fuel: Option<u64>,
    /// Deadline in milliseconds.
    pub timeout_ms: Option<u64>,
}

/// One limit lowered to its ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clamped {
    /// The field, as `limits:` names it.
    pub field: &'static str,
    /// What the policy asked for.
    pub asked: u64,
    /// What it gets.
    pub ceiling: u64,
}

impl std::fmt::Display for Clamped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} lowered to the ceiling {}",
            self.field, self.asked, self.ceiling
        )
    }
}

impl Ceilings {
    /// `limits` with every value above its ceiling lowered to it, and what
    /// was lowered.
    pub fn clamp(&self, limits: Limits) -> (Limits, Vec<Clamped>) {
        let mut clamped = Vec::new();
        let mut lower = |field, asked: u64, ceiling: Option<u64>| match ceiling {
            Some(ceiling) if asked > ceiling => {
                clamped.push(Clamped {
                    field,
                    asked,
                    ceiling,
                });
                ceiling
            }
            _ => asked,
        };
        let memory_mib = lower(
            "memory_mib",
            limits.memory_bytes.div_ceil(MIB),
            self.memory_mib,
        );
        let fuel = lower("fuel", limits.fuel, self.fuel);
        let timeout_ms = lower(
            "timeout_ms",
            limits.timeout.as_millis() as u64,
            self.timeout_ms,
        );
        if clamped.is_empty() {
            return (limits, clamped);
        }
        let lowered = Limits {
            memory_bytes: limits.memory_bytes.min(memory_mib * MIB),
            fuel,
            timeout: limits.timeout.min(Duration::from_millis(timeout_ms)),
        };
        (lowered, clamped)
    }

    /// Checks every ceiling that is set against the allowed ranges.
    pub fn validate(&self) -> Result<(), LimitError> {
        self.as_overrides().validate()
    }

    fn as_overrides(&self) -> LimitOverrides {
        LimitOverrides {
            memory_mib: self.memory_mib,
            fuel: self.fuel,
            timeout_ms: self.timeout_ms,
        }
    }
}

impl LimitOverrides {
    /// Overrides that set every limit to exactly `limits`.
    pub fn exactly(limits: Limits) -> LimitOverrides {
        LimitOverrides {
            memory_mib: Some(limits.memory_bytes.div_ceil(MIB)),
            fuel: Some(limits.fuel),
            timeout_ms: Some(limits.timeout.as_millis() as u64),
        }
    }
}

/// The store's resource limiter: `StoreLimits` plus a record of refusals, so
/// a guest that fails after a refused `memory.grow` is reported as having hit
/// the memory limit rather than as a generic error.
pub struct CallLimiter {
    inner: StoreLimits,
    memory_refused: bool,
    peak_memory: usize,
}

impl CallLimiter {
    /// A limiter enforcing `limits.memory_bytes` on every linear memory.
    pub fn new(limits: &Limits) -> Self {
        let cap = usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX);
        CallLimiter {
            inner: StoreLimitsBuilder::new().memory_size(cap).build(),
            memory_refused: false,
            peak_memory: 0,
        }
    }

    /// Whether the guest asked for more memory than allowed.
    pub fn memory_refused(&self) -> bool {
        self.memory_refused
    }

    /// The largest memory size granted so far.
    pub fn peak_memory(&self) -> usize {
        self.peak_memory
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            self.peak_memory = self.peak_memory.max(desired);
        } else {
            self.memory_refused = true;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_set() {
        let base = Limits::default();
        let overrides = LimitOverrides {
            fuel: Some(5_000_000),
            ..Default::default()
        };
        let limits = overrides.apply_to(base).unwrap();
        assert_eq!(limits.fuel, 5_000_000);
        assert_eq!(limits.memory_bytes, base.memory_bytes);
        assert_eq!(limits.timeout, base.timeout);
    }

    #[test]
    fn out_of_range_values_are_rejected_with_the_field_name() {
        let overrides = LimitOverrides {
            memory_mib: Some(1),
            ..Default::default()
        };
        let error = overrides.validate().unwrap_err();
        assert!(
            error.to_string().contains("limits.memory_mib = 1"),
            "{error}"
        );
        let overrides = LimitOverrides {
            timeout_ms: Some(0),
            ..Default::default()
        };
        assert!(overrides.validate().is_err());
    }

    #[test]
    fn ceilings_lower_only_what_is_above_them() {
        let ceilings = Ceilings {
            memory_mib: Some(64),
            fuel: Some(10_000_000),
            timeout_ms: None,
        };
        let asked = Limits {
            memory_bytes: 4096 * MIB,
            fuel: 1_000_000,
            timeout: Duration::from_secs(60),
        };
        let (limits, clamped) = ceilings.clamp(asked);
        assert_eq!(limits.memory_bytes, 64 * MIB);
        assert_eq!(limits.fuel, 1_000_000, "below its ceiling: kept");
        assert_eq!(limits.timeout, Duration::from_secs(60), "no ceiling: kept");
        assert_eq!(clamped.len(), 1);
        assert_eq!(
            clamped[0].to_string(),
            "memory_mib 4096 lowered to the ceiling 64"
        );
        let (same, none) = Ceilings::default().clamp(asked);
        assert_eq!((same, none.len()), (asked, 0));
        assert_eq!(
            LimitOverrides::exactly(limits)
                .apply_to(Limits::default())
                .unwrap(),
            limits
        );
    }

    #[test]
    fn limiter_records_refused_growth_and_peak() {
        let limits = Limits {
            memory_bytes: 32 * MIB,
            ..Limits::default()
        };
        let mut limiter = CallLimiter::new(&limits);
        assert!(limiter.memory_growing(0, 16 * MIB as usize, None).unwrap());
        assert!(!limiter.memory_refused());
        assert!(
            !limiter
                .memory_growing(16 * MIB as usize, 64 * MIB as usize, None)
                .unwrap()
        );
        assert!(limiter.memory_refused());
        assert_eq!(limiter.peak_memory(), 16 * MIB as usize);
    }
}
