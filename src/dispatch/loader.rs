//! Loading a directory of built components into a registry.

use std::path::Path;
use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use super::registry::{DuplicatePolicy, PolicyRegistry};
use crate::cache::ArtifactCache;
use crate::manifest::{self, Manifest, ManifestError};
use crate::sandbox::{
    self, CompileError, CompileSource, CompiledPolicy, LimitOverrides, Limits, LoadError,
    SandboxEngine,
};

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadPolicyError {
    /// The directory or file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file has no usable manifest.
    #[error("{path}: {source}")]
    Manifest {
        /// The file.
        path: String,
        /// What is wrong.
        source: ManifestError,
    },
    /// The manifest's limits are invalid.
    #[error("{path}: {source}")]
    Limits {
        /// The file.
        path: String,
        /// What is wrong.
        source: sandbox::limits::LimitError,
    },
    /// Compilation failed.
    #[error("{path}: {source}")]
    Compile {
        /// The file.
        path: String,
        /// What is wrong.
        source: CompileError,
    },
    /// The component does not fit this host.
    #[error("{path}: {source}")]
    Load {
        /// The file.
        path: String,
        /// What is wrong.
        source: LoadError,
    },
    /// The policy's own files could not be unpacked.
    #[error("{path}: {source}")]
    Bundle {
        /// The file.
        path: String,
        /// What is wrong.
        source: crate::bundle::BundleError,
    },
    /// Two components have the same name and version.
    #[error(transparent)]
    Duplicate(#[from] DuplicatePolicy),
}

/// Where in the artifact cache policies' files are unpacked.
const BUNDLES_DIR: &str = "bundles";

/// A policy loaded from component bytes, with its manifest.
pub struct LoadedPolicy {
    /// The component's manifest.
    pub manifest: Manifest,
    /// The ready policy.
    pub policy: Arc<CompiledPolicy>,
    /// Whether its machine code came from the cache.
    pub source: CompileSource,
}

/// Loads one component: manifest, limits (the manifest's overrides on top of
/// `defaults`, then `forced` on top of both), machine code (cached), and the
/// load-time check.
pub fn load_policy(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    wasm: &[u8],
    shown_as: &str,
    defaults: Limits,
    forced: LimitOverrides,
) -> Result<LoadedPolicy, LoadPolicyError> {
    let path = shown_as.to_string();
    let manifest = manifest::read(wasm).map_err(|source| LoadPolicyError::Manifest {
        path: path.clone(),
        source,
    })?;
    let limits = manifest
        .limits
        .apply_to(defaults)
        .and_then(|limits| forced.apply_to(limits))
        .map_err(|source| LoadPolicyError::Limits {
            path: path.clone(),
            source,
        })?;
    let code = sandbox::load_policy_code(engine, cache, wasm).map_err(|source| {
        LoadPolicyError::Compile {
            path: path.clone(),
            source,
        }
    })?;
    let mounts =
        crate::bundle::extract_from(wasm, &cache.path().join(BUNDLES_DIR)).map_err(|source| {
            LoadPolicyError::Bundle {
                path: path.clone(),
                source,
            }
        })?;
    let source = code.source;
    let policy = CompiledPolicy::new(engine, code, &manifest.label(), limits, mounts)
        .map_err(|source| LoadPolicyError::Load { path, source })?;
    if policy.description().entry == "factory" {
        tracing::warn!(
            policy = %manifest.label(),
            "policy uses the deprecated get_policy(metadata, params) factory; export on_request/on_response instead"
        );
    }
    Ok(LoadedPolicy {
        manifest,
        policy: Arc::new(policy),
        source,
    })
}

/// What [`load_directory`] loaded, and what it skipped.
pub struct LoadedDirectory {
    /// Every policy that loaded.
    pub registry: PolicyRegistry,
    /// The components that did not load, each with its one cause; they were
    /// logged and skipped.
    pub skipped: Vec<LoadPolicyError>,
}

/// Loads every `*.wasm` in `dir` (not recursing) into a registry. A
/// component that does not load (unreadable, corrupt, a duplicate name and
/// version, …) is logged once with its cause and skipped, so one broken
/// tenant never keeps the others from being served; only an unreadable
/// directory is an error.
pub fn load_directory(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    dir: &Path,
    defaults: Limits,
) -> Result<LoadedDirectory, LoadPolicyError> {
    let shown = dir.display().to_string();
    let mut loaded = LoadedDirectory {
        registry: PolicyRegistry::new(),
        skipped: Vec::new(),
    };
    let handle = Dir::open_ambient_dir(dir, ambient_authority()).map_err(io_error(&shown))?;
    for name in component_names(&handle, &shown)? {
        let path = format!("{shown}/{name}");
        if let Err(error) = load_one(
            engine,
            cache,
            &handle,
            &name,
            &path,
            defaults,
            &mut loaded.registry,
        ) {
            tracing::error!(file = %path, "skipping a component that does not load: {error}");
            loaded.skipped.push(error);
        }
    }
    Ok(loaded)
}

fn io_error(path: &str) -> impl Fn(std::io::Error) -> LoadPolicyError {
    let path = path.to_string();
    move |source| LoadPolicyError::Io {
        path: path.clone(),
        source,
    }
}

/// The `*.wasm` files directly in `handle`, sorted.
fn component_names(handle: &Dir, shown: &str) -> Result<Vec<String>, LoadPolicyError> {
    let mut names = Vec::new();
    for entry in handle.entries().map_err(io_error(shown))? {
        let entry = entry.map_err(io_error(shown))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".wasm")
            && !name.starts_with('.')
            && entry.file_type().map_err(io_error(&name))?.is_file()
        {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn load_one(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    handle: &Dir,
    name: &str,
    path: &str,
    defaults: Limits,
    registry: &mut PolicyRegistry,
) -> Result<(), LoadPolicyError> {
    let wasm = handle.read(name).map_err(io_error(path))?;
    let loaded = load_policy(
        engine,
        cache,
        &wasm,
        path,
        defaults,
        LimitOverrides::default(),
    )?;
    registry.insert(
        &loaded.manifest.name,
        &loaded.manifest.version,
        loaded.policy.clone(),
    )?;
    tracing::info!(
        policy = %loaded.manifest.label(),
        file = %path,
        compiled = ?loaded.source,
        shared_runtime = loaded.policy.on_shared_runtime(),
        phases = ?loaded.policy.description().phases.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "loaded policy"
    );
    Ok(())
}
