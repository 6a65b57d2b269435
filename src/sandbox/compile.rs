//! Turning component bytes into loaded machine code, through the cache.

use sha2::{Digest, Sha256};
use wasmtime::Module;
use wasmtime::component::Component;

use super::engine::SandboxEngine;
use super::pieces::Pieces;
use crate::cache::{ArtifactCache, ArtifactKind};

/// How a component was made ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileSource {
    /// Loaded from the compiled-artifact cache.
    Cached,
    /// Compiled now (and cached).
    Compiled,
}

/// Why a component could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// Cranelift or validation rejected the component.
    #[error("compiling the component failed: {0}")]
    Compile(String),
    /// The cache could not be written.
    #[error("writing compiled code to the cache: {0}")]
    Cache(#[from] std::io::Error),
}

/// The cache key of `wasm`'s machine code for `engine`.
pub fn compiled_key(engine: &SandboxEngine, wasm: &Pieces<'_>) -> String {
    let mut hasher = Sha256::new();
    wasm.hash_into(&mut hasher);
    let hash = crate::build::hex(&hasher.finalize()[..20]);
    format!("{hash}-{}", engine.compatibility_key()).replace('.', "_")
}

/// Loads `wasm`'s machine code from the cache, compiling and caching it when
/// missing or unusable.
pub fn load_component(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    wasm: &[u8],
) -> Result<(Component, CompileSource), CompileError> {
    load_component_pieces(engine, cache, &Pieces::borrowing(wasm))
}

/// [`load_component`] for a component in pieces (made contiguous only
/// when it must be compiled).
pub fn load_component_pieces(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    wasm: &Pieces<'_>,
) -> Result<(Component, CompileSource), CompileError> {
    load_cached(
        cache,
        compiled_key(engine, wasm),
        || engine.precompile(&wasm.to_vec()),
        // SAFETY: see `load_cached`.
        |path| unsafe { Component::deserialize_file(engine.engine(), path) },
        // SAFETY: see `load_cached`.
        |bytes| unsafe { Component::deserialize(engine.engine(), bytes) },
    )
}

/// The component compiled under `key`, mapped from the cache; `None` when
/// the cache has no usable file for it (nothing is compiled).
pub fn load_cached_component(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    key: &str,
) -> Option<Component> {
    let path = cache.existing_path(ArtifactKind::Compiled, key).ok()??;
    // SAFETY: see `load_cached`: the file is our own compiler output under
    // its key, replaced only by rename.
    let loaded = unsafe { Component::deserialize_file(engine.engine(), &path) };
    loaded
        .inspect_err(|error| tracing::warn!(%key, "ignoring unusable cached code: {error:#}"))
        .ok()
}

/// [`load_component_pieces`] for a core module (a policy's memory image)
/// whose [`compiled_key`] is `key`.
pub fn load_module(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    wasm: &Pieces<'_>,
    key: &str,
) -> Result<(Module, CompileSource), CompileError> {
    load_cached(
        cache,
        key.to_owned(),
        || engine.engine().precompile_module(&wasm.to_vec()),
        // SAFETY: see `load_cached`.
        |path| unsafe { Module::deserialize_file(engine.engine(), path) },
        // SAFETY: see `load_cached`.
        |bytes| unsafe { Module::deserialize(engine.engine(), bytes) },
    )
}

/// The cache lookup shared by components and modules, under `key`
/// ([`compiled_key`]). `load_file` and
/// `load_bytes` are only given our own compiler output: the key binds a
/// cached file to `wasm` and this engine's configuration, only this
/// program writes the cache directory, and it replaces files by rename,
/// never in place, so a mapped file does not change.
fn load_cached<T>(
    cache: &ArtifactCache,
    key: String,
    precompile: impl FnOnce() -> wasmtime::Result<Vec<u8>>,
    load_file: impl Fn(&std::path::Path) -> wasmtime::Result<T>,
    load_bytes: impl FnOnce(&[u8]) -> wasmtime::Result<T>,
) -> Result<(T, CompileSource), CompileError> {
    if let Ok(Some(path)) = cache.existing_path(ArtifactKind::Compiled, &key) {
        match load_file(&path) {
            Ok(loaded) => return Ok((loaded, CompileSource::Cached)),
            Err(error) => tracing::warn!(%key, "ignoring unusable cached code: {error:#}"),
        }
    }
    let compiled = precompile().map_err(|e| CompileError::Compile(format!("{e:#}")))?;
    cache.put(ArtifactKind::Compiled, &key, &compiled)?;
    // Mapped from the cache file, the code and images stay file-backed.
    if let Ok(Some(path)) = cache.existing_path(ArtifactKind::Compiled, &key)
        && let Ok(loaded) = load_file(&path)
    {
        return Ok((loaded, CompileSource::Compiled));
    }
    let loaded = load_bytes(&compiled).map_err(|e| CompileError::Compile(format!("{e:#}")))?;
    Ok((loaded, CompileSource::Compiled))
}
