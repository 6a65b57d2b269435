//! Wall-clock deadlines for guest code: how a store's time budget is
//! enforced while its instance runs.
//!
//! With our Wasmtime patches the deadline rides on fuel (patch 0014): the
//! VM holds at most [`FUEL_SLICE`] units of the call's fuel at once, and
//! each time a slice runs out Wasmtime reads the clock before handing over
//! the next one. Compiled code then carries no epoch checks at all, and no
//! thread ticks. Stock builds use epoch interruption: a ticker thread
//! advances the engine's epoch every tick, and compiled code compares it
//! with the store's deadline at loop headers and function entries.
//!
//! Either way a deadline stops guest code only. A host call that blocks is
//! bounded by its own guard ([`super::host::clocks`]).

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use wasmtime::{Engine, Store};

/// Fuel the VM holds at once when deadlines ride on fuel: a guest overruns
/// its deadline by at most this much work. A CPython guest burns 5–12
/// million units per millisecond here (JSON work at the low end, a bare
/// Python loop at the high end), so a slice is under a millisecond, finer
/// than the stock build's 10 ms epoch tick, and one clock read per slice is
/// nothing beside the work.
#[cfg(feature = "patched-wasmtime")]
pub const FUEL_SLICE: u64 = 4_000_000;

/// Whether compiled code checks epochs (the stock build's deadlines).
pub const USES_EPOCHS: bool = !cfg!(feature = "patched-wasmtime");

/// Gives `store`'s guest code until `timeout` from now. Call it after the
/// store's fuel is set.
#[cfg(feature = "patched-wasmtime")]
pub fn arm<T>(store: &mut Store<T>, _clock: &Clock, timeout: Duration) -> wasmtime::Result<()> {
    store.set_fuel_deadline(FUEL_SLICE, Some(std::time::Instant::now() + timeout))
}

/// Gives `store`'s guest code until `timeout` from now, in epoch ticks.
#[cfg(not(feature = "patched-wasmtime"))]
pub fn arm<T>(store: &mut Store<T>, clock: &Clock, timeout: Duration) -> wasmtime::Result<()> {
    store.set_epoch_deadline(clock.ticks(timeout));
    Ok(())
}

/// The engine's deadline clock: the epoch ticker in stock builds, nothing
/// with fuel-borne deadlines.
pub struct Clock {
    tick: Duration,
    _ticker: Option<EpochTicker>,
}

impl Clock {
    /// Starts the ticker for `engine` if its code checks epochs.
    pub fn start(engine: &Engine, tick: Duration) -> Self {
        let ticker = USES_EPOCHS.then(|| EpochTicker::start(engine.clone(), tick));
        Clock {
            tick,
            _ticker: ticker,
        }
    }

    /// Epoch ticks to allow for `timeout`: rounded up, plus one because the
    /// current tick may be about to end.
    pub fn ticks(&self, timeout: Duration) -> u64 {
        let tick = self.tick.as_nanos().max(1);
        let ticks = timeout.as_nanos().div_ceil(tick);
        u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1)
    }
}

/// A thread that advances the engine's epoch every tick until dropped.
struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch ticker thread");
        EpochTicker {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
