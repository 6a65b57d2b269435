//! Policy images stored without the pages they share with a base image.
//!
//! On the shared runtime ([`super::shared`]) a policy's image maps its
//! longest runs of pages identical to a base image's from the base's
//! artifact. Its own artifact's bytes under those runs are then never read:
//! in every memory slot the base's mapping lies over them, and resets read
//! identical pages from the base. So once a comparison has found the runs,
//! the image's artifact is stored again with zeros there, which the cache
//! writes as holes, beside a [`DeltaRecord`] of the base and the runs, and
//! the whole artifact is removed: a copy of a policy then takes a few
//! hundred KiB of disk instead of its whole snapshot.
//!
//! Later loads map the delta and hand Wasmtime the recorded runs (our
//! patch 0011) instead of comparing. They need the base's artifact; when
//! it is gone or the record cannot be read, the image is compiled whole
//! again and stored as a delta again. A host that allows fewer shared runs
//! per image than the record has fills the extra holes from the base
//! ([`shrink`]) and compiles nothing.
//!
//! A base must stay whole: the first delta stored against an image marks
//! it, and a marked image is never stored as a delta itself.

use std::ops::Range;

use wasmtime::Module;

use super::engine::SandboxEngine;
use super::shared::RuntimeSet;
use crate::cache::{ArtifactCache, ArtifactKind};

mod record;

pub use record::DeltaRecord;
use record::{base_mark, delta_key};

/// A delta image and its base, loaded.
pub struct LoadedDelta {
    /// The delta image's module.
    pub image: Module,
    /// The base image's module.
    pub base: Module,
    /// The runs to map from the base, and the identical ranges.
    pub record: DeltaRecord,
}

/// `image_key`'s image as a delta with its base on runtime `runtime_key`,
/// when one is stored; `None` otherwise (the caller then loads the image
/// whole). Its runs are extended up to `max_runs`; a record with more runs
/// than that is returned as it is, for [`shrink`].
pub fn load(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    runtimes: &RuntimeSet,
    runtime_key: &str,
    image_key: &str,
    max_runs: usize,
) -> Option<LoadedDelta> {
    let text = cache.get(ArtifactKind::Sharing, image_key).ok()??;
    let Some(mut record) = std::str::from_utf8(&text).ok().and_then(DeltaRecord::parse) else {
        tracing::warn!(image_key, "ignoring an unreadable image-sharing record");
        return None;
    };
    if record.runs.len() <= max_runs {
        record.runs = runs_within(&record, max_runs);
    }
    let base = match runtimes.base_by_key(runtime_key, &record.base_key) {
        Some(base) => base,
        None => {
            let base = map_artifact(engine, cache, &record.base_key)?;
            runtimes.add_base(runtime_key, &record.base_key, base)
        }
    };
    let image = map_artifact(engine, cache, &record.delta_key)?;
    Some(LoadedDelta {
        image,
        base,
        record,
    })
}

/// Where an image's bytes lie in its artifact file and the linear-memory
/// offset they map to (`ModuleOverride::image_artifact_offset`).
pub type ImageOffset = (u64, usize);

/// `delta` stored again for a host that allows only `max_runs` runs: its
/// longest runs stay holes mapped from the base, the others are filled
/// with the base's bytes (identical to the image's there), so no compile
/// is needed. `offsets` are the delta's and the base's. `None` when the
/// artifacts cannot be read or written (the caller compiles the image).
pub fn shrink(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    image_key: &str,
    delta: LoadedDelta,
    offsets: (ImageOffset, ImageOffset),
    max_runs: usize,
) -> Option<LoadedDelta> {
    let mut keep = delta.record.runs.clone();
    keep.sort_by_key(|run| std::cmp::Reverse(run.len()));
    let filled = keep.split_off(max_runs.min(keep.len()));
    keep.sort_by_key(|run| run.start);
    if keep.is_empty() {
        return None;
    }
    let mut bytes = cache
        .get(ArtifactKind::Compiled, &delta.record.delta_key)
        .ok()??;
    let base = cache
        .get(ArtifactKind::Compiled, &delta.record.base_key)
        .ok()??;
    fill_holes(&mut bytes, &base, offsets, &filled)?;
    let old_key = delta.record.delta_key.clone();
    let record = DeltaRecord {
        delta_key: delta_key(image_key, &keep),
        runs: keep,
        ..delta.record
    };
    let stored = (cache.put(ArtifactKind::Compiled, &record.delta_key, &bytes))
        .and_then(|()| cache.put(ArtifactKind::Sharing, image_key, record.encode().as_bytes()));
    if let Err(error) = stored {
        tracing::warn!(image_key, "could not store the image delta again: {error}");
        return None;
    }
    // The record names the new delta now; a process still holding the old
    // one keeps its mapping.
    let _ = cache.remove(ArtifactKind::Compiled, &old_key);
    let image = map_artifact(engine, cache, &record.delta_key)?;
    tracing::info!(
        image_key,
        runs = record.runs.len(),
        "stored the image delta again with fewer shared runs, for this host's mapping limit"
    );
    Some(LoadedDelta {
        image,
        base: delta.base,
        record,
    })
}

/// Copies `base`'s bytes under `runs` (linear-memory ranges) into the
/// holes of `delta`, each artifact's image at its offset.
fn fill_holes(
    delta: &mut [u8],
    base: &[u8],
    ((delta_file, delta_linear), (base_file, base_linear)): (ImageOffset, ImageOffset),
    runs: &[Range<usize>],
) -> Option<()> {
    for run in runs {
        let from = base.get(artifact_range((base_file, base_linear), run)?)?;
        delta
            .get_mut(artifact_range((delta_file, delta_linear), run)?)?
            .copy_from_slice(from);
    }
    Some(())
}

