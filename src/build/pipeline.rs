//! The build pipeline: read → check → stage → install requirements →
//! componentize → embed manifest, with a content-addressed cache in front.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::componentize::{self, ComponentizeError, Deadlines};
use super::dependencies::{self, DependencyError};
use super::entropy::{self, PreinitEntropy};
use super::guest_files::{self, GUEST_FILES};
use super::toolchain::{COMPONENTIZE_PY_VERSION, Toolchain, ToolchainError};
use super::{immortal, snapshot};
use crate::cache::{ArtifactCache, ArtifactKind};
use crate::manifest::{self, Manifest};
use crate::package::{FileError, PolicyPackage, RequirementError, parse_requirements};
use crate::sandbox::Limits;
use crate::sandbox::bindings::WIT_PACKAGE;

/// A warm-up that left the snapshot's memory larger than 1/N of the
/// policy's memory limit is not kept (calls need the rest; a plain CPython
/// snapshot starts with ~15 MiB).
const SNAPSHOT_MEMORY_DIVISOR: u64 = 2;

/// Bumped whenever the pipeline changes what it produces.
const PIPELINE_VERSION: &str = "policy-host build 5";

/// Why a build failed; every message names what the author should fix.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The package could not be read or is malformed.
    #[error(transparent)]
    Package(#[from] FileError),
    /// `requirements.txt` names something other than registry packages.
    #[error(transparent)]
    Requirements(#[from] RequirementError),
    /// A requirement could not be bundled.
    #[error(transparent)]
    Dependencies(#[from] DependencyError),
    /// The toolchain could not be installed.
    #[error(transparent)]
    Toolchain(#[from] ToolchainError),
    /// componentize-py or the glue rejected the policy.
    #[error(transparent)]
    Componentize(#[from] ComponentizeError),
    /// The policy's files could not be packed for run time.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    /// The artifact cache or staging directory failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.into();
    move |source| BuildError::Io { what, source }
}

/// A built component.
#[derive(Debug, Clone)]
pub struct BuiltPolicy {
    /// Its manifest (also embedded in `wasm`).
    pub manifest: Manifest,
    /// The component bytes.
    pub wasm: Vec<u8>,
    /// Whether it came from the cache unchanged.
    pub from_cache: bool,
}

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Ignore cached components and build from scratch.
    pub rebuild: bool,
    /// How long componentize-py and the warm-up inside it may take.
    pub deadlines: Deadlines,
    /// Leave the snapshot's objects mortal (see [`immortal`]): slower
    /// calls, for A/B measurements. Part of the cache key.
    pub mortal_snapshot: bool,
}

/// Builds policy packages into components.
pub struct Builder<'a> {
    toolchain: Toolchain,
    cache: &'a ArtifactCache,
    options: BuildOptions,
}

impl<'a> Builder<'a> {
    /// A builder using `toolchain` and caching in `cache`.
    pub fn new(toolchain: Toolchain, cache: &'a ArtifactCache, options: BuildOptions) -> Self {
        Builder {
            toolchain,
            cache,
            options,
        }
    }

    /// Builds the package at `dir`; `report` receives progress lines.
    pub fn build(&self, dir: &Path, report: &dyn Fn(&str)) -> Result<BuiltPolicy, BuildError> {
        let package = PolicyPackage::read(dir)?;
        let requirements = parse_requirements(&package.requirements_text())?;
        let source_hash = source_hash(&package, self.options.mortal_snapshot);
        if let Some(built) = self.cached(&source_hash, report)? {
            return Ok(built);
        }
        self.toolchain.ensure(report)?;
        let entropy = PreinitEntropy::prepare(self.toolchain.dir(), self.cache.path(), report);
        let staging = tempfile::tempdir().map_err(io("creating a staging directory"))?;
        stage_package(&package, staging.path())?;
        entropy::write_nonce(staging.path()).map_err(io("writing the build nonce"))?;
        report(&format!("installing {} requirement(s)", requirements.len()));
        dependencies::install(
            &self.toolchain,
            &requirements,
            staging.path(),
            &staging.path().join("deps"),
        )?;
        report("componentizing (pre-initializing CPython with the policy imported)");
        let output = staging.path().join("policy.wasm");
        // The default limits: a server may run with others, but this is
        // only a guard against a warm-up that grew memory far past normal.
        let memory_limit = package
            .definition
            .limit_overrides()
            .apply_to(Limits::default())
            .map_or(Limits::default().memory_bytes, |limits| limits.memory_bytes);
        let mut raw = self.componentize(
            staging.path(),
            &output,
            memory_limit,
            entropy.as_ref(),
            report,
        )?;
        if self.options.mortal_snapshot {
            report("--mortal-snapshot: leaving the snapshot's objects mortal");
        } else {
            mark_snapshot_immortal(staging.path(), &mut raw, report);
        }
        embed_bundle(staging.path(), &mut raw)?;
        let manifest = manifest_of(&package, &source_hash);
        let wasm = manifest::embed(raw, &manifest);
        self.cache
            .put(ArtifactKind::Component, &source_hash, &wasm)
            .map_err(io("writing the cache"))?;
        Ok(BuiltPolicy {
            manifest,
            wasm,
            from_cache: false,
        })
    }
}

impl Builder<'_> {
    /// The cached component built from the same sources, unless
    /// `--rebuild` was asked for (or the cached one does not read).
    fn cached(
        &self,
        source_hash: &str,
        report: &dyn Fn(&str),
    ) -> Result<Option<BuiltPolicy>, BuildError> {
        if self.options.rebuild {
            return Ok(None);
        }
        let Some(wasm) = self
            .cache
            .get(ArtifactKind::Component, source_hash)
            .map_err(io("reading the cache"))?
        else {
            return Ok(None);
        };
        let Ok(manifest) = manifest::read(&wasm) else {
            return Ok(None);
        };
        report("unchanged: using the cached component");
        Ok(Some(BuiltPolicy {
            manifest,
            wasm,
            from_cache: true,
        }))
    }

    /// Runs componentize-py; when the policy's handler hangs the build-time
    /// warm-up inside a C call or grows memory during it, builds again with
    /// the glue warmed by a stand-in handler (the policy then only runs at
    /// call time, where fuel, memory limits and deadlines apply).
    fn componentize(
        &self,
        staging: &Path,
        output: &Path,
        memory_limit: u64,
        entropy: Option<&PreinitEntropy>,
        report: &dyn Fn(&str),
    ) -> Result<Vec<u8>, BuildError> {
        let read_output = || std::fs::read(output).map_err(io("reading componentize-py output"));
        let deadlines = self.options.deadlines;
        let why = match componentize::componentize(
            &self.toolchain,
            staging,
            output,
            deadlines,
            entropy,
        ) {
            Err(ComponentizeError::WarmUpStuck(limit)) => format!(
                "the policy's handler did not return within {limit:?} on the build-time warm-up \
                 input (stuck inside one C call?)"
            ),
            Ok(()) => {
                let wasm = read_output()?;
                let memory = snapshot::initial_memory_bytes(&wasm).unwrap_or(0);
                if memory <= memory_limit / SNAPSHOT_MEMORY_DIVISOR {
                    return Ok(wasm);
                }
                format!(
                    "after the build-time warm-up the snapshot's memory is {} MiB, over half \
                     the policy's {} MiB limit",
                    memory >> 20,
                    memory_limit >> 20
                )
            }
            // Whatever the warm-up left behind (a memory too large to
            // snapshot, say) may be what broke the build: try without it.
            Err(ComponentizeError::Tool(reason)) => {
                format!("componentize-py failed after the build-time warm-up ({reason})")
            }
            Err(other) => return Err(other.into()),
        };
        report(&format!("{why}; building again without running it"));
        std::fs::write(
            staging.join("glue/policy_host_build_options.py"),
            "WARM_UP_HANDLER = False\n",
        )
        .map_err(io("staging the build options"))?;
        componentize::componentize(&self.toolchain, staging, output, deadlines, entropy)?;
        read_output()
    }
}

/// Appends the policy's own files (its package and its installed
/// requirements, as the guest saw them while building) to `wasm`, for
/// read-only access at run time (see [`crate::bundle`]).
/// The manifest a component built from `package` carries.
fn manifest_of(package: &PolicyPackage, source_hash: &str) -> Manifest {
    let definition = &package.definition;
    Manifest {
        format: manifest::FORMAT,
        name: definition.name.clone(),
        version: definition.version.clone(),
        description: definition.description.clone(),
        limits: definition.limit_overrides(),
        breaker: definition.breaker_overrides(),
        wit: WIT_PACKAGE.to_string(),
        source_hash: source_hash.to_string(),
    }
}

fn embed_bundle(staging: &Path, wasm: &mut Vec<u8>) -> Result<(), BuildError> {
    let app = staging.join("app");
    let deps = staging.join("deps");
    let (app_mount, deps_mount) = (
        componentize::guest_mount("app"),
        componentize::guest_mount("deps"),
    );
    let packed = crate::bundle::pack(&[(&app_mount, &app), (&deps_mount, &deps)])?;
    manifest::append_custom_section(wasm, crate::bundle::SECTION_NAME, &packed);
    Ok(())
}

/// Marks the snapshot's objects immortal in `wasm` (see
/// [`immortal`](super::immortal)). A component left unmarked is only slower,
/// so a failure is reported and the build goes on.
fn mark_snapshot_immortal(staging: &Path, wasm: &mut [u8], report: &dyn Fn(&str)) {
    let outcome = read_snapshot_objects(staging)
        .map_err(|error| error.to_string())
        .and_then(|objects| immortal::mark_immortal(wasm, &objects).map_err(|e| e.to_string()));
    match outcome {
        Ok(marked) if marked.marked == 0 && marked.skipped > 0 => report(&format!(
            "warning: none of the {} listed snapshot objects matched the image (another \
             CPython object layout?); left mortal, calls will be slower",
            marked.skipped
        )),
        Ok(marked) => report(&format!(
            "marked {} snapshot object(s) immortal ({} skipped)",
            marked.marked, marked.skipped
        )),
        Err(why) => report(&format!(
            "warning: snapshot objects left mortal (calls will be slower): {why}"
        )),
    }
}

/// The glue's object list, read through a handle on the staging directory
/// (the guest wrote it: a symlink must not lead the read outside).
fn read_snapshot_objects(staging: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind, Read};
    let dir = cap_std::fs::Dir::open_ambient_dir(staging, cap_std::ambient_authority())?;
    let file = dir
        .open(componentize::SNAPSHOT_OBJECTS_FILE)
        .map_err(|error| match error.kind() {
            ErrorKind::NotFound => Error::new(
                ErrorKind::NotFound,
                "the glue wrote no object list (not CPython 3.14 on a 32-bit target?)",
            ),
            _ => error,
        })?;
    let mut objects = Vec::new();
    file.take(MAX_SNAPSHOT_OBJECTS_BYTES + 1)
        .read_to_end(&mut objects)?;
    if objects.len() as u64 > MAX_SNAPSHOT_OBJECTS_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!(
                "the object list is over {} MiB",
                MAX_SNAPSHOT_OBJECTS_BYTES >> 20
            ),
        ));
    }
    Ok(objects)
}

