//! `policy-host cache`: what the artifact cache holds, and pruning it.

use std::path::Path;

use anyhow::Context;

use super::args::CachePruneArgs;
use super::exit::Exit;
use crate::cache::ArtifactCache;

fn open(cache_dir: &Path) -> anyhow::Result<ArtifactCache> {
    ArtifactCache::open(cache_dir)
        .with_context(|| format!("opening the artifact cache {}", cache_dir.display()))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// Prints the cache's location, limit and contents.
pub fn info(cache_dir: &Path) -> anyhow::Result<Exit> {
    let cache = open(cache_dir)?;
    println!("cache: {}", cache.path().display());
    println!("limit: {}", mib(cache.max_bytes()));
    let mut total = 0;
    for (kind, usage) in cache.usage().context("listing the cache")? {
        println!(
            "{}: {} file(s), {}",
            kind.dir_name(),
            usage.files,
            mib(usage.bytes)
        );
        total += usage.bytes;
    }
    println!("total: {}", mib(total));
    let bench = crate::bench::mix::work_dir(cache.path());
    if let Some((files, bytes)) = crate::bench::mix::disk_usage(&bench) {
        println!(
            "not counted against the limit: {} ({} file(s), {}), what `bench load --mix` \
             generated; delete it to free the space",
            bench.display(),
            files,
            mib(bytes)
        );
    }
    Ok(Exit::Success)
}

/// Removes the least recently used artifacts until the cache fits.
pub fn prune(args: CachePruneArgs, cache_dir: &Path) -> anyhow::Result<Exit> {
    let mut cache = open(cache_dir)?;
    if let Some(max_mib) = args.max_mib {
        cache = cache.with_max_bytes(max_mib.saturating_mul(1 << 20));
    }
    let evicted = cache.evict_beyond_limit("").context("pruning the cache")?;
    println!(
        "removed {} file(s), {} (the least recently used first) to fit {}",
        evicted.files,
        mib(evicted.bytes),
        mib(cache.max_bytes())
    );
    Ok(Exit::Success)
}
