//! Loading built components: one at once, or a directory registered
//! lazily (each policy loaded on first use; [`super::reload`] rescans it).

use std::path::Path;
use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use super::load_record::{self, LoadRecord};
use super::metrics::Metrics;
use super::registry::{DuplicatePolicy, PolicyRegistry};
use super::resident::{EntryMeta, FileStamp, Load, LoadFailure, PolicyEntry};
use crate::cache::ArtifactCache;
use crate::manifest::{self, Manifest, ManifestError};
use crate::sandbox::limits::Ceilings;
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
    /// The component's manifest reads, but the policy does not load.
    #[error("{message}")]
    NotLoaded {
        /// The file.
        path: String,
        /// What went wrong (names the file).
        message: String,
    },
    /// Two components have the same name and version.
    #[error(transparent)]
    Duplicate(#[from] DuplicatePolicy),
}

impl LoadPolicyError {
    /// Whether loading again later may succeed: the host was busy, the
    /// component is not at fault.
    pub fn is_transient(&self) -> bool {
        matches!(self, LoadPolicyError::Load { source, .. } if source.is_transient())
    }
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
    /// What loads the same component again without reading it (a policy
    /// on the shared runtime), else `None`.
    pub record: Option<LoadRecord>,
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
    let limits = settled_limits(&manifest, defaults, forced, &path)?;
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
    ready(engine, manifest, code, limits, mounts, path)
}

/// The manifest's limits over `defaults`, then `forced` over both.
pub(crate) fn settled_limits(
    manifest: &Manifest,
    defaults: Limits,
    forced: LimitOverrides,
    path: &str,
) -> Result<Limits, LoadPolicyError> {
    (manifest.limits.apply_to(defaults))
        .and_then(|limits| forced.apply_to(limits))
        .map_err(|source| LoadPolicyError::Limits {
            path: path.to_string(),
            source,
        })
}