/// A bound on the object list: 8 bytes per object, and no snapshot holds
/// millions of objects.
const MAX_SNAPSHOT_OBJECTS_BYTES: u64 = 64 << 20;

/// Writes the package's files (already read and checked) into `staging/app`,
/// and the WIT, glue and SDK beside them.
fn stage_package(package: &PolicyPackage, staging: &Path) -> Result<(), BuildError> {
    guest_files::stage(staging).map_err(io("staging the guest glue"))?;
    let app = staging.join("app");
    for file in &package.files {
        let path = app.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("staging the package"))?;
        }
        std::fs::write(&path, &file.contents).map_err(io(format!("staging {}", file.path)))?;
    }
    Ok(())
}

/// Hash of everything a build reads: pipeline and toolchain versions, the
/// snapshot mode, the guest files and every package file.
fn source_hash(package: &PolicyPackage, mortal_snapshot: bool) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(PIPELINE_VERSION.as_bytes());
    field(COMPONENTIZE_PY_VERSION.as_bytes());
    field(if mortal_snapshot {
        b"mortal"
    } else {
        b"immortal"
    });
    for file in GUEST_FILES {
        field(file.staged_at.as_bytes());
        field(file.contents.as_bytes());
    }
    for file in &package.files {
        field(file.path.as_bytes());
        field(&file.contents);
    }
    hex(&hasher.finalize())
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `built` to `out_dir/<name>-<version>.wasm` through a directory
/// handle, atomically; returns the path written.
pub fn write_component(out_dir: &Path, built: &BuiltPolicy) -> Result<PathBuf, BuildError> {
    use std::io::Write;
    std::fs::create_dir_all(out_dir).map_err(io(format!("creating {}", out_dir.display())))?;
    let dir = cap_std::fs::Dir::open_ambient_dir(out_dir, cap_std::ambient_authority())
        .map_err(io(format!("opening {}", out_dir.display())))?;
    let name = format!("{}-{}.wasm", built.manifest.name, built.manifest.version);
    let temporary = format!(".{name}.tmp-{}", std::process::id());
    let mut file = dir
        .create(&temporary)
        .map_err(io(format!("writing {name}")))?;
    file.write_all(&built.wasm)
        .map_err(io(format!("writing {name}")))?;
    drop(file);
    dir.rename(&temporary, &dir, &name)
        .map_err(io(format!("writing {name}")))?;
    Ok(out_dir.join(name))
}

#[cfg(test)]
mod tests;
