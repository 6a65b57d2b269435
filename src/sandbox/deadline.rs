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

/// The engine's deadline clock: the epoch ticker in stock builds, nothing
/// with fuel-borne deadlines.
pub struct Clock {
    #[cfg(not(feature = "patched-wasmtime"))]
    ticker: EpochTicker,
}

impl Clock {
    /// Nothing to start: deadlines ride on fuel.
    #[cfg(feature = "patched-wasmtime")]
    pub fn start(_engine: &Engine, _tick: Duration) -> Self {
        Clock {}
    }

    /// Starts the epoch ticker for `engine`.
    #[cfg(not(feature = "patched-wasmtime"))]
    pub fn start(engine: &Engine, tick: Duration) -> Self {
        Clock {
            ticker: EpochTicker::start(engine.clone(), tick),
        }
    }

    /// Gives `store`'s guest code until `timeout` from now. Call it after
    /// the store's fuel is set.
    #[cfg(feature = "patched-wasmtime")]
    pub fn arm<T>(&self, store: &mut Store<T>, timeout: Duration) -> wasmtime::Result<()> {
        store.set_fuel_deadline(FUEL_SLICE, Some(std::time::Instant::now() + timeout))
    }

    /// Gives `store`'s guest code until `timeout` from now, in epoch ticks:
    /// rounded up, plus one because the current tick may be about to end.
    #[cfg(not(feature = "patched-wasmtime"))]
    pub fn arm<T>(&self, store: &mut Store<T>, timeout: Duration) -> wasmtime::Result<()> {
        let tick = self.ticker.tick.as_nanos().max(1);
        let ticks = timeout.as_nanos().div_ceil(tick);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1));
        Ok(())
    }
}

/// A thread that advances the engine's epoch every `tick` until dropped.
#[cfg(not(feature = "patched-wasmtime"))]
struct EpochTicker {
    tick: Duration,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[cfg(not(feature = "patched-wasmtime"))]
impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> Self {
        use std::sync::mpsc;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch ticker thread");
        EpochTicker {
            tick,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

#[cfg(not(feature = "patched-wasmtime"))]
impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
