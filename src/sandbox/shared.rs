//! One compiled CPython runtime shared by every policy, and each policy's
//! own memory image and globals on top of it.
//!
//! A policy component is split ([`super::split`]) into the runtime, which
//! is byte-identical for every policy built by one toolchain and so is
//! compiled and mapped once per engine, and an image module compiled on its
//! own (a few KiB of code; its snapshot stays file-backed in the cache).
//! Each store of the policy gets Wasmtime module overrides (our patch 0007)
//! that give the runtime's memory module the policy's image and minimum,
//! and its adapter module the policy's globals; the pool keys slot affinity
//! to the image module, so a slot keeps one policy's pages mapped between
//! that policy's calls and is purged when the policy is unloaded.
//!
//! Stock Wasmtime has no overrides: every policy then loads whole.

use std::collections::HashMap;
use std::sync::Mutex;

use wasmtime::Store;
use wasmtime::component::Component;

use super::compile::{self, CompileError, CompileSource};
use super::engine::SandboxEngine;
use super::image_sample::PageSample;
use crate::cache::ArtifactCache;

/// A policy's machine code, ready to link.
pub struct PolicyCode {
    /// The component to link: the policy's own, or the shared runtime.
    pub component: Component,
    /// What each store of the policy must be given (shared runtime only).
    pub overrides: Option<Overrides>,
    /// Whether anything had to be compiled.
    pub source: CompileSource,
    /// What loads it again without its component's bytes (a policy on the
    /// shared runtime whose image is stored as a delta), else `None`.
    pub keys: Option<super::code_keys::CodeKeys>,
}

/// The per-store module overrides that make the shared runtime one policy.
#[cfg(feature = "patched-wasmtime")]
#[derive(Clone)]
pub struct Overrides(pub(super) std::sync::Arc<[wasmtime::ModuleOverride]>);

/// Stock builds never share a runtime, so no value of this type exists.
#[cfg(not(feature = "patched-wasmtime"))]
#[derive(Clone)]
pub enum Overrides {}

impl Overrides {
    /// Gives `store`'s instances the policy's image and globals.
    pub fn apply<T>(&self, store: &mut Store<T>) {
        #[cfg(feature = "patched-wasmtime")]
        store.set_module_overrides(Some(self.0.clone()));
        #[cfg(not(feature = "patched-wasmtime"))]
        {
            let _ = store;
            match *self {}
        }
    }

    /// How many bytes of the policy's snapshot are mapped from another
    /// policy's image (identical pages, kept once).
    pub fn shared_image_bytes(&self) -> usize {
        #[cfg(feature = "patched-wasmtime")]
        return self.0.iter().map(|o| o.shared_image_bytes()).sum();
        #[cfg(not(feature = "patched-wasmtime"))]
        match *self {}
    }

    /// How many bytes of the policy's snapshot, those that differ from the
    /// image it shares pages with, are kept in memory for resets.
    pub fn image_bytes_in_memory(&self) -> usize {
        #[cfg(feature = "patched-wasmtime")]
        return self.0.iter().map(|o| o.image_bytes_in_memory()).sum();
        #[cfg(not(feature = "patched-wasmtime"))]
        match *self {}
    }
}

/// The runtimes an engine has loaded, by compiled-code key: each is
/// compiled (or mapped from the cache) once and shared by every policy.
#[derive(Default)]
pub struct RuntimeSet {
    loaded: Mutex<HashMap<String, LoadedRuntime>>,
}

/// At most this many runs of a policy's pages are mapped from its base:
/// copies of one policy differ in 50–170 scattered pages, so sharing all
/// their common pages takes up to ~170 runs.
pub const MAX_SHARED_RUNS: usize = 512;
/// The share (numerator, denominator) of the process's mappings
/// (`vm.max_map_count`) that shared runs may take in all memory slots. The
/// rest of the process takes a few hundred (at 200 tenants: ~150 beyond
/// the runs), so a quarter of the limit stays free.
#[cfg_attr(not(feature = "patched-wasmtime"), allow(dead_code))]
const SHARED_RUNS_MAP_SHARE: (u64, u64) = (3, 4);
/// Linux's default `vm.max_map_count`, when it cannot be read.
#[cfg_attr(not(feature = "patched-wasmtime"), allow(dead_code))]
const DEFAULT_MAX_MAP_COUNT: u64 = 65_530;

/// How many runs of shared pages each image may map: every run splits the
/// mapping of each memory slot holding the image in up to two more, and
/// all slots together must stay well inside the process's mapping limit
/// (`vm.max_map_count`: the default allows ~93 runs with the default pool;
/// raising it lets many tenants share more, docs/operating.md).
pub fn max_shared_runs(memory_slots: u32) -> usize {
    static LIMIT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let limit = *LIMIT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .unwrap_or(DEFAULT_MAX_MAP_COUNT)
    });
    runs_within(limit, memory_slots)
}

