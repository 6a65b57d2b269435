//! Component files loaded again from their load records: after a full
//! load, an unchanged file loads from what that load found (its runtime's
//! and image's keys, its globals, its unpacked files) without being read,
//! also in an engine that has loaded nothing yet, and answers exactly as
//! itself; a file written again is read again and recorded anew.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use policy_host::cache::{ArtifactCache, ArtifactKind};
use policy_host::dispatch::load_record::{load_recorded, stamp_of};
use policy_host::dispatch::{DirectoryOptions, scan_directory};
use policy_host::sandbox::{Ceilings, CompiledPolicy, Limits, SandboxEngine};

use crate::image_delta::{assert_answers_as_itself, cache_with_runtime, engine};
use crate::shared_runtime::{tenant_name, tenant_wasm};

/// Every component in `dir`, loaded through the registry as first calls
/// load them (the lazy entries' own load), in name order.
fn load_all(
    engine: &Arc<SandboxEngine>,
    cache: &Arc<ArtifactCache>,
    dir: &Path,
) -> Vec<Arc<CompiledPolicy>> {
    let options = DirectoryOptions {
        defaults: Limits::default(),
        ceilings: Ceilings::default(),
        max_resident: 16,
        metrics: None,
    };
    let scanned = scan_directory(engine, cache, dir, &options).unwrap();
    assert!(scanned.skipped.is_empty());
    let registry = scanned.registry;
    let mut entries = registry.entries().to_vec();
    entries.sort_by(|a, b| a.label().cmp(b.label()));
    let load = |entry| registry.resolve(entry).unwrap();
    entries.iter().map(|entry| load(entry)).collect()
}

fn from_record(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    file: &Path,
) -> Option<Arc<CompiledPolicy>> {
    let stamp = stamp_of(file).unwrap();
    let shown = file.display().to_string();
    let loaded = load_recorded(engine, cache, file, &stamp, &shown, Limits::default())?;
    Some(loaded.policy)
}

/// A policy directory holding tenants 0 and 1 (under a fresh root), and a
/// cache holding only the compiled runtime: the root, the files, a first
/// engine and the cache.
fn two_tenants() -> (
    tempfile::TempDir,
    Vec<PathBuf>,
    Arc<SandboxEngine>,
    Arc<ArtifactCache>,
) {
    let root = tempfile::tempdir().unwrap();
    let policies = root.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    let first = Arc::new(engine());
    let cache = Arc::new(cache_with_runtime(&root.path().join("cache"), &first));
    let files = (0..2)
        .map(|i| {
            let file = policies.join(format!("{}.wasm", tenant_name(i)));
            std::fs::write(&file, tenant_wasm(i)).unwrap();
            file
        })
        .collect();
    (root, files, first, cache)
}

#[test]
fn an_unchanged_file_loads_from_its_record_and_a_rewritten_one_is_read_again() {
    let (_root, files, first, cache) = two_tenants();
    let policies = files[0].parent().unwrap();
    // Full loads: tenant 0's image becomes the base, tenant 1's is stored
    // as a delta against it, and both loads are recorded.
    let loaded = load_all(&first, &cache, policies);
    for (index, policy) in loaded.iter().enumerate() {
        assert_answers_as_itself(&first, policy, index);
    }
    let stamp = stamp_of(&files[1]).unwrap();
    assert!(cache.get(ArtifactKind::Loads, &stamp).unwrap().is_some());

    // A restarted server: tenant 1 loads from its record and is itself.
    let second = engine();
    let tenant = from_record(&second, &cache, &files[1]).expect("loaded from its record");
    assert_answers_as_itself(&second, &tenant, 1);
    // A base is loaded whole, with no delta to load from: it is read.
    assert!(from_record(&second, &cache, &files[0]).is_none());

    // Written again with the same bytes: a new stamp and no record, so the
    // next load reads the file, and records it again.
    std::fs::write(&files[1], tenant_wasm(1)).unwrap();
    assert_ne!(stamp_of(&files[1]).unwrap(), stamp);
    assert!(from_record(&second, &cache, &files[1]).is_none());
    let third = Arc::new(engine());
    let loaded = load_all(&third, &cache, policies);
    assert_answers_as_itself(&third, &loaded[1], 1);
    let fourth = engine();
    let tenant = from_record(&fourth, &cache, &files[1]).expect("recorded anew");
    assert_answers_as_itself(&fourth, &tenant, 1);
}

#[test]
fn a_record_whose_delta_is_gone_is_not_used() {
    let (root, files, first, cache) = two_tenants();
    let policies = files[0].parent().unwrap();
    load_all(&first, &cache, policies);
    std::fs::remove_dir_all(root.path().join("cache").join("sharing")).unwrap();
    assert!(from_record(&engine(), &cache, &files[1]).is_none());
    // The full load still serves it (and stores its delta again).
    let second = Arc::new(engine());
    let loaded = load_all(&second, &cache, policies);
    assert_answers_as_itself(&second, &loaded[1], 1);
}
