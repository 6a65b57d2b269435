//! The one Wasmtime engine every policy runs in, and its configuration.
//!
//! Pooling allocator (instances, memories and tables come from pre-reserved
//! slots instead of fresh mmaps), copy-on-write memory images (a new
//! instance maps the pre-initialized snapshot instead of copying it), fuel
//! (a deterministic CPU budget) and the wall-clock deadline's clock
//! ([`super::deadline`]).

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig, Store,
};

use super::compile_cache::IncrementalCompileCache;
use super::deadline::{self, Clock};
use super::host;
use super::limits::MIB;
use super::shared::RuntimeSet;
use super::state::HostState;

/// How the engine is sized and ticked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// Calls that may run at the same time (one pooled instance each).
    pub max_concurrent_calls: u32,
    /// Interval of the epoch ticker: the granularity of call deadlines in
    /// stock builds (patched builds carry deadlines on fuel and ignore it).
    pub epoch_tick: Duration,
    /// Share compiled functions between the components this engine compiles
    /// (see [`super::compile_cache`]). Worth it when compiling several
    /// policies in one process; costs memory for the engine's lifetime.
    pub incremental_compilation: bool,
    /// Memory slots beyond those calls use at once. An idle slot keeps the
    /// image of the policy that used it last mapped, so that policy's next
    /// call faults in no page again: up to this many policies stay warm.
    /// Address space only, plus the few pages each slot keeps resident.
    pub warm_memory_slots: u32,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            max_concurrent_calls: 8,
            epoch_tick: DEFAULT_EPOCH_TICK,
            incremental_compilation: false,
            warm_memory_slots: DEFAULT_WARM_MEMORY_SLOTS,
        }
    }
}

/// 10 ms: deadlines are hundreds of ms, so a coarser tick loses nothing,
/// and each tick costs every running call a check (1 ms ticks measured
/// ~20 µs/call more here).
pub const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(10);

/// Pool sizes for componentize-py guests. Measured on CPython 3.14 guests:
/// 14 core instances, 1 memory and 2 tables per component, ~5,700 table
/// elements, core instances up to ~242 KB; headroom on each.
const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
const MEMORIES_PER_COMPONENT: u32 = 1;
const TABLES_PER_COMPONENT: u32 = 4;
const TABLE_ELEMENTS: usize = 20_000;
const MAX_INSTANCE_BYTES: usize = MIB as usize;
/// The largest memory any policy may be allowed (the per-call cap is set by
/// each store's limiter, at most this). Address space only, never resident.
const POOL_MAX_MEMORY_BYTES: usize = 4096 * MIB as usize;
/// Slots beyond two per call slot: the background preloader's and a
/// reload's load-time checks.
const SPARE_SLOTS: u32 = 2;
/// The default of [`EngineOptions::warm_memory_slots`].
pub const DEFAULT_WARM_MEMORY_SLOTS: u32 = 256;

/// Component instances the pool holds. A sandbox worker holds at most one
/// instance for calls (running, or made ahead) and, while it loads a cold
/// policy for a call, one more for that policy's load-time check; the
/// spares are for loads outside the workers. Sized so that no load or call
/// ever finds the pool full; a slot is address space until used.
fn instance_slots(options: &EngineOptions) -> u32 {
    2 * options.max_concurrent_calls.max(1) + SPARE_SLOTS
}

/// Memory slots the pool holds: one per instance slot, plus the warm ones.
fn memory_slots(options: &EngineOptions) -> u32 {
    instance_slots(options) * MEMORIES_PER_COMPONENT + options.warm_memory_slots
}

