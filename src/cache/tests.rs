//! Tests of `cache`.

use super::*;

#[test]
fn put_then_get_round_trips_and_missing_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::open(dir.path()).unwrap();
    assert_eq!(cache.get(ArtifactKind::Compiled, "abc").unwrap(), None);
    cache.put(ArtifactKind::Compiled, "abc", b"code").unwrap();
    assert_eq!(
        cache.get(ArtifactKind::Compiled, "abc").unwrap().unwrap(),
        b"code"
    );
    assert_eq!(cache.get(ArtifactKind::Component, "abc").unwrap(), None);
    let path = cache
        .existing_path(ArtifactKind::Compiled, "abc")
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), b"code");
    assert_eq!(
        cache.existing_path(ArtifactKind::Component, "abc").unwrap(),
        None
    );
}

/// Sets `name`'s last use to `age` ago.
fn used_ago(dir: &Path, name: &str, age: Duration) {
    let file = std::fs::File::options()
        .write(true)
        .open(dir.join(name))
        .unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

fn present(cache: &ArtifactCache, key: &str) -> bool {
    cache.get(ArtifactKind::Component, key).unwrap().is_some()
}

#[test]
fn a_write_over_the_limit_evicts_the_least_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::open(dir.path()).unwrap().with_max_bytes(10);
    cache.put(ArtifactKind::Component, "a", b"aaaa").unwrap();
    cache.put(ArtifactKind::Compiled, "b", b"bbbb").unwrap();
    used_ago(dir.path(), "components/a.wasm", Duration::from_secs(300));
    used_ago(dir.path(), "compiled/b.cwasm", Duration::from_secs(200));
    // Reading `a` makes it the most recently used of the two.
    assert!(present(&cache, "a"));
    cache.put(ArtifactKind::Component, "c", b"cccc").unwrap();
    assert_eq!(cache.get(ArtifactKind::Compiled, "b").unwrap(), None);
    assert!(present(&cache, "a"));
    assert!(present(&cache, "c"));
}

#[test]
fn the_artifact_just_written_stays_even_alone_over_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::open(dir.path()).unwrap().with_max_bytes(2);
    cache.put(ArtifactKind::Component, "old", b"1234").unwrap();
    cache.put(ArtifactKind::Component, "new", b"5678").unwrap();
    assert!(!present(&cache, "old"));
    assert!(present(&cache, "new"));
}

#[test]
fn temporaries_of_crashed_writes_are_removed_once_stale() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::open(dir.path()).unwrap();
    for name in ["components/x.wasm.tmp-1-0", "components/y.wasm.tmp-1-1"] {
        std::fs::write(dir.path().join(name), b"partial").unwrap();
    }
    used_ago(dir.path(), "components/x.wasm.tmp-1-0", 2 * STALE_TEMPORARY);
    let evicted = cache.evict_beyond_limit("").unwrap();
    assert_eq!(evicted, Usage { files: 1, bytes: 7 });
    assert!(!dir.path().join("components/x.wasm.tmp-1-0").exists());
    assert!(
        dir.path().join("components/y.wasm.tmp-1-1").exists(),
        "a write may still be in progress"
    );
}

#[test]
fn usage_counts_each_kind() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::open(dir.path()).unwrap();
    cache.put(ArtifactKind::Component, "a", b"12345").unwrap();
    cache.put(ArtifactKind::Compiled, "b", b"12").unwrap();
    cache.put(ArtifactKind::Compiled, "c", b"123").unwrap();
    assert_eq!(
        cache.usage().unwrap(),
        [
            (ArtifactKind::Component, Usage { files: 1, bytes: 5 }),
            (ArtifactKind::Compiled, Usage { files: 2, bytes: 5 }),
            (ArtifactKind::Sharing, Usage::default()),
            (ArtifactKind::Loads, Usage::default()),
        ]
    );
}

#[test]
fn the_limit_comes_from_the_environment_or_the_default() {
    use std::env::VarError;
    assert_eq!(max_mib(Err(VarError::NotPresent)).unwrap(), DEFAULT_MAX_MIB);
    assert_eq!(max_mib(Ok(" 512 ".into())).unwrap(), 512);
    let error = max_mib(Ok("10G".into())).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("POLICY_HOST_CACHE_MAX_MIB must be a whole number of MiB")
    );
}

#[test]
fn keys_cannot_name_other_paths() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::open(dir.path()).unwrap();
    for key in ["../x", "a/b", "", ".."] {
        assert!(
            cache.put(ArtifactKind::Component, key, b"x").is_err(),
            "{key}"
        );
    }
}

#[test]
fn pages_of_zeros_are_stored_as_holes_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::open(dir.path()).unwrap();
    let mut bytes = vec![0u8; 64 << 10];
    bytes[5] = 1;
    bytes[(40 << 10) + 7] = 2;
    bytes.extend_from_slice(b"tail");
    cache.put(ArtifactKind::Compiled, "sparse", &bytes).unwrap();
    assert_eq!(
        cache
            .get(ArtifactKind::Compiled, "sparse")
            .unwrap()
            .unwrap(),
        bytes
    );
    let usage = cache.usage().unwrap();
    let (_, compiled) = usage
        .iter()
        .find(|(kind, _)| *kind == ArtifactKind::Compiled)
        .unwrap();
    assert_eq!(compiled.files, 1);
    assert!(
        compiled.bytes < (32 << 10),
        "{} bytes on disk for three pages of data",
        compiled.bytes
    );
    cache.remove(ArtifactKind::Compiled, "sparse").unwrap();
    cache.remove(ArtifactKind::Compiled, "sparse").unwrap();
    assert!(
        cache
            .get(ArtifactKind::Compiled, "sparse")
            .unwrap()
            .is_none()
    );
}

#[test]
fn writes_count_the_cache_again_only_near_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::open(dir.path()).unwrap().with_max_bytes(100);
    cache
        .put(ArtifactKind::Component, "first", &[1; 10])
        .unwrap();
    used_ago(
        dir.path(),
        "components/first.wasm",
        Duration::from_secs(300),
    );
    // Another process's write, unseen until the next count.
    std::fs::write(dir.path().join("components/other.wasm"), [2; 75]).unwrap();
    used_ago(
        dir.path(),
        "components/other.wasm",
        Duration::from_secs(200),
    );
    // 10 + 20 written by this process: under nine tenths, no count (a
    // count would find 105 bytes and remove `first`).
    cache
        .put(ArtifactKind::Component, "second", &[3; 20])
        .unwrap();
    assert!(dir.path().join("components/first.wasm").exists());
    // 10 + 20 + 70 would pass nine tenths: the count finds 175 bytes and
    // removes the least recently used until 100 fit.
    cache
        .put(ArtifactKind::Component, "third", &[4; 70])
        .unwrap();
    assert!(!dir.path().join("components/first.wasm").exists());
    assert!(!dir.path().join("components/other.wasm").exists());
    assert!(present(&cache, "second") && present(&cache, "third"));
}
