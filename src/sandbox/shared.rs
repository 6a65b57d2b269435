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
use crate::cache::ArtifactCache;

/// A policy's machine code, ready to link.
pub struct PolicyCode {
    /// The component to link: the policy's own, or the shared runtime.
    pub component: Component,
    /// What each store of the policy must be given (shared runtime only).
    pub overrides: Option<Overrides>,
    /// Whether anything had to be compiled.
    pub source: CompileSource,
}

/// The per-store module overrides that make the shared runtime one policy.
#[cfg(feature = "patched-wasmtime")]
#[derive(Clone)]
pub struct Overrides(std::sync::Arc<[wasmtime::ModuleOverride]>);

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
}

/// The runtimes an engine has loaded, by compiled-code key: each is
/// compiled (or mapped from the cache) once and shared by every policy.
#[derive(Default)]
pub struct RuntimeSet {
    loaded: Mutex<HashMap<String, Component>>,
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Component>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The runtime compiled from `wasm`, loaded at most once per engine.
    #[cfg_attr(not(feature = "patched-wasmtime"), allow(dead_code))]
    fn get_or_load(
        &self,
        engine: &SandboxEngine,
        cache: &ArtifactCache,
        wasm: &[u8],
    ) -> Result<(Component, CompileSource), CompileError> {
        let key = compile::compiled_key(engine, wasm);
        if let Some(runtime) = self.lock().get(&key) {
            return Ok((runtime.clone(), CompileSource::Cached));
        }
        // Two policies loading at once may both load it; one copy is kept.
        let (runtime, source) = compile::load_component(engine, cache, wasm)?;
        let kept = self.lock().entry(key).or_insert(runtime).clone();
        Ok((kept, source))
    }
}

/// Set (to anything) to load every policy whole, each with its own
/// compiled copy of the runtime (the A/B switch of `bench load --mix`).
pub const NO_SHARED_RUNTIME_ENV: &str = "POLICY_HOST_NO_SHARED_RUNTIME";

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
        Ok(parts) => match load_shared(engine, cache, &parts) {
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
    })
}

#[cfg(feature = "patched-wasmtime")]
fn load_shared(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    parts: &super::split::SplitComponent,
) -> Result<PolicyCode, CompileError> {
    use super::split::{GLOBALS_MODULE, IMAGE_MODULE};
    let (runtime, runtime_source) = engine
        .runtimes()
        .get_or_load(engine, cache, &parts.runtime)?;
    let (image, image_source) = compile::load_module(engine, cache, &parts.image)?;
    let overrides = [
        runtime.static_module_override(IMAGE_MODULE, Some(&image), &[]),
        runtime.static_module_override(GLOBALS_MODULE, None, &parts.globals),
    ]
    .into_iter()
    .collect::<wasmtime::Result<Vec<_>>>()
    .map_err(|error| CompileError::Compile(format!("{error:#}")))?;
    let source = match (runtime_source, image_source) {
        (CompileSource::Cached, CompileSource::Cached) => CompileSource::Cached,
        _ => CompileSource::Compiled,
    };
    Ok(PolicyCode {
        component: runtime,
        overrides: Some(Overrides(overrides.into())),
        source,
    })
}