fn pooling_config(options: &EngineOptions) -> PoolingAllocationConfig {
    let slots = instance_slots(options);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .total_core_instances(slots * CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .total_memories(memory_slots(options))
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .total_tables(slots * TABLES_PER_COMPONENT)
        .table_elements(TABLE_ELEMENTS)
        .max_core_instance_size(MAX_INSTANCE_BYTES)
        .max_component_instance_size(MAX_INSTANCE_BYTES)
        .max_memory_size(POOL_MAX_MEMORY_BYTES)
        .max_unused_warm_slots(slots + options.warm_memory_slots);
    keep_dirty_pages_resident(&mut pool);
    pool
}

/// With our Wasmtime patch (PAGEMAP_SCAN may report up to 1,024 dirty
/// regions instead of 32), resetting a slot copies back only the pages the
/// call dirtied (~0.5 MiB) and unmaps nothing: no page faults on the next
/// instantiation and no TLB-shootdown IPIs between threads. Without the
/// patch the scan stops after 32 of the guest's 42-100 regions and these
/// settings cost more than they save, so stock builds keep the defaults.
#[cfg(feature = "patched-wasmtime")]
fn keep_dirty_pages_resident(pool: &mut PoolingAllocationConfig) {
    pool.pagemap_scan(wasmtime::Enabled::Yes)
        .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY_BYTES)
        .table_keep_resident(KEEP_RESIDENT_TABLE_BYTES);
}

#[cfg(not(feature = "patched-wasmtime"))]
fn keep_dirty_pages_resident(_pool: &mut PoolingAllocationConfig) {}

/// Turns transparent huge pages off for this process, which lets our
/// patched pooling allocator (patch 0006) reset a memory slot by restoring
/// the regions its previous reset found dirty, skipping the PAGEMAP_SCAN
/// when no page fault happened in between. The scan walks every page of the
/// ~14 MiB slot and costs more than the ~0.9 MiB copy it guides. With huge
/// pages allowed, khugepaged could map writable memory into a slot without
/// a fault in this process, so the patch only skips scans while they are
/// off. The process loses nothing measurable: Wasmtime never asks for huge
/// pages, and the host's own heap is small.
#[cfg(feature = "patched-wasmtime")]
fn disable_transparent_huge_pages() {
    if std::env::var_os(ALLOW_THP_ENV).is_some() {
        tracing::info!("{ALLOW_THP_ENV} is set: every memory reset scans its slot");
        return;
    }
    // SAFETY: PR_SET_THP_DISABLE takes no pointers and affects only this
    // process's future huge-page decisions.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "could not disable transparent huge pages; every memory reset will scan its slot"
        );
    }
}

#[cfg(not(feature = "patched-wasmtime"))]
fn disable_transparent_huge_pages() {}

/// Dirty linear memory reset in place per call, at most (a call dirties ~0.5 MiB).
#[cfg(feature = "patched-wasmtime")]
const KEEP_RESIDENT_MEMORY_BYTES: usize = 16 * MIB as usize;
/// Dirty table bytes reset in place per call, at most.
#[cfg(feature = "patched-wasmtime")]
const KEEP_RESIDENT_TABLE_BYTES: usize = 64 * 1024;

/// Whether this build carries our Wasmtime patches.
pub const PATCHED_WASMTIME: bool = cfg!(feature = "patched-wasmtime");

/// Fingerprint of the Wasmtime patches this build carries (`stock` for
/// none), from build.rs.
const WASMTIME_PATCHES: &str = env!("POLICY_HOST_WASMTIME_PATCHES");

/// Set (to anything) to leave transparent huge pages on for this process,
/// which makes every memory reset scan its slot (the A/B switch for patch
/// 0006 in docs/benchmarks-history.md; also for hosts that want huge pages).
pub const ALLOW_THP_ENV: &str = "POLICY_HOST_ALLOW_THP";

/// Set (to anything) to have Wasmtime write `/tmp/perf-<pid>.map`, so that
/// `perf report` names the guest's functions (`wasm[8]::function[..]::name`).
/// A profiling aid only: the map grows with every component loaded.
pub const PERF_MAP_ENV: &str = "POLICY_HOST_PERF_MAP";

