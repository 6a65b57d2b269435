//! Where compiled guest code meets its limits, on small core modules and
//! this project's engine configuration. Patched builds carry the wall-clock
//! deadline on fuel (patch 0014): the VM holds one slice of the call's
//! fuel at a time, and the clock is read each time a slice runs out, so
//! anything that burns fuel (a loop, a call tree without loops) meets the
//! deadline within one slice. Stock builds check epochs in compiled code.

use std::time::Duration;

use crate::harness::{core_engine, core_store};
use policy_host::sandbox::engine::SandboxEngine;
use wasmtime::{Caller, Linker, Module, Store, Trap};

/// `$f0` calls `$f1` ten times, which calls `$f2` ten times, and so on:
/// 10^9 calls of `$f9` without a single loop. `loop` runs forever, and so
/// does `charging_loop`, calling the host's `charge`, which takes fuel the
/// way the JSON codec does (reads the fuel left, sets it lower).
const SHAPES: &str = r#"
(module
  (import "host" "charge" (func $charge))
  (func $f9 (result i32) i32.const 1)
  (func $f8 (result i32) call $f9 call $f9 call $f9 call $f9 call $f9 call $f9 call $f9 call $f9 call $f9 call $f9 i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add)
  (func $f7 (result i32) call $f8 call $f8 call $f8 call $f8 call $f8 call $f8 call $f8 call $f8 call $f8 call $f8 i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add)
  (func $f6 (result i32) call $f7 call $f7 call $f7 call $f7 call $f7 call $f7 call $f7 call $f7 call $f7 call $f7 i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add)
  (func $f5 (result i32) call $f6 call $f6 call $f6 call $f6 call $f6 call $f6 call $f6 call $f6 call $f6 call $f6 i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add)
  (func $f4 (result i32) call $f5 call $f5 call $f5 call $f5 call $f5 call $f5 call $f5 call $f5 call $f5 call $f5 i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add)
  (func $f3 (result i32) call $f4 call $f4 call $f4 call $f4 call $f4 call $f4 call $f4 call $f4 call $f4 call $f4 i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add)
  (func $f2 (result i32) call $f3 call $f3 call $f3 call $f3 call $f3 call $f3 call $f3 call $f3 call $f3 call $f3 i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add)
  (func $f1 (result i32) call $f2 call $f2 call $f2 call $f2 call $f2 call $f2 call $f2 call $f2 call $f2 call $f2 i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add)
  (func (export "call_tree") (result i32) call $f1 call $f1 call $f1 call $f1 call $f1 call $f1 call $f1 call $f1 call $f1 call $f1 i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add)
  (func (export "loop") (result i32) (loop $again br $again) i32.const 0)
  (func (export "charging_loop") (result i32) (loop $again call $charge br $again) i32.const 0))
"#;

/// Fuel `charge` takes per call.
const CHARGE: u64 = 100;

/// Calls `name` with `fuel` to spend and a deadline that has already
/// passed (stock builds: the next epoch tick); the result or the trap it
/// ends in, and the store for its fuel.
fn call_past_the_deadline(
    engine: &SandboxEngine,
    name: &str,
    fuel: u64,
) -> (Result<i32, Trap>, Store<()>) {
    call_with_deadline(engine, name, fuel, Duration::ZERO)
}

/// Calls `name` with `fuel` to spend and `timeout` to run.
fn call_with_deadline(
    engine: &SandboxEngine,
    name: &str,
    fuel: u64,
    timeout: Duration,
) -> (Result<i32, Trap>, Store<()>) {
    let module = Module::new(engine.engine(), wat::parse_str(SHAPES).unwrap()).unwrap();
    let mut linker = Linker::new(engine.engine());
    linker
        .func_wrap("host", "charge", |mut caller: Caller<'_, ()>| {
            let left = caller.get_fuel()?;
            caller.set_fuel(left.saturating_sub(CHARGE))
        })
        .unwrap();
    let mut store = core_store(engine);
    let instance = linker.instantiate(&mut store, &module).unwrap();
    store.set_fuel(fuel).unwrap();
    engine.arm_deadline(&mut store, timeout).unwrap();
    let func = instance
        .get_typed_func::<(), i32>(&mut store, name)
        .unwrap();
    let result = func.call(&mut store, ()).map_err(|error| {
        *error
            .downcast_ref::<Trap>()
            .unwrap_or_else(|| panic!("{name}: not a trap: {error:?}"))
    });
    (result, store)
}

/// Fuel alone stops a call tree. The deadline is far off: with a past one,
/// a stock build's epoch tick could come first on a loaded machine.
#[test]
fn a_call_tree_without_loops_runs_out_of_fuel_when_fuel_is_short() {
    let engine = core_engine();
    let timeout = Duration::from_secs(600);
    let (result, _) = call_with_deadline(&engine, "call_tree", 1_000_000, timeout);
    assert_eq!(result, Err(Trap::OutOfFuel));
}

#[test]
fn a_call_tree_without_loops_is_stopped_by_the_deadline() {
    let engine = core_engine();
    let (result, _) = call_past_the_deadline(&engine, "call_tree", u64::MAX / 2);
    assert_eq!(result, Err(Trap::Interrupt));
}

#[test]
fn a_loop_is_stopped_by_the_deadline() {
    let engine = core_engine();
    let (result, _) = call_past_the_deadline(&engine, "loop", u64::MAX / 2);
    assert_eq!(result, Err(Trap::Interrupt));
}

/// A host call that takes fuel must not hand the guest a fresh slice (which
/// would keep a loop of such calls from ever reaching the clock). The
/// budget is finite so that a regression fails in seconds, out of fuel.
#[test]
fn a_loop_of_host_calls_taking_fuel_is_stopped_by_the_deadline() {
    let engine = core_engine();
    let (result, _) = call_past_the_deadline(&engine, "charging_loop", 1_000_000_000);
    assert_eq!(result, Err(Trap::Interrupt));
}

/// Patch 0014 itself: past the deadline, a guest burns at most the slice
/// it holds (fuel its host calls take counting against it), and the fuel
/// it did not burn is still the store's.
#[cfg(feature = "patched-wasmtime")]
#[test]
fn a_guest_past_its_deadline_burns_at_most_one_slice() {
    use policy_host::sandbox::deadline::FUEL_SLICE;
    let engine = core_engine();
    let fuel = 100 * FUEL_SLICE;
    for name in ["loop", "call_tree", "charging_loop"] {
        let (result, store) = call_past_the_deadline(&engine, name, fuel);
        assert_eq!(result, Err(Trap::Interrupt), "{name}");
        let burnt = fuel - store.get_fuel().unwrap();
        assert!(
            (FUEL_SLICE..=FUEL_SLICE + 2 * CHARGE).contains(&burnt),
            "{name} burnt {burnt} fuel past its deadline (slice {FUEL_SLICE})"
        );
    }
}
