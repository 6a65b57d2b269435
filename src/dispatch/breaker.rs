//! The circuit breaker of one policy version: closed → open → half-open.
//!
//! A policy whose calls keep hitting sandbox limits (deadline, fuel,
//! memory, a trap) costs a worker its whole budget on every call, and its
//! neighbours wait behind it. After `failures` such calls in a row, all
//! within `window`, the breaker opens: the policy's calls are answered
//! `circuit_open` at once for `cooldown`. Then it is half-open: one trial
//! call runs (the others are still refused); its outcome closes the breaker
//! or opens it for another cool-down. A policy that raises does not trip it
//! unless `count_raises` is set: an exception is the policy's answer and
//! costs no more than a normal call.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::dispatch::CallError;
use crate::sandbox::SandboxError;

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Sandbox-limit failures in a row that open it; 0 turns it off.
    pub failures: u32,
    /// The failures must all fall within this time.
    pub window: Duration,
    /// How long it stays open before a trial call.
    pub cooldown: Duration,
    /// Whether a policy's own exception counts as a failure.
    pub count_raises: bool,
}

impl Default for BreakerSettings {
    /// 5 failures within 10 s open it for 5 s; raises do not count.
    fn default() -> Self {
        BreakerSettings {
            failures: 5,
            window: Duration::from_secs(10),
            cooldown: Duration::from_secs(5),
            count_raises: false,
        }
    }
}

impl BreakerSettings {
    /// A breaker that never opens.
    pub fn off() -> Self {
        BreakerSettings {
            failures: 0,
            ..Self::default()
        }
    }

    /// These settings made stricter by a policy's own: it may trip sooner
    /// and stay open longer, never the reverse.
    pub fn tightened_by(self, policy: BreakerOverrides) -> Self {
        let failures = match (self.failures, policy.failures) {
            (0, _) | (_, None) => self.failures,
            (own, Some(asked)) => own.min(asked.max(1)),
        };
        BreakerSettings {
            failures,
            cooldown: policy.cooldown_ms.map_or(self.cooldown, |ms| {
                self.cooldown.max(Duration::from_millis(ms))
            }),
            ..self
        }
    }
}

/// A policy's own breaker settings, from its `limits:` block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerOverrides {
    /// Failures in a row that open it (only lower than the server's counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
    /// Cool-down in milliseconds (only longer than the server's counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_ms: Option<u64>,
}

impl BreakerOverrides {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls run.
    Closed,
    /// Calls are refused until the cool-down ends.
    Open,
    /// One trial call runs; the others are refused.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// What a call that got past the breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// A call of a closed breaker.
    Normal,
    /// The one trial call of a half-open breaker.
    Trial,
}

/// One change of state, for the log and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: BreakerState,
    /// The state after.
    pub to: BreakerState,
}

/// A breaker's state machine.
pub struct Breaker {
    settings: BreakerSettings,
    inner: Mutex<Inner>,
}

struct Inner {
    state: BreakerState,
    in_a_row: u32,
    run_started: Instant,
    opened_at: Instant,
    trial_running: bool,
}

/// How a call's outcome counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Healthy,
    Trips,
    Neutral,
}

impl Breaker {
    /// A closed breaker with `settings`.
    pub fn new(settings: BreakerSettings) -> Self {
        let now = Instant::now();
        Breaker {
            settings,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                in_a_row: 0,
                run_started: now,
                opened_at: now,
                trial_running: false,
            }),
        }
    }

    /// The settings it runs with.
    pub fn settings(&self) -> BreakerSettings {
        self.settings
    }

    /// Where it stands now.
    pub fn state(&self) -> BreakerState {
        self.lock().state
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets a call of `policy` through, or refuses it with `circuit_open`.
    /// An open breaker whose cool-down is over becomes half-open here.
    pub fn admit(&self, policy: &str) -> Result<(Pass, Option<Transition>), CallError> {
        if self.settings.failures == 0 {
            return Ok((Pass::Normal, None));
        }
        let mut inner = self.lock();
        let open_for = self.settings.cooldown;
        let refuse = |retry_in: Duration| CallError::CircuitOpen {
            policy: policy.to_string(),
            failures: self.settings.failures,
            retry_in,
        };
        match inner.state {
            BreakerState::Closed => Ok((Pass::Normal, None)),
            BreakerState::Open => {
                let open = inner.opened_at.elapsed();
                if open < open_for {
                    return Err(refuse(open_for - open));
                }
                inner.state = BreakerState::HalfOpen;
                inner.trial_running = true;
                let moved = Transition {
                    from: BreakerState::Open,
                    to: BreakerState::HalfOpen,
                };
                Ok((Pass::Trial, Some(moved)))
            }
            BreakerState::HalfOpen if inner.trial_running => Err(refuse(Duration::ZERO)),
            BreakerState::HalfOpen => {
                inner.trial_running = true;
                Ok((Pass::Trial, None))
            }
        }
    }

    /// Counts the outcome of a call that `admit` let through.
    pub fn record<T>(&self, pass: Pass, result: &Result<T, CallError>) -> Option<Transition> {
        if self.settings.failures == 0 {
            return None;
        }
        let verdict = self.verdict(result);
        let mut inner = self.lock();
        let from = inner.state;
        match (inner.state, pass) {
            (BreakerState::HalfOpen, Pass::Trial) => {
                inner.trial_running = false;
                match verdict {
                    Verdict::Trips => self.open(&mut inner),
                    Verdict::Healthy => self.close(&mut inner),
                    Verdict::Neutral => {}
                }
            }
            (BreakerState::Closed, _) => match verdict {
                Verdict::Trips => self.count_failure(&mut inner),
                Verdict::Healthy => inner.in_a_row = 0,
                Verdict::Neutral => {}
            },
            // Calls admitted before it opened finish without deciding.
            _ => {}
        }
        (inner.state != from).then_some(Transition {
            from,
            to: inner.state,
        })
    }

    fn verdict<T>(&self, result: &Result<T, CallError>) -> Verdict {
        match result {
            Ok(_) => Verdict::Healthy,
            Err(CallError::Sandbox(error)) if error.is_limit_or_crash() => Verdict::Trips,
            Err(CallError::Sandbox(
                SandboxError::PolicyRaised { .. } | SandboxError::InvalidResult(_),
            )) => {
                if self.settings.count_raises {
                    Verdict::Trips
                } else {
                    Verdict::Healthy
                }
            }
            Err(_) => Verdict::Neutral,
        }
    }

    fn count_failure(&self, inner: &mut Inner) {
        if inner.in_a_row == 0 || inner.run_started.elapsed() > self.settings.window {
            inner.in_a_row = 0;
            inner.run_started = Instant::now();
        }
        inner.in_a_row += 1;
        if inner.in_a_row >= self.settings.failures {
            self.open(inner);
        }
    }

    fn open(&self, inner: &mut Inner) {
        inner.state = BreakerState::Open;
        inner.opened_at = Instant::now();
        inner.in_a_row = 0;
    }

    fn close(&self, inner: &mut Inner) {
        inner.state = BreakerState::Closed;
        inner.in_a_row = 0;
    }
}

#[cfg(test)]
mod tests;
