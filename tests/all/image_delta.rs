//! Policy images stored as deltas: once a tenant's image has been compared
//! with the base image it shares pages with, its compiled artifact keeps
//! only what it does not map from the base, and later loads from the delta
//! answer exactly as before, also in an engine that has not loaded the base
//! policy itself, and again after the base's artifact is gone.

use std::path::{Path, PathBuf};

use policy_host::cache::{ArtifactCache, ArtifactKind};
use policy_host::dispatch::load_policy;
use policy_host::sandbox::compile::{CompileSource, compiled_key, load_component_pieces};
use policy_host::sandbox::shared::max_shared_runs;
use policy_host::sandbox::split::split;
use policy_host::sandbox::{CompiledPolicy, EngineOptions, LimitOverrides, Limits, SandboxEngine};

use crate::harness::{counter_request, harness, set_header};
use crate::shared_runtime::{assert_snapshot_pages_shared, load_from, tenant_name, tenant_wasm};

pub(crate) fn engine() -> SandboxEngine {
    SandboxEngine::new(EngineOptions {
        max_concurrent_calls: 1,
        ..Default::default()
    })
    .unwrap()
}

/// A fresh cache holding only the compiled runtime (linked from the
/// harness's cache, which compiles it once), so that every tenant image is
/// compiled and stored here.
pub(crate) fn cache_with_runtime(dir: &Path, engine: &SandboxEngine) -> ArtifactCache {
    let parts = split(tenant_wasm(0)).unwrap();
    load_component_pieces(engine, &harness().cache, &parts.runtime).unwrap();
    let key = compiled_key(engine, &parts.runtime);
    let from = harness().cache.existing_path(ArtifactKind::Compiled, &key);
    let from = from.unwrap().expect("the runtime's artifact");
    let cache = ArtifactCache::open(dir).unwrap();
    let to = dir.join("compiled").join(format!("{key}.cwasm"));
    if std::fs::hard_link(&from, &to).is_err() {
        std::fs::copy(&from, &to).unwrap();
    }
    cache
}

/// Calls `tenant` twice and checks it answers from its own fresh snapshot.
pub(crate) fn assert_answers_as_itself(
    engine: &SandboxEngine,
    tenant: &CompiledPolicy,
    index: usize,
) {
    for round in 0..2 {
        let secret = format!("{}-delta-{round}", tenant_name(index));
        let output = tenant.call(engine, counter_request(&secret)).unwrap();
        let fresh = format!("{}/1", tenant_name(index));
        assert_eq!(set_header(&output, "x-tenant"), fresh);
        assert_eq!(set_header(&output, "x-counter"), "1", "fresh module state");
        assert_eq!(set_header(&output, "x-seen"), format!("[\"{secret}\"]"));
    }
}

/// The sharing records in `dir` that describe a delta (not base marks),
/// each as (record text, path).
fn delta_records(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut records: Vec<(String, PathBuf)> = std::fs::read_dir(dir.join("sharing"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| !path.to_string_lossy().ends_with("-base.txt"))
        .map(|path| (std::fs::read_to_string(&path).unwrap(), path))
        .collect();
    records.sort();
    records
}

/// The value of `field` in a record.
fn field<'a>(record: &'a str, field: &str) -> &'a str {
    let prefix = format!("{field} ");
    let line = record.lines().find(|line| line.starts_with(&prefix));
    &line.unwrap_or_else(|| panic!("no {field} in {record}"))[prefix.len()..]
}

/// Bytes a file takes on disk.
fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().blocks() * 512
}

