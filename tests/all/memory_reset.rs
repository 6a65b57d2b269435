//! A linear memory slot is pristine for every new instance, however its
//! last reset was done. With our patch 0006 a reset may restore the regions
//! the slot's previous reset found dirty instead of scanning the slot again
//! (when no page fault happened in between); these tests check that every
//! page a call wrote is back to its image or zero contents either way, and,
//! on patched builds, that resets did skip the scan. The module is loaded
//! from a compiled file, as policy components are, so its memory image is a
//! private file mapping.

use crate::harness::{core_engine, core_store};
use policy_host::sandbox::SandboxEngine;
use policy_host::sandbox::engine::PATCHED_WASMTIME;
use wasmtime::{Instance, Module, Store, WasmParams, WasmResults};

/// Wasm page size.
pub(crate) const PAGE: i32 = 65_536;
/// Pages of the memory's initial size.
const INITIAL_PAGES: i32 = 8;
/// Where the data segments put the image's bytes.
pub(crate) const IMAGE_OFFSETS: [i32; 3] = [0, 3 * PAGE + 100, 5 * PAGE];
/// The first byte of every data segment, as an i32 load sees it.
const IMAGE_WORD: i32 = 0x6867_6665;

pub(crate) const MODULE: &str = r#"
(module
  (memory (export "memory") 8 64)
  (data (i32.const 0) "efgh-image-at-zero")
  (data (i32.const 196708) "efgh-image-in-page-three")
  (data (i32.const 327680) "efgh-image-at-page-five")
  (func (export "load") (param i32) (result i32)
    local.get 0
    i32.load)
  (func (export "store") (param i32 i32)
    local.get 0
    local.get 1
    i32.store)
  (func (export "grow") (param i32) (result i32)
    local.get 0
    memory.grow))
"#;

/// The same memory shape with a different image, to share the pool.
const OTHER_MODULE: &str = r#"
(module
  (memory (export "memory") 8 64)
  (data (i32.const 0) "wxyz-another-image")
  (func (export "store") (param i32 i32)
    local.get 0
    local.get 1
    i32.store))
"#;

/// What a call writes, in place of tenant data.
pub(crate) const SECRET: i32 = 0x5EC2_E7ED;

/// Loads `wat` the way components are loaded: compiled to a file, mapped.
pub(crate) fn load_from_file(engine: &SandboxEngine, wat: &str) -> Module {
    let compiled = engine
        .engine()
        .precompile_module(&wat::parse_str(wat).unwrap())
        .unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), compiled).unwrap();
    // SAFETY: the file holds what `precompile_module` produced just above,
    // for this engine, and nothing changes it while it is mapped.
    unsafe { Module::deserialize_file(engine.engine(), file.path()) }.unwrap()
}

/// One instance on its own fresh store, as every policy call gets.
pub(crate) struct Call {
    pub(crate) store: Store<()>,
    pub(crate) instance: Instance,
}

impl Call {
    pub(crate) fn new(engine: &SandboxEngine, module: &Module) -> Call {
        let mut store = core_store(engine);
        let instance = Instance::new(&mut store, module, &[]).unwrap();
        Call { store, instance }
    }

    /// Calls the export `name`.
    fn call<P: WasmParams, R: WasmResults>(&mut self, name: &str, params: P) -> R {
        let func = self
            .instance
            .get_typed_func::<P, R>(&mut self.store, name)
            .unwrap();
        func.call(&mut self.store, params).unwrap()
    }

    fn load(&mut self, address: i32) -> i32 {
        self.call("load", address)
    }

    pub(crate) fn store(&mut self, address: i32, value: i32) {
        self.call("store", (address, value))
    }

    fn grow(&mut self, pages: i32) -> i32 {
        self.call("grow", pages)
    }

    /// Asserts the memory is as the image left it at every address in
    /// `written` (each one a call before may have overwritten).
    pub(crate) fn assert_pristine(&mut self, written: &[i32]) {
        let size = self.instance.get_memory(&mut self.store, "memory").unwrap();
        assert_eq!(
            size.size(&self.store),
            INITIAL_PAGES as u64,
            "memory size after reset"
        );
        for &address in written {
            let expected = if IMAGE_OFFSETS.contains(&address) {
                IMAGE_WORD
            } else {
                0
            };
            assert_eq!(
                self.load(address),
                expected,
                "address {address:#x} kept a previous call's write"
            );
        }
    }
}

/// Resets so far that skipped the scan (0 on stock Wasmtime, which always
/// scans or decommits).
fn resets_without_scan(engine: &SandboxEngine) -> u64 {
    #[cfg(feature = "patched-wasmtime")]
    {
        engine
            .engine()
            .pooling_allocator_metrics()
            .expect("pooling allocator")
            .memory_resets_without_scan()
    }
    #[cfg(not(feature = "patched-wasmtime"))]
    {
        let _ = engine;
        0
    }
}

