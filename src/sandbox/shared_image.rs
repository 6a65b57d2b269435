//! Loading a policy's image on the shared runtime: from a stored delta
//! against its base ([`super::image_delta`]), or whole, compared with its
//! closest base image and then stored as a delta.

use wasmtime::component::Component;

use super::code_keys::CodeKeys;
use super::compile::{self, CompileError, CompileSource};
use super::engine::SandboxEngine;
use super::image_delta;
use super::image_sample::PageSample;
use super::shared::{NO_SHARED_PAGES_ENV, Overrides, PolicyCode, max_shared_runs};
use super::split;
use crate::cache::ArtifactCache;

/// `parts` as a policy on the shared runtime: the runtime compiled (or
/// mapped) once per engine, the policy's image from its stored delta when
/// one is usable, else whole, and the overrides that make the runtime this
/// policy in each store.
pub(super) fn load_shared(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    parts: &split::SplitComponent<'_>,
) -> Result<PolicyCode, CompileError> {
    use split::GLOBALS_MODULE;
    let compile_error = |error: wasmtime::Error| CompileError::Compile(format!("{error:#}"));
    let runtimes = engine.runtimes();
    let (runtime, key, runtime_source) = runtimes.get_or_load(engine, cache, &parts.runtime)?;
    let started = std::time::Instant::now();
    let image_key = compile::compiled_key(engine, &parts.image);
    let runs = max_shared_runs(engine.memory_slots());
    let sharing = std::env::var_os(NO_SHARED_PAGES_ENV).is_none();
    let stored = (sharing)
        .then(|| stored_delta(engine, cache, &runtime, &key, &image_key))
        .flatten();
    let (image, image_source, delta) = match stored {
        Some(image) => (image, CompileSource::Cached, true),
        None => {
            let image = ImageToLoad {
                parts,
                key: &image_key,
                runtime_key: &key,
                sharing,
                runs,
            };
            compared_override(engine, cache, &runtime, image)?
        }
    };
    let globals = runtime.static_module_override(GLOBALS_MODULE, None, None, 0, &parts.globals);
    let overrides = Overrides(vec![image, globals.map_err(compile_error)?].into());
    tracing::debug!(
        shared_image_kib = overrides.shared_image_bytes() >> 10,
        in_memory_kib = overrides.image_bytes_in_memory() >> 10,
        shared_us = started.elapsed().as_micros(),
        "policy image mapped on the shared runtime"
    );
    let source = match (runtime_source, image_source) {
        (CompileSource::Cached, CompileSource::Cached) => CompileSource::Cached,
        _ => CompileSource::Compiled,
    };
    // Only an image stored as a delta loads again from its keys alone.
    let keys = delta.then(|| CodeKeys {
        runtime: key,
        image: image_key,
        globals: parts.globals.clone(),
    });
    Ok(PolicyCode {
        component: runtime,
        overrides: Some(overrides),
        source,
        keys,
    })
}

/// A policy on the shared runtime from `keys` alone: the runtime as loaded
/// or cached, the image from its stored delta. `None` when either is
/// missing (an image loaded whole, a base, has no delta) or unusable.
pub(super) fn load_shared_by_keys(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    keys: &CodeKeys,
) -> Option<PolicyCode> {
    if std::env::var_os(NO_SHARED_PAGES_ENV).is_some() {
        return None;
    }
    let runtime = engine.runtimes().cached(engine, cache, &keys.runtime)?;
    let image = stored_delta(engine, cache, &runtime, &keys.runtime, &keys.image)?;
    let globals =
        (runtime.static_module_override(split::GLOBALS_MODULE, None, None, 0, &keys.globals))
            .inspect_err(|error| tracing::warn!("ignoring a policy's load record: {error:#}"))
            .ok()?;
    Some(PolicyCode {
        component: runtime,
        overrides: Some(Overrides(vec![image, globals].into())),
        source: CompileSource::Cached,
        keys: Some(keys.clone()),
    })
}