/// [`max_shared_runs`] under a mapping limit of `limit`.
#[cfg_attr(not(feature = "patched-wasmtime"), allow(dead_code))]
fn runs_within(limit: u64, memory_slots: u32) -> usize {
    let (num, den) = SHARED_RUNS_MAP_SHARE;
    let per_slot = limit * num / den / u64::from(memory_slots.max(1));
    let runs = per_slot.saturating_sub(1) / 2;
    usize::try_from(runs).map_or(MAX_SHARED_RUNS, |runs| runs.min(MAX_SHARED_RUNS))
}

/// At most this many images per runtime serve as bases.
const MAX_BASES: usize = 8;
/// An image becomes a base as well when no base has at least this share
/// (numerator, denominator) of its sampled pages.
const NEW_BASE_BELOW: (usize, usize) = (3, 4);

/// One loaded runtime and the images its policies share pages with.
struct LoadedRuntime {
    component: Component,
    /// Images whose pages later images map where they hold the same bytes
    /// (our patch 0008), so that policies built on one host
    /// (`build::entropy`) keep one copy of their common snapshot pages:
    /// the first image loaded, then each one that none of these matches
    /// well (another kind of policy). Kept for the runtime's lifetime, even
    /// after their policies are unloaded.
    bases: Vec<Base>,
}

/// The base an image shares pages with.
#[cfg_attr(not(feature = "patched-wasmtime"), allow(dead_code))]
pub(crate) struct BaseMatch {
    /// The base image's module.
    pub(crate) module: wasmtime::Module,
    /// Its compiled-artifact key.
    pub(crate) key: String,
    /// Whether it matched the image's page sample well: an image stored as
    /// a delta keeps its base for good, so only a close one is kept.
    pub(crate) close: bool,
}

/// A base image, its compiled-artifact key and its page sample (`None`
/// for a base loaded only because delta images name it).
struct Base {
    key: String,
    module: wasmtime::Module,
    sample: Option<PageSample>,
}

impl RuntimeSet {
    /// How many distinct runtimes are loaded.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LoadedRuntime>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The runtime under `key`: loaded already, or mapped from its compiled
    /// file in the cache; `None` when neither (nothing is compiled here).
    #[cfg_attr(not(feature = "patched-wasmtime"), allow(dead_code))]
    pub(crate) fn cached(
        &self,
        engine: &SandboxEngine,
        cache: &ArtifactCache,
        key: &str,
    ) -> Option<Component> {
        if let Some(runtime) = self.lock().get(key) {
            return Some(runtime.component.clone());
        }
        let component = compile::load_cached_component(engine, cache, key)?;
        let kept = (self.lock().entry(key.to_owned()))
            .or_insert(LoadedRuntime {
                component,
                bases: Vec::new(),
            })
            .component
            .clone();
        Some(kept)
    }

    /// The runtime compiled from `wasm`, loaded at most once per engine,
    /// and its key.
    #[cfg_attr(not(feature = "patched-wasmtime"), allow(dead_code))]
    pub(crate) fn get_or_load(
        &self,
        engine: &SandboxEngine,
        cache: &ArtifactCache,
        wasm: &super::pieces::Pieces<'_>,
    ) -> Result<(Component, String, CompileSource), CompileError> {
        let key = compile::compiled_key(engine, wasm);
        if let Some(runtime) = self.lock().get(&key) {
            return Ok((runtime.component.clone(), key, CompileSource::Cached));
        }
        // Two policies loading at once may both load it; one copy is kept.
        let (component, source) = compile::load_component_pieces(engine, cache, wasm)?;
        let kept = (self.lock().entry(key.clone()))
            .or_insert(LoadedRuntime {
                component,
                bases: Vec::new(),
            })
            .component
            .clone();
        Ok((kept, key, source))
    }

    /// The base image on runtime `key` whose sampled pages match
    /// `sample`'s best, and its artifact key (`None` when there is none
    /// yet, or `image_key` is a base itself); `image` becomes a base too
    /// when none matches well and there is room.
    #[cfg_attr(not(feature = "patched-wasmtime"), allow(dead_code))]
    pub(crate) fn base_image_for(
        &self,
        key: &str,
        image_key: &str,
        image: &wasmtime::Module,
        sample: PageSample,
    ) -> Option<BaseMatch> {
        let mut loaded = self.lock();
        let runtime = loaded.get_mut(key)?;
        if let Some(itself) = runtime.bases.iter_mut().find(|base| base.key == image_key) {
            itself.sample.get_or_insert(sample);
            return None;
        }
        let best = (runtime.bases.iter())
            .filter_map(|base| Some((base.sample.as_ref()?.matches(&sample), base)))
            .max_by_key(|(matches, _)| *matches);
        let matches = best.map_or(0, |(matches, _)| matches);
        let (num, den) = NEW_BASE_BELOW;
        let close = matches * den >= sample.len() * num;
        let chosen = best.map(|(_, base)| BaseMatch {
            module: base.module.clone(),
            key: base.key.clone(),
            close,
        });
        let sampled = (runtime.bases.iter())
            .filter(|base| base.sample.is_some())
            .count();
        if !close && sampled < MAX_BASES {
            runtime.bases.push(Base {
                key: image_key.to_owned(),
                module: image.clone(),
                sample: Some(sample),
            });
        }
        chosen
    }