#[test]
fn a_tenant_image_is_stored_as_a_delta_and_answers_the_same_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = engine();
    let cache = cache_with_runtime(dir.path(), &first);
    let tenants: Vec<CompiledPolicy> = (0..3).map(|i| load_from(&first, &cache, i)).collect();
    assert_snapshot_pages_shared(&tenants);
    for (index, tenant) in tenants.iter().enumerate() {
        assert_answers_as_itself(&first, tenant, index);
    }

    // Tenants 1 and 2 are deltas against tenant 0's image, which stays whole.
    let records = delta_records(dir.path());
    assert_eq!(records.len(), 2, "{records:?}");
    let compiled = dir.path().join("compiled");
    let artifact = |key: &str| compiled.join(format!("{key}.cwasm"));
    let base = artifact(field(&records[0].0, "base"));
    assert_eq!(field(&records[1].0, "base"), field(&records[0].0, "base"));
    for (record, path) in &records {
        let image_key = path.file_stem().unwrap().to_string_lossy();
        assert!(!artifact(&image_key).exists(), "the whole image is removed");
        let delta = artifact(field(record, "delta"));
        assert_eq!(
            std::fs::metadata(&delta).unwrap().len(),
            std::fs::metadata(&base).unwrap().len()
        );
        assert!(
            allocated(&delta) * 16 < allocated(&base),
            "a delta takes {} KiB of disk, its base {} KiB",
            allocated(&delta) >> 10,
            allocated(&base) >> 10
        );
    }

    // A new engine loads tenant 2 before anything else: from its delta, with
    // the base image loaded only because the record names it.
    let second = engine();
    let from_delta = load_from(&second, &cache, 2);
    assert!(from_delta.shared_image_bytes() >= 12 << 20);
    assert_answers_as_itself(&second, &from_delta, 2);
    let base_tenant = load_from(&second, &cache, 0);
    assert_eq!(base_tenant.shared_image_bytes(), 0, "the base loads whole");
    assert_answers_as_itself(&second, &base_tenant, 0);
    assert_answers_as_itself(&second, &from_delta, 2);

    // Without the base's artifact the delta cannot be used: the image is
    // compiled whole again, and answers the same.
    std::fs::remove_file(&base).unwrap();
    let third = engine();
    let recompiled = load_from(&third, &cache, 1);
    assert_answers_as_itself(&third, &recompiled, 1);
}

/// The runs a record maps (its `runs` line).
fn runs_in(record: &str) -> usize {
    field(record, "runs").split_whitespace().count()
}

/// Memory slots past which this host lets each image map fewer than
/// `runs` shared runs (the bound follows `vm.max_map_count`).
fn slots_for_fewer_runs_than(runs: usize) -> u32 {
    let mut slots = 64;
    while max_shared_runs(slots) >= runs {
        slots *= 2;
    }
    slots
}

#[test]
fn a_delta_is_stored_again_for_a_host_allowing_fewer_runs_without_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let first = engine();
    let cache = cache_with_runtime(dir.path(), &first);
    let _base = load_from(&first, &cache, 0);
    drop(load_from(&first, &cache, 1));
    let records = delta_records(dir.path());
    let (before, path) = &records[0];
    let runs_before = runs_in(before);
    assert!(runs_before >= 2, "{before}");

    // A pool with so many slots that each image may map about half the runs.
    let warm_memory_slots = slots_for_fewer_runs_than(runs_before / 2 + 1);
    assert!(warm_memory_slots <= 1 << 16, "{warm_memory_slots} slots");
    let crowded = SandboxEngine::new(EngineOptions {
        max_concurrent_calls: 1,
        warm_memory_slots,
        ..Default::default()
    })
    .unwrap();
    let allowed = max_shared_runs(crowded.memory_slots());
    assert!(allowed > 0 && allowed < runs_before);
    let loaded = load_policy(
        &crowded,
        &cache,
        tenant_wasm(1),
        &tenant_name(1),
        Limits::default(),
        LimitOverrides::default(),
    )
    .unwrap();
    assert_eq!(loaded.source, CompileSource::Cached, "nothing compiled");
    assert_answers_as_itself(&crowded, &loaded.policy, 1);

    let after = std::fs::read_to_string(path).unwrap();
    assert_eq!(runs_in(&after), allowed);
    assert_eq!(field(&after, "base"), field(before, "base"));
    assert_eq!(field(&after, "identical"), field(before, "identical"));
    let compiled = dir.path().join("compiled");
    let artifact = |record: &str| compiled.join(format!("{}.cwasm", field(record, "delta")));
    assert!(artifact(&after).exists());
    assert!(!artifact(before).exists(), "the old delta is removed");

    // And a host allowing more again uses the new delta as it is.
    let again = engine();
    let tenant = load_from(&again, &cache, 1);
    assert_answers_as_itself(&again, &tenant, 1);
}
