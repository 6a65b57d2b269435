//! Active element segments applied at instantiation (our patch 0003 writes
//! them without a libcall per element; docs/upstream-patches.md). The shape
//! is the one CPython's dynamically linked modules have: an imported table,
//! an offset from an imported global, defined and imported functions mixed.
//! Run on this project's own engine configuration (pooling, fuel, deadlines).

use crate::harness::{core_engine, core_store};
use policy_host::sandbox::SandboxEngine;
use wasmtime::{Instance, Module, Store, Table, Val, WasmParams, WasmResults};

const LIBRARY: &str = r#"
(module
  (table (export "table") 10 funcref)
  (global (export "base") i32 (i32.const 2))
  (global (export "late") i32 (i32.const 8))
  (func (export "forty_two") (result i32) i32.const 42))
"#;

const USER: &str = r#"
(module
  (import "lib" "table" (table 10 funcref))
  (import "lib" "base" (global $base i32))
  (import "lib" "forty_two" (func $imported (result i32)))
  (type $returns_i32 (func (result i32)))
  (type $takes_i32 (func (param i32) (result i32)))
  (func $seven (result i32) i32.const 7)
  (func $eight (result i32) i32.const 8)
  (func $double (param i32) (result i32) local.get 0 i32.const 2 i32.mul)
  (elem (table 0) (offset (global.get $base)) func $imported $seven $eight $seven)
  (elem (table 0) (offset (i32.const 7)) func $double)
  (func (export "call_at") (param i32) (result i32)
    local.get 0
    call_indirect (type $returns_i32))
  (func (export "call_with_arg_at") (param i32 i32) (result i32)
    local.get 0
    local.get 1
    call_indirect (type $takes_i32))
  (func (export "store_ref_to_eight") (param i32)
    local.get 0
    ref.func $eight
    table.set 0))
"#;

/// The same segment shape, but the offset puts its end past the table.
const OUT_OF_BOUNDS: &str = r#"
(module
  (import "lib" "table" (table 10 funcref))
  (import "lib" "late" (global $late i32))
  (func $one (result i32) i32.const 1)
  (elem (table 0) (offset (global.get $late)) func $one $one $one))
"#;

struct Linked {
    store: Store<()>,
    table: Table,
    user: Instance,
}

/// Instantiates the library, then `user_wat` against its exports.
fn link(engine: &SandboxEngine, user_wat: &str) -> wasmtime::Result<Linked> {
    let library = Module::new(engine.engine(), wat::parse_str(LIBRARY)?)?;
    let user = Module::new(engine.engine(), wat::parse_str(user_wat)?)?;
    let mut store = core_store(engine);
    let library = Instance::new(&mut store, &library, &[])?;
    let table = library.get_table(&mut store, "table").unwrap();
    let imports: Vec<_> = user
        .imports()
        .map(|import| library.get_export(&mut store, import.name()).unwrap())
        .collect();
    let user = Instance::new(&mut store, &user, &imports)?;
    Ok(Linked { store, table, user })
}

impl Linked {
    /// Calls the user module's export `name`.
    fn call<P: WasmParams, R: WasmResults>(
        &mut self,
        name: &str,
        params: P,
    ) -> wasmtime::Result<R> {
        let func = self.user.get_typed_func::<P, R>(&mut self.store, name)?;
        func.call(&mut self.store, params)
    }
}

fn call_at(linked: &mut Linked, index: i32) -> wasmtime::Result<i32> {
    linked.call("call_at", index)
}

/// Asserts that `result` failed, with `expected` in the error's chain.
fn assert_fails_with<T>(result: wasmtime::Result<T>, expected: &str) {
    match result {
        Ok(_) => panic!("expected a failure mentioning {expected:?}"),
        Err(error) => assert!(format!("{error:?}").contains(expected), "{error:?}"),
    }
}

#[test]
fn segments_fill_an_imported_table_at_an_imported_offset() {
    let engine = core_engine();
    let mut linked = link(&engine, USER).unwrap();
    // Imported function first, then defined ones (one of them twice).
    assert_eq!(call_at(&mut linked, 2).unwrap(), 42);
    assert_eq!(call_at(&mut linked, 3).unwrap(), 7);
    assert_eq!(call_at(&mut linked, 4).unwrap(), 8);
    assert_eq!(call_at(&mut linked, 5).unwrap(), 7);
    // Slots no segment covers stay null.
    for empty in [0, 1, 6, 8, 9] {
        assert_fails_with(call_at(&mut linked, empty), "uninitialized element");
    }
}

#[test]
fn segment_funcrefs_carry_their_type() {
    let engine = core_engine();
    let mut linked = link(&engine, USER).unwrap();
    // call_indirect checks the callee's type against the expected one:
    // the right type calls, a wrong one is refused.
    let with_arg =
        |linked: &mut Linked, args| linked.call::<(i32, i32), i32>("call_with_arg_at", args);
    assert_eq!(with_arg(&mut linked, (21, 7)).unwrap(), 42);
    assert_fails_with(call_at(&mut linked, 7), "indirect call type mismatch");
    assert_fails_with(with_arg(&mut linked, (1, 3)), "indirect call type mismatch");
}

#[test]
fn segment_funcrefs_are_callable_from_the_host() {
    let engine = core_engine();
    let mut linked = link(&engine, USER).unwrap();
    for (index, expected) in [(2, 42), (3, 7), (4, 8)] {
        let element = linked.table.get(&mut linked.store, index).unwrap();
        let func = *element.unwrap_func().expect("slot is set");
        let mut results = [Val::I32(0)];
        func.call(&mut linked.store, &[], &mut results).unwrap();
        assert_eq!(results[0].unwrap_i32(), expected, "slot {index}");
    }
}

#[test]
fn ref_func_in_code_agrees_with_the_segment() {
    // `ref.func` in function code still goes through Wasmtime's runtime
    // path; it must produce a funcref that works the same as the one the
    // segment wrote for the same function.
    let engine = core_engine();
    let mut linked = link(&engine, USER).unwrap();
    linked.call::<i32, ()>("store_ref_to_eight", 0).unwrap();
    assert_eq!(call_at(&mut linked, 0).unwrap(), 8);
    assert_eq!(call_at(&mut linked, 4).unwrap(), 8);
}

#[test]
fn every_fresh_instance_gets_its_own_funcrefs() {
    // Pooled instance slots are reused: each instantiation must write its
    // own VMContext into the funcrefs, and the previous store's are gone.
    let engine = core_engine();
    for round in 0..5 {
        let mut linked = link(&engine, USER).unwrap();
        assert_eq!(call_at(&mut linked, 3).unwrap(), 7, "round {round}");
        assert_eq!(call_at(&mut linked, 2).unwrap(), 42, "round {round}");
    }
}

#[test]
fn a_segment_past_the_end_of_the_table_fails_instantiation() {
    let engine = core_engine();
    assert_fails_with(link(&engine, OUT_OF_BOUNDS), "out of bounds table access");
}