/// The override of `image_key`'s image from its stored delta against a
/// base, with the runs this host allows; `None` when none is stored or it
/// is unusable.
fn stored_delta(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    runtime: &Component,
    runtime_key: &str,
    image_key: &str,
) -> Option<wasmtime::ModuleOverride> {
    let runs = max_shared_runs(engine.memory_slots());
    let runtimes = engine.runtimes();
    let delta = image_delta::load(engine, cache, runtimes, runtime_key, image_key, runs)?;
    let delta = within_runs(engine, cache, runtime, image_key, delta, runs)?;
    delta_override(runtime, &delta)
}

/// `delta`, stored again with at most `runs` shared runs when its record
/// has more (`image_delta::shrink`); `None` when that fails.
fn within_runs(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    runtime: &Component,
    image_key: &str,
    delta: image_delta::LoadedDelta,
    runs: usize,
) -> Option<image_delta::LoadedDelta> {
    if delta.record.runs.len() <= runs {
        return Some(delta);
    }
    let offset = |module: &wasmtime::Module| {
        let plain = runtime.static_module_override(split::IMAGE_MODULE, Some(module), None, 0, &[]);
        plain.ok()?.image_artifact_offset()
    };
    let offsets = (offset(&delta.image)?, offset(&delta.base)?);
    image_delta::shrink(engine, cache, image_key, delta, offsets, runs)
}

/// The image override of a stored delta, or `None` (logged) when Wasmtime
/// refuses its record.
fn delta_override(
    runtime: &Component,
    delta: &image_delta::LoadedDelta,
) -> Option<wasmtime::ModuleOverride> {
    let sharing = wasmtime::PageSharing::Given {
        runs: &delta.record.runs,
        identical: &delta.record.identical,
    };
    (runtime.static_module_override_sharing(
        split::IMAGE_MODULE,
        &delta.image,
        &delta.base,
        sharing,
    ))
    .inspect_err(|error| tracing::warn!("ignoring a stored image delta: {error:#}"))
    .ok()
}

/// A policy image to load whole and compare with its closest base.
struct ImageToLoad<'a, 'b> {
    parts: &'a split::SplitComponent<'b>,
    key: &'a str,
    runtime_key: &'a str,
    sharing: bool,
    runs: usize,
}

/// The image override of a whole image, mapping the pages it has in
/// common with its closest base from the base's artifact; the image's
/// artifact is then stored as a delta (`super::image_delta`) when its base
/// matched closely; whether it was.
fn compared_override(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    runtime: &Component,
    image: ImageToLoad<'_, '_>,
) -> Result<(wasmtime::ModuleOverride, CompileSource, bool), CompileError> {
    let runtimes = engine.runtimes();
    let (module, source) = match runtimes.base_by_key(image.runtime_key, image.key) {
        Some(module) => (module, CompileSource::Cached),
        None => compile::load_module(engine, cache, &image.parts.image, image.key)?,
    };
    let base = match image.sharing {
        false => None,
        true => PageSample::of_data_section(image.parts.image_data).and_then(|sample| {
            runtimes.base_image_for(image.runtime_key, image.key, &module, sample)
        }),
    };
    let base_module = base.as_ref().map(|base| &base.module);
    let shared = (runtime.static_module_override(
        split::IMAGE_MODULE,
        Some(&module),
        base_module,
        image.runs,
        &[],
    ))
    .map_err(|error| CompileError::Compile(format!("{error:#}")))?;
    // A delta keeps its base for good, so one is stored only against a base
    // that matched closely. A base stays whole: `base_image_for` gives none
    // for an image that is a base, and makes one only of an image that
    // matched no base closely.
    let delta = (base.as_ref())
        .filter(|base| base.close)
        .is_some_and(|base| stored_as_delta(cache, image.key, &base.key, &shared));
    Ok((shared, source, delta))
}

/// Stores `image_key`'s image, mapped by `shared` on top of `base_key`, as
/// a delta; whether it did (a failure is logged: the image stays whole).
fn stored_as_delta(
    cache: &ArtifactCache,
    image_key: &str,
    base_key: &str,
    shared: &wasmtime::ModuleOverride,
) -> bool {
    match image_delta::store(cache, image_key, base_key, shared) {
        Ok(stored) => {
            if stored {
                tracing::debug!(image_key, "policy image stored as a delta");
            }
            stored
        }
        Err(error) => {
            tracing::warn!(
                image_key,
                "could not store a policy image as a delta (it stays whole): {error}"
            );
            false
        }
    }
}
