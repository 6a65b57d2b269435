//! A deadline guard on `wasi:clocks/monotonic-clock` sleeps.
//!
//! A call's deadline stops guest code, but not a host call that is blocked:
//! a policy calling `time.sleep(3600)` would otherwise hold a worker thread
//! for an hour. This shadows the two functions that create timers
//! (`subscribe-duration`, `subscribe-instant`): a sleep that would end past
//! the call's deadline traps at once as a deadline overrun; shorter sleeps go
//! to the stock WASI implementation.

use std::time::{Duration, Instant};

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::clocks::WasiClocksView;
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::sync::clocks::monotonic_clock::Host as MonotonicClock;

use crate::sandbox::state::HostState;

/// The WASI clocks instance wasmtime-wasi registers; components importing any
/// 0.2.x version link to it.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// The trap raised when a policy sleeps past its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the policy tried to sleep {requested:?}, past its deadline ({remaining:?} left)")]
pub struct SleepPastDeadline {
    /// How long the guest asked to wait.
    pub requested: Duration,
    /// What was left of the call's time budget.
    pub remaining: Duration,
}

fn check_sleep(deadline: Instant, requested: Duration) -> wasmtime::Result<()> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if requested > remaining {
        return Err(wasmtime::Error::new(SleepPastDeadline {
            requested,
            remaining,
        }));
    }
    Ok(())
}

/// Replaces the timer constructors of the already-linked WASI clocks.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<'_, HostState>, (nanos,): (u64,)| {
            let state = store.data_mut();
            check_sleep(state.deadline, Duration::from_nanos(nanos))?;
            let pollable: Resource<DynPollable> = state.clocks().subscribe_duration(nanos)?;
            Ok((pollable,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, HostState>, (when,): (u64,)| {
            let state = store.data_mut();
            let now = state.clocks().now()?;
            check_sleep(
                state.deadline,
                Duration::from_nanos(when.saturating_sub(now)),
            )?;
            let pollable: Resource<DynPollable> = state.clocks().subscribe_instant(when)?;
            Ok((pollable,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