    /// The base image `image_key` on runtime `key`, if loaded.
    #[cfg_attr(not(feature = "patched-wasmtime"), allow(dead_code))]
    pub(crate) fn base_by_key(&self, key: &str, image_key: &str) -> Option<wasmtime::Module> {
        let loaded = self.lock();
        let base = loaded
            .get(key)?
            .bases
            .iter()
            .find(|base| base.key == image_key)?;
        Some(base.module.clone())
    }

    /// Keeps `module` as base image `image_key` of runtime `key` (loaded
    /// because delta images name it) and returns the module kept: the one
    /// already there, if another load was first.
    #[cfg_attr(not(feature = "patched-wasmtime"), allow(dead_code))]
    pub(crate) fn add_base(
        &self,
        key: &str,
        image_key: &str,
        module: wasmtime::Module,
    ) -> wasmtime::Module {
        let mut loaded = self.lock();
        let Some(runtime) = loaded.get_mut(key) else {
            return module;
        };
        if let Some(base) = runtime.bases.iter().find(|base| base.key == image_key) {
            return base.module.clone();
        }
        runtime.bases.push(Base {
            key: image_key.to_owned(),
            module: module.clone(),
            sample: None,
        });
        module
    }
}

/// Set (to anything) to load every policy whole, each with its own
/// compiled copy of the runtime (the A/B switch of `bench load --mix`).
pub const NO_SHARED_RUNTIME_ENV: &str = "POLICY_HOST_NO_SHARED_RUNTIME";

/// Set (to anything) to map every policy image from its own artifact only,
/// sharing no snapshot pages (the A/B switch of patch 0008).
pub const NO_SHARED_PAGES_ENV: &str = "POLICY_HOST_NO_SHARED_PAGES";

/// Loads `wasm`'s machine code: on the shared runtime when its layout
/// allows and this build can override modules, whole otherwise.
pub fn load_policy_code(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    wasm: &[u8],
) -> Result<PolicyCode, CompileError> {
    #[cfg(feature = "patched-wasmtime")]
    match super::split::split(wasm) {
        _ if std::env::var_os(NO_SHARED_RUNTIME_ENV).is_some() => {}
        Ok(parts) => match super::shared_image::load_shared(engine, cache, &parts) {
            Ok(code) => return Ok(code),
            Err(error) => {
                tracing::warn!("loading the policy whole, not on the shared runtime: {error}")
            }
        },
        Err(error) => tracing::debug!("loading the policy whole: {error}"),
    }
    let (component, source) = compile::load_component(engine, cache, wasm)?;
    Ok(PolicyCode {
        component,
        overrides: None,
        source,
        keys: None,
    })
}

/// The machine code of a policy an earlier load described as `keys`, from
/// the cache alone: the runtime loaded (or its compiled file), the image's
/// stored delta and its base. `None` when any is missing or unusable (the
/// caller then loads the component's bytes); nothing is compiled.
pub fn load_policy_code_by_keys(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    keys: &super::code_keys::CodeKeys,
) -> Option<PolicyCode> {
    #[cfg(feature = "patched-wasmtime")]
    if std::env::var_os(NO_SHARED_RUNTIME_ENV).is_none() {
        return super::shared_image::load_shared_by_keys(engine, cache, keys);
    }
    let _ = (engine, cache, keys);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_runs_shrink_with_the_pool_and_stay_inside_the_mapping_limit() {
        // The default pool (4 workers + 2 spare + 256 warm slots).
        assert_eq!(runs_within(DEFAULT_MAX_MAP_COUNT, 262), 93);
        assert_eq!(runs_within(DEFAULT_MAX_MAP_COUNT, 1), MAX_SHARED_RUNS);
        assert_eq!(runs_within(DEFAULT_MAX_MAP_COUNT, 4096), 5);
        assert_eq!(runs_within(DEFAULT_MAX_MAP_COUNT, 100_000), 0);
        for slots in [1, 10, 262, 1000, 5000] {
            let mappings =
                u64::from(slots) * (2 * runs_within(DEFAULT_MAX_MAP_COUNT, slots) as u64 + 1);
            assert!(mappings <= DEFAULT_MAX_MAP_COUNT * 3 / 4, "{slots} slots");
        }
    }
}
