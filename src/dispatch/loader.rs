//! Loading built components: one at once, or a directory registered
//! lazily (each policy loaded on first use).

use std::path::Path;
use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use super::registry::{DuplicatePolicy, PolicyRegistry};
use super::resident::{Load, PolicyEntry};
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

/// What [`scan_directory`] registered, and what it skipped.
pub struct LoadedDirectory {
    /// Every servable policy (each loaded on first use).
    pub registry: PolicyRegistry,
    /// The components that cannot be served, each with its one cause; they
    /// were logged and skipped.
    pub skipped: Vec<LoadPolicyError>,
}

/// Registers every `*.wasm` in `dir` (not recursing) without loading it:
/// only each file's manifest is read and its limits checked, so this takes
/// milliseconds whatever the number of policies. A policy is loaded on its
/// first call (which waits for it), or earlier by
/// [`PolicyRegistry::preload`]; at most `max_resident` stay in memory. A
/// component whose manifest does not read, or whose name and version
/// another file already has, is logged once with its cause and skipped, so
/// one broken tenant never keeps the others from being served; only an
/// unreadable directory is an error.
pub fn scan_directory(
    engine: &Arc<SandboxEngine>,
    cache: &Arc<ArtifactCache>,
    dir: &Path,
    defaults: Limits,
    max_resident: usize,
) -> Result<LoadedDirectory, LoadPolicyError> {
    let shown = dir.display().to_string();
    let mut scanned = LoadedDirectory {
        registry: PolicyRegistry::with_max_resident(max_resident),
        skipped: Vec::new(),
    };
    let handle = Dir::open_ambient_dir(dir, ambient_authority()).map_err(io_error(&shown))?;
    for name in component_names(&handle, &shown)? {
        let path = dir.join(&name);
        let registered = register_one(engine, cache, &path, defaults, &mut scanned.registry);
        if let Err(error) = registered {
            tracing::error!(file = %path.display(), "skipping a component that cannot be served: {error}");
            scanned.skipped.push(error);
        }
    }
    Ok(scanned)
}

/// Hands the tens of MB a load reads and splits back to the system: glibc
/// keeps freed blocks of this size in the loading thread's arena otherwise,
/// and every worker that loads a policy grows its own (~150 MB measured
/// with 32 policies loaded on demand).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
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

fn register_one(
    engine: &Arc<SandboxEngine>,
    cache: &Arc<ArtifactCache>,
    path: &Path,
    defaults: Limits,
    registry: &mut PolicyRegistry,
) -> Result<(), LoadPolicyError> {
    let shown = path.display().to_string();
    let manifest = manifest::read_file(path).map_err(|source| LoadPolicyError::Manifest {
        path: shown.clone(),
        source,
    })?;
    manifest
        .limits
        .apply_to(defaults)
        .map_err(|source| LoadPolicyError::Limits {
            path: shown.clone(),
            source,
        })?;
    let label = manifest.label();
    let (engine, cache, file) = (engine.clone(), cache.clone(), path.to_path_buf());
    let expected = label.clone();
    let load: Load = Box::new(move || {
        let wasm = std::fs::read(&file).map_err(|e| format!("{shown}: {e}"))?;
        let loaded = load_policy(
            &engine,
            &cache,
            &wasm,
            &shown,
            defaults,
            LimitOverrides::default(),
        )
        .map_err(|e| e.to_string())?;
        drop(wasm);
        release_freed_memory();
        if loaded.manifest.label() != expected {
            return Err(format!(
                "{shown} now holds {}, not {expected}",
                loaded.manifest.label()
            ));
        }
        tracing::info!(
            policy = %expected,
            file = %shown,
            compiled = ?loaded.source,
            shared_runtime = loaded.policy.on_shared_runtime(),
            phases = ?loaded.policy.description().phases.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            "loaded policy"
        );
        Ok(loaded.policy)
    });
    registry.insert_entry(
        &manifest.name,
        &manifest.version,
        PolicyEntry::lazy(label, load),
    )?;
    Ok(())
}