/// The policy made ready from its loaded `code`: linked, its files opened
/// and its load-time check run.
pub(crate) fn ready(
    engine: &SandboxEngine,
    manifest: Manifest,
    code: sandbox::PolicyCode,
    limits: Limits,
    mounts: Vec<crate::bundle::Mount>,
    path: String,
) -> Result<LoadedPolicy, LoadPolicyError> {
    let source = code.source;
    let record = (code.keys.clone()).map(|code| LoadRecord {
        code,
        mounts: mounts.clone(),
    });
    let policy = CompiledPolicy::new(engine, code, &manifest.label(), limits, mounts)
        .map_err(|source| LoadPolicyError::Load { path, source })?;
    if policy.description().is_factory() {
        tracing::warn!(
            policy = %manifest.label(),
            "policy uses the deprecated get_policy(metadata, params) factory; export on_request/on_response instead"
        );
    }
    Ok(LoadedPolicy {
        manifest,
        policy: Arc::new(policy),
        source,
        record,
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

/// How a directory's components are served.
#[derive(Clone)]
pub struct DirectoryOptions {
    /// Limits of a policy whose `limits:` block sets none.
    pub defaults: Limits,
    /// The most a `limits:` block may ask for.
    pub ceilings: Ceilings,
    /// The most lazily loaded policies kept in memory.
    pub max_resident: usize,
    /// Where load failures are counted, when metrics are on.
    pub metrics: Option<Arc<Metrics>>,
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
    options: &DirectoryOptions,
) -> Result<LoadedDirectory, LoadPolicyError> {
    let mut scanned = LoadedDirectory {
        registry: PolicyRegistry::with_max_resident(options.max_resident),
        skipped: Vec::new(),
    };
    for path in component_paths(dir)? {
        let registered = lazy_entry(engine, cache, &path, options).and_then(|(manifest, entry)| {
            Ok(scanned
                .registry
                .insert_entry(&manifest.name, &manifest.version, entry)?)
        });
        if let Err(error) = registered {
            skipped(&path, &error, options);
            scanned.skipped.push(error);
        }
    }
    Ok(scanned)
}

/// Logs and counts a component that cannot be served.
pub(crate) fn skipped(path: &Path, error: &LoadPolicyError, options: &DirectoryOptions) {
    tracing::error!(file = %path.display(), "skipping a component that cannot be served: {error}");
    if let Some(metrics) = &options.metrics {
        metrics.load_failed();
    }
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

/// The `*.wasm` files directly in `dir`, sorted by name.
pub(crate) fn component_paths(dir: &Path) -> Result<Vec<std::path::PathBuf>, LoadPolicyError> {
    let shown = dir.display().to_string();
    let handle = Dir::open_ambient_dir(dir, ambient_authority()).map_err(io_error(&shown))?;
    let mut names = Vec::new();
    for entry in handle.entries().map_err(io_error(&shown))? {
        let entry = entry.map_err(io_error(&shown))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".wasm")
            && !name.starts_with('.')
            && entry.file_type().map_err(io_error(&name))?.is_file()
        {
            names.push(name);
        }
    }
    names.sort();
    Ok(names.into_iter().map(|name| dir.join(name)).collect())
}

/// A lazy entry for the component at `path`: its manifest read and its
/// limits settled (the manifest's over the defaults, lowered to the
/// ceilings with a warning naming the policy), its loading deferred.
pub(crate) fn lazy_entry(
    engine: &Arc<SandboxEngine>,
    cache: &Arc<ArtifactCache>,
    path: &Path,
    options: &DirectoryOptions,
) -> Result<(Manifest, Arc<PolicyEntry>), LoadPolicyError> {
    let shown = path.display().to_string();
    let stamp = FileStamp::of(path).map_err(io_error(&shown))?;
    let manifest = manifest::read_file(path).map_err(|source| LoadPolicyError::Manifest {
        path: shown.clone(),
        source,
    })?;
    let asked = manifest
        .limits
        .apply_to(options.defaults)
        .map_err(|source| LoadPolicyError::Limits {
            path: shown.clone(),
            source,
        })?;
    let label = manifest.label();
    let (limits, clamped) = options.ceilings.clamp(asked);
    if !clamped.is_empty() {
        let lowered: Vec<String> = clamped.iter().map(ToString::to_string).collect();
        tracing::warn!(policy = %label, file = %shown, "the policy asks for more than the operator's ceilings allow: {}", lowered.join(", "));
    }
    let load = loader_of(engine, cache, path, &label, limits, options.metrics.clone());
    let meta = EntryMeta {
        breaker: manifest.breaker,
        file: Some(stamp),
    };
    let entry = PolicyEntry::lazy(label, load, meta);
    Ok((manifest, entry))
}

/// The [`Load`] of a lazy entry: reads the file, loads it with exactly
/// `limits`, and checks it still holds `expected`.
fn loader_of(
    engine: &Arc<SandboxEngine>,
    cache: &Arc<ArtifactCache>,
    path: &Path,
    expected: &str,
    limits: Limits,
    metrics: Option<Arc<Metrics>>,
) -> Load {
    let (engine, cache, file) = (engine.clone(), cache.clone(), path.to_path_buf());
    let (shown, expected) = (path.display().to_string(), expected.to_string());
    Box::new(move || {
        let loaded = load_file(&engine, &cache, &file, &shown, limits).and_then(|loaded| {
            if loaded.manifest.label() == expected {
                Ok(loaded)
            } else {
                Err(LoadFailure::lasting(format!(
                    "{shown} now holds {}, not {expected}",
                    loaded.manifest.label()
                )))
            }
        });
        let loaded = loaded.inspect_err(|_| {
            if let Some(metrics) = &metrics {
                metrics.load_failed();
            }
        })?;
        tracing::info!(
            policy = %expected,
            file = %shown,
            compiled = ?loaded.source,
            shared_runtime = loaded.policy.on_shared_runtime(),
            phases = ?loaded.policy.description().phases.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            "loaded policy"
        );
        Ok(loaded.policy)
    })
}

fn load_file(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    file: &Path,
    shown: &str,
    limits: Limits,
) -> Result<LoadedPolicy, LoadFailure> {
    let stamp = load_record::stamp_of(file);
    let recorded = |stamp| load_record::load_recorded(engine, cache, file, stamp, shown, limits);
    if let Some(loaded) = stamp.as_deref().and_then(recorded) {
        return Ok(loaded);
    }
    let wasm = std::fs::read(file).map_err(|e| LoadFailure::lasting(format!("{shown}: {e}")))?;
    let loaded = load_policy(
        engine,
        cache,
        &wasm,
        shown,
        limits,
        LimitOverrides::exactly(limits),
    )
    .map_err(|e| LoadFailure {
        transient: e.is_transient(),
        message: e.to_string(),
    })?;
    drop(wasm);
    release_freed_memory();
    if let (Some(stamp), Some(record)) = (stamp, &loaded.record) {
        load_record::store(cache, file, &stamp, record);
    }
    Ok(loaded)
}
