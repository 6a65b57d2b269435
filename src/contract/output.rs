//! The result of a completed call and what it cost.

use serde::Serialize;

use super::{Action, JsonObject};

/// Resource use of one call, for logs and the `run` subcommand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    /// Fuel (roughly, Wasm instructions) the call burned.
    pub fuel_used: u64,
    /// Largest linear-memory size the guest reached.
    pub peak_memory_bytes: u64,
    /// Wall time from new Store to result, in microseconds.
    pub duration_us: u64,
    /// Of which: creating the store and instantiating the component on the
    /// call's path (0 when the instance was made ahead).
    pub instantiate_us: u64,
    /// Whether the (never-used) instance was made ahead, while its worker
    /// was idle, instead of on the call's path.
    pub made_ahead: bool,
    /// Log lines the policy wrote (kept within the per-call cap).
    pub log_lines: u32,
}

impl CallStats {
    /// Adds how the call's instance was made: `on_path` is the time spent
    /// instantiating before the call ran, `None` when it was made ahead.
    pub fn record_instantiation(&mut self, on_path: Option<std::time::Duration>) {
        let us = on_path.map_or(0, micros);
        self.instantiate_us = us;
        self.duration_us += us;
        self.made_ahead = on_path.is_none();
    }
}

/// Whole microseconds in `duration`, saturating (the unit of [`CallStats`]).
pub(crate) fn micros(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The result of a call that completed.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutput {
    /// The action, or `None` for pass-through.
    pub action: Option<Action>,
    /// `ctx.shared.metadata` after the policy ran.
    pub updated_metadata: JsonObject,
    /// What the call cost.
    pub stats: CallStats,
}