/// Most resets skip the scan, but only when the whole process took no page
/// fault since the slot's last scan: tests running beside this one fault
/// often, so rounds go on until enough resets skipped it (or a generous
/// bound, which a patched build is expected never to reach).
fn enough_skips(engine: &SandboxEngine, round: usize) -> bool {
    const WANTED: u64 = 20;
    const MAX_ROUNDS: usize = 20_000;
    /// Stock Wasmtime never skips: its rounds only check the resets.
    const STOCK_ROUNDS: usize = 50;
    let skipped = resets_without_scan(engine);
    if !PATCHED_WASMTIME {
        return round >= STOCK_ROUNDS;
    }
    if round >= MAX_ROUNDS {
        panic!("only {skipped} of {round} resets skipped the scan");
    }
    skipped >= WANTED
}

#[test]
fn pages_written_again_are_restored_when_the_scan_is_skipped() {
    let engine = core_engine();
    let module = load_from_file(&engine, MODULE);
    // Image pages and zero pages, written by every call.
    let written = [IMAGE_OFFSETS[0], IMAGE_OFFSETS[1], 2 * PAGE + 8, 7 * PAGE];
    let mut round = 0;
    loop {
        let mut call = Call::new(&engine, &module);
        call.assert_pristine(&written);
        if enough_skips(&engine, round) {
            break;
        }
        for (i, &address) in written.iter().enumerate() {
            call.store(address, SECRET ^ round as i32 ^ i as i32);
        }
        round += 1;
    }
}

#[test]
fn a_page_first_written_after_skipped_scans_is_restored() {
    let engine = core_engine();
    let module = load_from_file(&engine, MODULE);
    let mut written = vec![IMAGE_OFFSETS[0]];
    // Let the slot settle into skipping: the same page, call after call.
    let mut round = 0;
    while !enough_skips(&engine, round) {
        let mut call = Call::new(&engine, &module);
        call.assert_pristine(&written);
        call.store(IMAGE_OFFSETS[0], SECRET);
        round += 1;
    }
    // Then pages no call wrote before, one more per call: the first write
    // to each faults, so the reset after it scans and finds it.
    let fresh_pages = (IMAGE_OFFSETS[2]..INITIAL_PAGES * PAGE).step_by(4096 * 3);
    for address in fresh_pages {
        let mut call = Call::new(&engine, &module);
        call.assert_pristine(&written);
        call.store(IMAGE_OFFSETS[0], SECRET);
        call.store(address, SECRET);
        written.push(address);
        // A call that writes only known pages again, likely skipping.
        let mut call = Call::new(&engine, &module);
        call.assert_pristine(&written);
        call.store(address, SECRET);
    }
    Call::new(&engine, &module).assert_pristine(&written);
}

#[test]
fn memory_grown_by_a_call_is_zero_and_gone_for_the_next() {
    let engine = core_engine();
    let module = load_from_file(&engine, MODULE);
    let beyond = INITIAL_PAGES * PAGE + 4 * PAGE + 12;
    for round in 0..200 {
        let mut call = Call::new(&engine, &module);
        call.assert_pristine(&[IMAGE_OFFSETS[0]]);
        // Every other call grows: the reset after a grown call covers more
        // memory than the one before it, so its regions must not be reused.
        if round % 2 == 0 {
            assert_eq!(call.grow(8), INITIAL_PAGES);
            assert_eq!(call.load(beyond), 0, "grown memory starts zeroed");
            call.store(beyond, SECRET);
        }
        call.store(IMAGE_OFFSETS[0], SECRET);
    }
}

#[test]
fn a_slot_shared_by_two_images_is_pristine_for_each() {
    let engine = core_engine();
    let module = load_from_file(&engine, MODULE);
    let other = load_from_file(&engine, OTHER_MODULE);
    for _ in 0..200 {
        let mut call = Call::new(&engine, &module);
        call.assert_pristine(&[IMAGE_OFFSETS[0], 2 * PAGE]);
        call.store(IMAGE_OFFSETS[0], SECRET);
        call.store(2 * PAGE, SECRET);
        drop(call);
        let mut call = Call::new(&engine, &other);
        call.store(2 * PAGE, SECRET);
    }
}

/// Patch 0010: dropping an instance leaves its slot dirty, and the slot is
/// reset when the next instance takes it, before that instance runs. A
/// waiting slot still counts the bytes its last reset kept resident.
#[cfg(feature = "patched-wasmtime")]
#[test]
fn a_slot_is_reset_when_next_used_not_when_its_instance_is_dropped() {
    let engine = core_engine();
    let metrics = || (engine.engine().pooling_allocator_metrics()).expect("pooling allocator");
    let resets_on_reuse = || metrics().memory_resets_on_reuse();
    let module = load_from_file(&engine, MODULE);
    let written = [IMAGE_OFFSETS[1], 6 * PAGE + 4];
    for round in 0..5 {
        let mut call = Call::new(&engine, &module);
        // The same module comes back to its own slot, so every instance
        // after the first found the slot dirty and reset it.
        assert_eq!(resets_on_reuse(), round, "resets before instance {round}");
        call.assert_pristine(&written);
        for &offset in &written {
            call.store(offset, SECRET);
        }
        drop(call);
        assert_eq!(
            resets_on_reuse(),
            round,
            "dropping instance {round} reset its slot"
        );
        if round > 0 {
            assert!(
                metrics().unused_memory_bytes_resident() >= 2 * 4096,
                "a waiting slot counts the pages its last reset kept"
            );
        }
    }
}
