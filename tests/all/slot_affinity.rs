//! Patch 0013: a module's instance comes back to the memory slot its last
//! instance used, however many modules share the pool and whichever threads
//! instantiate them. The pool is split into shards, and every thread
//! allocates from its home shard first; with one thread doing all the work
//! (one worker), new modules used to get slots only from that shard, and
//! past its size they evicted each other's slots while the other shards
//! stayed empty, so each call mapped its image again.

use policy_host::sandbox::{EngineOptions, SandboxEngine};

use crate::memory_reset::{Call, load_from_file};

/// More modules than one shard of the pool below holds (on a machine with
/// two or more CPUs: 260 slots in shards of at most 130).
const MODULES: usize = 200;

/// A module whose memory image holds `index`.
fn module_with_image(index: usize) -> String {
    format!(r#"(module (memory (export "memory") 1) (data (i32.const 16) "image-{index:04}"))"#)
}

/// Where the instance's linear memory lives: one address per pool slot.
fn slot_of(call: &mut Call) -> usize {
    let memory = call.instance.get_memory(&mut call.store, "memory").unwrap();
    memory.data_ptr(&call.store) as usize
}

#[test]
fn one_thread_instantiating_many_modules_keeps_each_on_its_slot() {
    let engine = SandboxEngine::new(EngineOptions {
        max_concurrent_calls: 1,
        warm_memory_slots: 256,
        ..Default::default()
    })
    .unwrap();
    let modules: Vec<_> = (0..MODULES)
        .map(|index| load_from_file(&engine, &module_with_image(index)))
        .collect();
    let first: Vec<usize> = modules
        .iter()
        .map(|module| slot_of(&mut Call::new(&engine, module)))
        .collect();
    let mut distinct = first.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        MODULES,
        "each module took a slot of its own"
    );
    for round in 0..2 {
        for (index, module) in modules.iter().enumerate() {
            let slot = slot_of(&mut Call::new(&engine, module));
            assert_eq!(
                slot, first[index],
                "round {round}: module {index} found another slot (its own was evicted)"
            );
        }
    }
}
