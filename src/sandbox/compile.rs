//! Turning component bytes into loaded machine code, through the cache.

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use super::engine::SandboxEngine;
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
pub fn compiled_key(engine: &SandboxEngine, wasm: &[u8]) -> String {
    let digest = Sha256::digest(wasm);
    let hash: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
    format!("{hash}-{}", engine.compatibility_key()).replace('.', "_")
}

/// Loads `wasm`'s machine code from the cache, compiling and caching it when
/// missing or unusable.
pub fn load_component(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    wasm: &[u8],
) -> Result<(Component, CompileSource), CompileError> {
    let key = compiled_key(engine, wasm);
    if let Ok(Some(path)) = cache.existing_path(ArtifactKind::Compiled, &key) {
        // SAFETY: the key binds the file to these bytes and this engine's
        // configuration; only this program writes the cache directory, and
        // it replaces files by rename, never in place.
        match unsafe { engine.load_precompiled_file(&path) } {
            Ok(component) => return Ok((component, CompileSource::Cached)),
            Err(error) => tracing::warn!(%key, "ignoring unusable cached code: {error:#}"),
        }
    }
    let compiled = engine
        .precompile(wasm)
        .map_err(|e| CompileError::Compile(format!("{e:#}")))?;
    cache.put(ArtifactKind::Compiled, &key, &compiled)?;
    // SAFETY: produced by this engine just now.
    let component = unsafe { engine.load_precompiled(&compiled) }
        .map_err(|e| CompileError::Compile(format!("{e:#}")))?;
    Ok((component, CompileSource::Compiled))
}