fn wasmtime_config(options: &EngineOptions) -> wasmtime::Result<Config> {
    let mut config = Config::new();
    if options.incremental_compilation {
        config.enable_incremental_compilation(Arc::new(IncrementalCompileCache::new()))?;
    }
    config
        .wasm_component_model(true)
        // Built without the `gc` feature, Wasmtime 48.0.8 still enables the
        // GC proposal, whose subtype checks are then a stub that aborts the
        // process (GHSA-rc4p-x33f-vpr2, fixed in 48.0.9): a module with a
        // non-final function type could stop the host. CPython needs none
        // of it. Component-model async is pinned off as well (SECURITY.md).
        .wasm_gc(false)
        .concurrency_support(false)
        .consume_fuel(true)
        .epoch_interruption(deadline::USES_EPOCHS)
        .memory_init_cow(true)
        .cranelift_opt_level(OptLevel::Speed)
        .parallel_compilation(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config(options)));
    if std::env::var_os(PERF_MAP_ENV).is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    Ok(config)
}

/// The engine, the linker with every host import, and the deadline clock.
pub struct SandboxEngine {
    engine: Engine,
    linker: Linker<HostState>,
    options: EngineOptions,
    runtimes: RuntimeSet,
    clock: Clock,
}

impl SandboxEngine {
    /// Builds the engine and links WASI plus the `call-input` imports.
    pub fn new(options: EngineOptions) -> wasmtime::Result<Self> {
        disable_transparent_huge_pages();
        let engine = Engine::new(&wasmtime_config(&options)?)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        host::clocks::add_to_linker(&mut linker)?;
        host::random::add_to_linker(&mut linker)?;
        host::call_input::add_to_linker(&mut linker)?;
        host::json_codec::add_to_linker(&mut linker)?;
        let clock = Clock::start(&engine, options.epoch_tick);
        Ok(SandboxEngine {
            engine,
            linker,
            options,
            runtimes: RuntimeSet::default(),
            clock,
        })
    }

    /// The Wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker holding every import a policy may use.
    pub fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    /// The shared runtimes loaded into this engine.
    pub fn runtimes(&self) -> &RuntimeSet {
        &self.runtimes
    }

    /// How this engine was configured.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// How many memory slots the pool has: those of calls in flight and
    /// load-time checks, plus the warm ones.
    pub fn memory_slots(&self) -> u32 {
        memory_slots(&self.options)
    }

    /// Gives `store`'s guest code until `timeout` from now. Call it after
    /// the store's fuel is set.
    pub fn arm_deadline<T>(&self, store: &mut Store<T>, timeout: Duration) -> wasmtime::Result<()> {
        self.clock.arm(store, timeout)
    }

    /// A key that changes whenever compiled code from this engine would no
    /// longer load (Wasmtime version, target, fuel and deadline settings…) or
    /// would differ (our Wasmtime patches, which change emitted code).
    pub fn compatibility_key(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        format!(
            "wasmtime-{}-{WASMTIME_PATCHES}-{:016x}",
            wasmtime_version(),
            hasher.finish()
        )
    }

    /// What the pooling allocator holds now.
    pub fn pool_usage(&self) -> PoolUsage {
        self.engine
            .pooling_allocator_metrics()
            .map_or_else(PoolUsage::default, |pool| PoolUsage {
                instances: pool.component_instances(),
                memories: pool.memories(),
                warm_memories: pool.unused_warm_memories(),
            })
    }

    /// Compiles a component for this engine (Cranelift; seconds for a
    /// CPython guest).
    pub fn precompile(&self, wasm: &[u8]) -> wasmtime::Result<Vec<u8>> {
        self.engine.precompile_component(wasm)
    }
}

/// The pooling allocator's use, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUsage {
    /// Component instances allocated.
    pub instances: u64,
    /// Linear-memory slots in use.
    pub memories: usize,
    /// Unused slots that still hold a memory image.
    pub warm_memories: u32,
}

/// The Wasmtime version compiled in.
pub fn wasmtime_version() -> &'static str {
    "48.0.8"
}
