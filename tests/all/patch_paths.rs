//! Each performance patch of our Wasmtime series takes its fast path
//! (docs/upstream-patches.md). These patches change no behaviour a guest
//! can see, so every other test passes without them; these tests read the
//! state the patches add (through hidden accessors the patches carry) and
//! fail without them, or when a patch silently falls back to Wasmtime's
//! general path. Each also checks that what the fast path built is right.
//! Small core modules and components on this project's engine
//! configuration (pooling, fuel, deadlines). Patched builds only.

use crate::harness::{core_engine, core_store};
use wasmtime::component::{Component, LinkStats, Linker};
use wasmtime::{
    Func, Global, GlobalType, Instance, Module, Mutability, Ref, RefType, Table, TableType, Val,
    ValType,
};

/// Three defined functions escape (exported); one does not; one export is
/// an imported function.
const EXPORTS: &str = r#"
(module
  (import "host" "forty_two" (func $imported (result i32)))
  (func $hidden (result i32) i32.const 3)
  (func (export "one") (result i32) i32.const 1)
  (func (export "two") (result i32) i32.const 2)
  (func (export "three") (result i32) call $hidden)
  (export "imported" (func $imported)))
"#;

/// Patch 0002: an instance builds its funcrefs from the module's table,
/// computed once, with one entry per defined escaping function.
#[test]
fn funcrefs_come_from_the_module_table() {
    let engine = core_engine();
    let module = Module::new(engine.engine(), wat::parse_str(EXPORTS).unwrap()).unwrap();
    assert_eq!(
        module.funcref_table_entries(),
        None,
        "built before any instance"
    );
    for round in 0..2 {
        let mut store = core_store(&engine);
        let host = Func::wrap(&mut store, || 42i32);
        let instance = Instance::new(&mut store, &module, &[host.into()]).unwrap();
        for (name, expected) in [("one", 1), ("two", 2), ("three", 3), ("imported", 42)] {
            let func = instance
                .get_typed_func::<(), i32>(&mut store, name)
                .unwrap();
            assert_eq!(
                func.call(&mut store, ()).unwrap(),
                expected,
                "{name}, round {round}"
            );
        }
        assert_eq!(module.funcref_table_entries(), Some(3), "round {round}");
    }
}

/// Element segments into an imported table at an imported offset (so
/// lazy table initialization cannot apply), as in CPython's modules.
const SEGMENTS: &str = r#"
(module
  (import "lib" "table" (table 4 funcref))
  (import "lib" "base" (global $base i32))
  (type $returns_i32 (func (result i32)))
  (func $seven (result i32) i32.const 7)
  (func $eight (result i32) i32.const 8)
  (elem (table 0) (offset (global.get $base)) func $seven $eight)
  (func (export "call_at") (param i32) (result i32)
    local.get 0
    call_indirect (type $returns_i32)))
"#;

/// Patch 0003: module start-up writes the segments' funcrefs inline, so
/// instantiation asks the host for no funcref and the module's funcref
/// table (0002) stays unbuilt until an export is looked up. Without 0003
/// each element goes through the `ref_func` libcall, which builds it.
#[test]
fn element_segments_ask_the_host_for_no_funcref() {
    let engine = core_engine();
    let module = Module::new(engine.engine(), wat::parse_str(SEGMENTS).unwrap()).unwrap();
    let mut store = core_store(&engine);
    let table_type = TableType::new(RefType::FUNCREF, 4, None);
    let table = Table::new(&mut store, table_type, Ref::Func(None)).unwrap();
    let base_type = GlobalType::new(ValType::I32, Mutability::Const);
    let base = Global::new(&mut store, base_type, Val::I32(1)).unwrap();
    let instance = Instance::new(&mut store, &module, &[table.into(), base.into()]).unwrap();
    assert_eq!(
        module.funcref_table_entries(),
        None,
        "a segment used the libcall"
    );

    let call_at = instance
        .get_typed_func::<i32, i32>(&mut store, "call_at")
        .unwrap();
    assert_eq!(call_at.call(&mut store, 1).unwrap(), 7);
    assert_eq!(call_at.call(&mut store, 2).unwrap(), 8);
    // The export's lookup built the table: both segment functions and the
    // export escape.
    assert_eq!(module.funcref_table_entries(), Some(3));
}