/// Where the linear-memory range `run` of an image at `offset` lies in its
/// artifact file; `None` when it starts before the image.
fn artifact_range((file, linear): ImageOffset, run: &Range<usize>) -> Option<Range<usize>> {
    let start = usize::try_from(file)
        .ok()?
        .checked_add(run.start.checked_sub(linear)?)?;
    Some(start..start.checked_add(run.len())?)
}

/// The runs to map for `record` where `max_runs` may be mapped (at least
/// its own): its holes must be mapped from the base, and where the host
/// allows more, the longest of its other identical ranges are mapped from
/// the base too, as a comparison would have chosen them.
fn runs_within(record: &DeltaRecord, max_runs: usize) -> Vec<Range<usize>> {
    let mut more: Vec<&Range<usize>> = (record.identical.iter())
        .filter(|range| !record.runs.contains(range))
        .collect();
    more.sort_by_key(|range| std::cmp::Reverse(range.len()));
    more.truncate(max_runs.saturating_sub(record.runs.len()));
    let mut runs: Vec<Range<usize>> = record.runs.iter().chain(more).cloned().collect();
    runs.sort_by_key(|range| range.start);
    runs
}

/// The cached core-module artifact `key`, mapped, if present and usable.
fn map_artifact(engine: &SandboxEngine, cache: &ArtifactCache, key: &str) -> Option<Module> {
    let path = cache.existing_path(ArtifactKind::Compiled, key).ok()??;
    // SAFETY: as `compile::load_cached`: only this program writes the
    // cache, by rename, and the key binds the file to its content and this
    // engine's configuration.
    unsafe { Module::deserialize_file(engine.engine(), &path) }
        .inspect_err(|error| tracing::warn!(key, "ignoring unusable cached code: {error:#}"))
        .ok()
}

/// Stores `image_key`'s image, which `shared` maps on top of base
/// `base_key` after comparing them, as a delta: its whole artifact is
/// replaced by one with holes under the mapped runs and a record. Returns
/// whether it did; it does not when the image is itself a base, or its
/// whole artifact or its runs are not at hand.
pub fn store(
    cache: &ArtifactCache,
    image_key: &str,
    base_key: &str,
    shared: &wasmtime::ModuleOverride,
) -> std::io::Result<bool> {
    if cache
        .get(ArtifactKind::Sharing, &base_mark(image_key))?
        .is_some()
    {
        return Ok(false);
    }
    let (Some((runs, identical)), Some(offset)) =
        (shared.shared_page_ranges(), shared.image_artifact_offset())
    else {
        return Ok(false);
    };
    let Some(mut bytes) = cache.get(ArtifactKind::Compiled, image_key)? else {
        return Ok(false);
    };
    for run in &runs {
        let hole = artifact_range(offset, run).and_then(|range| bytes.get_mut(range));
        let Some(hole) = hole else {
            return Ok(false);
        };
        hole.fill(0);
    }
    let record = DeltaRecord {
        base_key: base_key.to_owned(),
        delta_key: delta_key(image_key, &runs),
        runs,
        identical,
    };
    // Marked once; reading the mark again refreshes it for the LRU.
    if cache
        .get(ArtifactKind::Sharing, &base_mark(base_key))?
        .is_none()
    {
        cache.put(ArtifactKind::Sharing, &base_mark(base_key), b"base\n")?;
    }
    cache.put(ArtifactKind::Compiled, &record.delta_key, &bytes)?;
    cache.put(ArtifactKind::Sharing, image_key, record.encode().as_bytes())?;
    cache.remove(ArtifactKind::Compiled, image_key)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNS: [Range<usize>; 2] = [4096..8192, 16384..20480];

    #[test]
    fn a_host_allowing_more_runs_maps_the_longest_other_identical_ranges_too() {
        let record = DeltaRecord {
            base_key: "abc-wasmtime-48".into(),
            delta_key: "def-delta-wasmtime-48".into(),
            runs: RUNS[..1].to_vec(),
            identical: vec![0..4096, 4096..8192, 12288..24576, 28672..36864],
        };
        assert_eq!(runs_within(&record, 1), RUNS[..1]);
        assert_eq!(runs_within(&record, 2), [4096..8192, 12288..24576]);
        assert_eq!(
            runs_within(&record, 3),
            [4096..8192, 12288..24576, 28672..36864]
        );
        assert_eq!(runs_within(&record, 9).len(), 4);
    }

    #[test]
    fn holes_are_filled_from_the_base_at_each_images_offset() {
        let mut delta = vec![0u8; 64];
        let base: Vec<u8> = (0..64).collect();
        // The delta's image starts at byte 8 of its file, the base's at
        // byte 16; both start at linear offset 100.
        let offsets = ((8, 100), (16, 100));
        fill_holes(&mut delta, &base, offsets, &[104..108, 120..122]).unwrap();
        assert_eq!(&delta[12..16], &base[20..24]);
        assert_eq!(&delta[28..30], &base[36..38]);
        assert_eq!(delta.iter().filter(|&&b| b != 0).count(), 6);
        let before_the_image = [104..108, 99..104];
        assert!(fill_holes(&mut delta, &base, offsets, &before_the_image).is_none());
        let past_the_base = [104..108, 140..160];
        assert!(fill_holes(&mut delta, &base, offsets, &past_the_base).is_none());
    }
}
