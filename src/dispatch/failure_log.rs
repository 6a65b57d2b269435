//! Failed calls in the log: every one at warn, rate-limited per policy.
//!
//! An operator must see a tenant's policy that times out all day, so each
//! failure is logged at warn with its policy, version, request id, error
//! type and message (a raised exception with its traceback). One policy
//! failing thousands of times a second must not drown the others, so each
//! policy version gets [`PER_WINDOW`] lines per [`WINDOW`]; the first line
//! of the next window says how many were left out (`suppressed`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::metrics::PolicyLabels;
use crate::dispatch::CallError;
use crate::sandbox::SandboxError;

/// Failure lines logged per policy version per window.
pub const PER_WINDOW: u32 = 10;

/// The rate limit's window.
pub const WINDOW: Duration = Duration::from_secs(10);

/// One policy version's log budget.
pub struct LogBudget(Mutex<Window>);

struct Window {
    started: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl Default for LogBudget {
    fn default() -> Self {
        LogBudget(Mutex::new(Window {
            started: None,
            logged: 0,
            suppressed: 0,
        }))
    }
}

impl LogBudget {
    /// Whether a failure at `now` may be logged: `Some(n)` with the number
    /// of lines suppressed since the last one logged, or `None`.
    pub fn take_at(&self, now: Instant) -> Option<u64> {
        let mut window = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let expired = window
            .started
            .is_none_or(|started| now.saturating_duration_since(started) >= WINDOW);
        if expired {
            window.started = Some(now);
            window.logged = 0;
        }
        if window.logged >= PER_WINDOW {
            window.suppressed += 1;
            return None;
        }
        window.logged += 1;
        Some(std::mem::take(&mut window.suppressed))
    }
}

/// Logs one failed call of `label` (`name@version`) at warn, within the
/// policy's budget.
pub fn log_failure(budget: &LogBudget, request_id: &str, label: &str, error: &CallError) {
    let Some(suppressed) = budget.take_at(Instant::now()) else {
        return;
    };
    let PolicyLabels { policy, version } = PolicyLabels::of(label);
    let kind = error.kind();
    if let Some(SandboxError::PolicyRaised { traceback, .. }) = error.sandbox() {
        // Debug-formatted: the traceback stays on the record's one line.
        tracing::warn!(
            target: "policy",
            %request_id, %policy, %version, kind, suppressed, traceback = ?traceback,
            "call failed: {error}"
        );
    } else {
        tracing::warn!(
            target: "policy",
            %request_id, %policy, %version, kind, suppressed,
            "call failed: {error}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_cut_to_the_budget_and_the_next_window_counts_what_was_cut() {
        let budget = LogBudget::default();
        let start = Instant::now();
        let logged = (0..100).filter(|_| budget.take_at(start).is_some()).count();
        assert_eq!(logged, PER_WINDOW as usize);
        assert_eq!(budget.take_at(start + WINDOW / 2), None);
        assert_eq!(
            budget.take_at(start + WINDOW),
            Some(100 - u64::from(PER_WINDOW) + 1),
            "the first line of the next window reports the suppressed ones"
        );
        assert_eq!(budget.take_at(start + WINDOW), Some(0));
    }
}