/// Two host functions lowered into a user module, which also imports a
/// function and a mutable global from a library module: the shapes of
/// CPython's dynamically linked modules (host imports through
/// trampolines, functions and `GOT` globals from sibling instances).
const COMPONENT: &str = r#"
(component
  (import "two" (func $two (result u32)))
  (import "five" (func $five (result u32)))
  (core func $two_lowered (canon lower (func $two)))
  (core func $five_lowered (canon lower (func $five)))
  (core module $lib
    (global $base i32 (i32.const 40))
    (global (export "calls") (mut i32) (i32.const 0))
    (func (export "add_base") (param i32) (result i32)
      local.get 0
      global.get $base
      i32.add))
  (core module $user
    (import "lib" "add_base" (func $add_base (param i32) (result i32)))
    (import "lib" "calls" (global $calls (mut i32)))
    (import "host" "two" (func $two (result i32)))
    (import "host" "five" (func $five (result i32)))
    (func (export "run") (result i32)
      global.get $calls
      i32.const 1
      i32.add
      global.set $calls
      call $two
      call $five
      i32.mul
      call $add_base
      global.get $calls
      i32.add))
  (core instance $lib (instantiate $lib))
  (core instance $host (export "two" (func $two_lowered)) (export "five" (func $five_lowered)))
  (core instance $user (instantiate $user (with "lib" (instance $lib)) (with "host" (instance $host))))
  (func (export "run") (result u32) (canon lift (core func $user "run"))))
"#;

/// What `run` returns on its `nth` call in one instance: 2 * 5 + 40 + n.
fn expected_run(nth: u32) -> u32 {
    50 + nth
}

fn component_linker(engine: &wasmtime::Engine) -> Linker<()> {
    let mut linker = Linker::new(engine);
    let mut root = linker.root();
    root.func_wrap("two", |_, (): ()| Ok((2u32,))).unwrap();
    root.func_wrap("five", |_, (): ()| Ok((5u32,))).unwrap();
    linker
}

/// Patch 0004: the component's trampolines (one per lowered host
/// function) are looked up once, at load, and every call through them
/// reaches the right host function.
#[test]
fn trampolines_come_from_the_component_table() {
    let engine = core_engine();
    let component = Component::new(engine.engine(), wat::parse_str(COMPONENT).unwrap()).unwrap();
    assert_eq!(component.precomputed_trampolines(), 2);
    let linker = component_linker(engine.engine());
    let mut store = core_store(&engine);
    let instance = linker.instantiate(&mut store, &component).unwrap();
    let run = instance
        .get_typed_func::<(), (u32,)>(&mut store, "run")
        .unwrap();
    assert_eq!(run.call(&mut store, ()).unwrap(), (expected_run(1),));
}

/// Patch 0005: the first instantiation plans each core module's imports;
/// later ones, in other stores and pool slots and alive at once, copy the
/// link template (release builds; debug builds replay the plan) and each
/// reaches its own library instance.
#[test]
fn later_instantiations_link_from_the_template() {
    let engine = core_engine();
    let component = Component::new(engine.engine(), wat::parse_str(COMPONENT).unwrap()).unwrap();
    let linker = component_linker(engine.engine());
    let instantiate = || {
        let mut store = core_store(&engine);
        let instance = linker.instantiate(&mut store, &component).unwrap();
        let run = instance
            .get_typed_func::<(), (u32,)>(&mut store, "run")
            .unwrap();
        (store, run)
    };
    let modules = 2;
    let first = instantiate();
    assert_eq!(
        component.link_stats(),
        LinkStats {
            planned: modules,
            ..LinkStats::default()
        }
    );

    let mut later: Vec<_> = (0..3).map(|_| instantiate()).collect();
    let linked = 3 * modules;
    let expected = if cfg!(debug_assertions) {
        LinkStats {
            planned: modules,
            replayed: linked,
            copied: 0,
        }
    } else {
        LinkStats {
            planned: modules,
            replayed: 0,
            copied: linked,
        }
    };
    assert_eq!(component.link_stats(), expected);

    // Each instance counts its own calls in its own library's global: an
    // import left pointing at another instance would count them together
    // (or crash).
    let mut all = vec![first];
    all.append(&mut later);
    for (index, (store, run)) in all.iter_mut().enumerate() {
        for nth in 1..=index as u32 + 1 {
            let result = run.call(&mut *store, ()).unwrap();
            assert_eq!(result, (expected_run(nth),), "instance {index}, call {nth}");
        }
    }
}
