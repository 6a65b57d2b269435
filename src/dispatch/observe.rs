//! What happens around a call besides running it: the circuit breaker's
//! verdict before, and after it the metrics, the breaker's count and the
//! failure log. One place, so that every way a call can end (refused,
//! overloaded, timed out in the queue, run) is counted and logged alike.

use std::sync::Arc;
use std::time::Duration;

use super::breaker::{BreakerSettings, BreakerState, Pass, Transition};
use super::failure_log::{LogBudget, log_failure};
use super::metrics::Metrics;
use super::resident::PolicyEntry;
use crate::contract::CallOutput;
use crate::dispatch::CallError;

/// The breaker settings, the metrics (when on), and the log budget of calls
/// that name no policy.
pub struct CallObserver {
    breaker: BreakerSettings,
    metrics: Option<Arc<Metrics>>,
    unmatched: LogBudget,
}

/// How long a call that ran spent waiting and running.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// In the queue, until a worker took it.
    pub waited: Duration,
    /// On the worker (None when it did not run).
    pub ran: Option<Duration>,
}

impl CallObserver {
    /// An observer with `breaker` settings and optional `metrics`.
    pub fn new(breaker: BreakerSettings, metrics: Option<Arc<Metrics>>) -> Self {
        CallObserver {
            breaker,
            metrics,
            unmatched: LogBudget::default(),
        }
    }

    /// The metrics, when they are on.
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    /// A call that matched no policy (or named no phase); `asked` is the
    /// `name@version` it asked for.
    pub fn rejected(&self, request_id: &str, asked: &str, error: &CallError) {
        if let Some(metrics) = &self.metrics {
            metrics.rejected(error.kind());
        }
        log_failure(&self.unmatched, request_id, asked, error);
    }

    /// Asks `entry`'s breaker to let a call through; a refusal is counted
    /// and logged like any failed call.
    pub fn admit(&self, entry: &PolicyEntry, request_id: &str) -> Result<Pass, CallError> {
        match entry.breaker(self.breaker).admit(entry.label()) {
            Ok((pass, moved)) => {
                if let Some(moved) = moved {
                    self.moved(entry, moved);
                }
                Ok(pass)
            }
            Err(error) => {
                self.failed(entry, request_id, &error);
                Err(error)
            }
        }
    }

    /// A call of `entry` that ended without running (invalid input, the
    /// queue full): counted, logged, and its breaker pass given back.
    pub fn not_run(
        &self,
        entry: &PolicyEntry,
        request_id: &str,
        pass: Option<Pass>,
        error: &CallError,
    ) {
        if let Some(pass) = pass {
            self.record_breaker(entry, pass, &Err::<(), _>(error.clone()));
        }
        self.failed(entry, request_id, error);
    }

    /// A call of `entry` that a worker took, with its result.
    pub fn finished(
        &self,
        entry: &PolicyEntry,
        request_id: &str,
        pass: Pass,
        result: &Result<CallOutput, CallError>,
        timing: Timing,
    ) {
        self.record_breaker(entry, pass, result);
        if let Some(metrics) = &self.metrics {
            let policy = entry.metrics(metrics);
            policy.waited(timing.waited);
            if let Some(ran) = timing.ran {
                policy.ran(ran, result.as_ref().ok().map(|output| &output.stats));
            }
        }
        match result {
            Ok(output) => tracing::debug!(
                %request_id, policy = entry.label(), fuel = output.stats.fuel_used,
                us = output.stats.duration_us, "call completed"
            ),
            Err(error) => self.failed(entry, request_id, error),
        }
    }

    fn record_breaker<T>(&self, entry: &PolicyEntry, pass: Pass, result: &Result<T, CallError>) {
        if let Some(moved) = entry.breaker(self.breaker).record(pass, result) {
            self.moved(entry, moved);
        }
    }

    /// Counts and logs a failure (successes are counted with their stats,
    /// in [`PolicyMetrics::ran`](super::metrics::PolicyMetrics::ran)).
    fn failed(&self, entry: &PolicyEntry, request_id: &str, error: &CallError) {
        if let Some(metrics) = &self.metrics {
            metrics.failed(entry.metrics(metrics), error.kind());
        }
        log_failure(entry.log_budget(), request_id, entry.label(), error);
    }

    fn moved(&self, entry: &PolicyEntry, moved: Transition) {
        let settings = entry.breaker(self.breaker).settings();
        match moved.to {
            BreakerState::Open => tracing::warn!(
                policy = entry.label(),
                from = moved.from.as_str(),
                failures = settings.failures,
                cooldown_ms = settings.cooldown.as_millis() as u64,
                "circuit breaker opened: the policy's calls kept hitting sandbox limits; refusing its calls for the cool-down"
            ),
            BreakerState::HalfOpen => tracing::info!(
                policy = entry.label(),
                "circuit breaker half-open: one trial call decides"
            ),
            BreakerState::Closed => tracing::info!(
                policy = entry.label(),
                "circuit breaker closed: the trial call succeeded"
            ),
        }
        if let Some(metrics) = &self.metrics {
            metrics.breaker_moved(entry.label(), moved);
        }
    }
}
