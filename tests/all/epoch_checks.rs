//! Where compiled guest code checks its limits. With fuel on, our patch
//! 0009 checks the epoch (the wall-clock deadline) at loop headers only,
//! not on every function entry: a call tree without loops, the case the
//! entry check exists for, is bounded by the fuel check every function
//! entry still makes. These tests hold that argument to account on small
//! core modules on this project's engine configuration (pooling, fuel,
//! epochs), with the deadline already passed when the call starts.

use crate::harness::{core_engine, core_store};
use wasmtime::{Instance, Module, Trap};

/// `$f0` calls `$f1` ten times, which calls `$f2` ten times, and so on:
/// 10^9 calls of `$f9` without a single loop. `loop` runs forever.
/// `straight` does a little work without a loop or a call.
const SHAPES: &str = r#"
(module
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
  (func (export "straight") (result i32) i32.const 7 i32.const 6 i32.mul))
"#;

/// Calls `name` with the epoch deadline already passed and `fuel` to spend;
/// the trap it ends in, if any.
fn call_past_the_deadline(name: &str, fuel: u64) -> Result<i32, Trap> {
    let engine = core_engine();
    let module = Module::new(engine.engine(), wat::parse_str(SHAPES).unwrap()).unwrap();
    let mut store = core_store(&engine);
    store.set_fuel(fuel).unwrap();
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    store.set_epoch_deadline(0);
    let func = instance
        .get_typed_func::<(), i32>(&mut store, name)
        .unwrap();
    let result = func.call(&mut store, ());
    result.map_err(|error| {
        *error
            .downcast_ref::<Trap>()
            .unwrap_or_else(|| panic!("{name}: not a trap: {error:?}"))
    })
}

#[test]
fn a_call_tree_without_loops_is_stopped_by_fuel() {
    assert_eq!(
        call_past_the_deadline("call_tree", 1_000_000),
        Err(Trap::OutOfFuel)
    );
}

#[test]
fn a_loop_is_stopped_by_the_deadline_at_its_header() {
    assert_eq!(
        call_past_the_deadline("loop", u64::MAX / 2),
        Err(Trap::Interrupt)
    );
}

/// Patch 0009 itself: stock Wasmtime traps on entry.
#[cfg(feature = "patched-wasmtime")]
#[test]
fn a_function_without_loops_does_not_check_the_epoch_on_entry() {
    assert_eq!(call_past_the_deadline("straight", 1_000_000), Ok(42));
}
