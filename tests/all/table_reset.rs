//! A pooled table slot holds nothing of the instance that used it last.
//! With our patch 0012 a small table (at most 16 host pages, all kept
//! resident) is zeroed whole when its instance is dropped, instead of being
//! scanned for the pages that instance wrote; a larger table is still
//! scanned. Either way every element an instance set is null again for the
//! next instance.

use crate::harness::{core_engine, core_store};
use policy_host::sandbox::SandboxEngine;
use wasmtime::{Instance, Module};

/// A module with a funcref table of `elements`, and exports that set an
/// element and tell whether one is null.
fn table_module(engine: &SandboxEngine, elements: u32) -> Module {
    let wat = format!(
        r#"(module
  (table {elements} {elements} funcref)
  (func $target)
  (elem declare func $target)
  (func (export "set") (param i32)
    local.get 0
    ref.func $target
    table.set 0)
  (func (export "is_null") (param i32) (result i32)
    local.get 0
    table.get 0
    ref.is_null))"#
    );
    Module::new(engine.engine(), wat::parse_str(&wat).unwrap()).unwrap()
}

/// Instances of a table of `elements`, one after another on one engine's
/// pool, each setting the first, a middle and the last element.
fn each_instance_finds_the_elements_null(elements: u32) {
    let engine = core_engine();
    let module = table_module(&engine, elements);
    let touched = [0, elements / 2, elements - 1].map(|i| i as i32);
    for round in 0..4 {
        let mut store = core_store(&engine);
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let set = instance
            .get_typed_func::<i32, ()>(&mut store, "set")
            .unwrap();
        let is_null = instance
            .get_typed_func::<i32, i32>(&mut store, "is_null")
            .unwrap();
        for index in touched {
            assert_eq!(
                is_null.call(&mut store, index).unwrap(),
                1,
                "round {round}: element {index} kept an earlier instance's funcref"
            );
            set.call(&mut store, index).unwrap();
            assert_eq!(is_null.call(&mut store, index).unwrap(), 0);
        }
    }
}

#[test]
fn a_small_table_is_zeroed_for_the_next_instance() {
    // 2,000 funcrefs: 16 KiB, zeroed whole on patched builds.
    each_instance_finds_the_elements_null(2_000);
}

#[test]
fn a_table_too_large_to_zero_whole_is_reset_for_the_next_instance() {
    // 20,000 funcrefs: 160 KiB, beyond both 16 pages and what is kept
    // resident, so its reset scans.
    each_instance_finds_the_elements_null(20_000);
}
