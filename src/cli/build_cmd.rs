//! `policy-host build`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::args::{BuildArgs, ToolchainArgs};
use super::exit::Exit;
use crate::build::{BuildOptions, Builder, Deadlines, Toolchain, write_component};
use crate::cache::ArtifactCache;
use crate::dispatch::load_policy;
use crate::sandbox::{EngineOptions, LimitOverrides, Limits, SandboxEngine};

/// The builder `args` ask for.
pub fn builder<'a>(args: &ToolchainArgs, cache: &'a ArtifactCache) -> Builder<'a> {
    let venv = args
        .toolchain
        .clone()
        .unwrap_or_else(Toolchain::default_venv);
    Builder::new(
        Toolchain::new(venv),
        cache,
        BuildOptions {
            rebuild: args.rebuild,
            mortal_snapshot: args.mortal_snapshot,
            deadlines: Deadlines {
                total: std::time::Duration::from_secs(args.build_timeout),
                ..Deadlines::default()
            },
        },
    )
}

/// Builds every directory, reporting each; fails if any failed.
pub fn run(args: BuildArgs, cache_dir: &Path) -> anyhow::Result<Exit> {
    let cache = ArtifactCache::open(cache_dir)
        .map_err(|e| anyhow::anyhow!("opening the artifact cache {}: {e}", cache_dir.display()))?;
    let builder = builder(&args.toolchain, &cache);
    let engine = SandboxEngine::new(EngineOptions {
        max_concurrent_calls: 1,
        incremental_compilation: true,
        ..Default::default()
    })
    .map_err(|e| anyhow::anyhow!("creating the Wasmtime engine: {e:#}"))?;
    let total = args.dirs.len();
    let mut failed = Vec::new();
    for (index, dir) in args.dirs.iter().enumerate() {
        let tag = format!("[{}/{total}] {}", index + 1, dir.display());
        match build_one(&builder, &engine, &cache, dir, &args.out, &tag) {
            Ok(path) => eprintln!("{tag}: wrote {}", path.display()),
            Err(error) => {
                eprintln!("{tag}: error: {error:#}");
                failed.push(dir.clone());
            }
        }
    }
    if failed.is_empty() {
        return Ok(Exit::Success);
    }
    eprintln!("{} of {total} policies failed to build", failed.len());
    Ok(Exit::Failed)
}

fn build_one(
    builder: &Builder<'_>,
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    dir: &Path,
    out: &Path,
    tag: &str,
) -> anyhow::Result<PathBuf> {
    let started = Instant::now();
    let report = |line: &str| eprintln!("{tag}: {line}");
    let built = builder.build(dir, &report)?;
    let path = write_component(out, &built)?;
    report("compiling for this host (cached by content hash and engine)");
    let shown = path.display().to_string();
    let loaded = load_policy(
        engine,
        cache,
        &built.wasm,
        &shown,
        Limits::default(),
        LimitOverrides::default(),
    )?;
    if loaded.policy.description().is_factory() {
        report(
            "warning: get_policy(metadata, params) is deprecated; export on_request/on_response",
        );
    }
    let phases: Vec<&str> = loaded
        .policy
        .description()
        .phases
        .iter()
        .map(|p| p.as_str())
        .collect();
    let snapshot_memory = crate::build::snapshot::initial_memory_bytes(&built.wasm).unwrap_or(0);
    report(&format!(
        "{} {}: phases {}, {:.1} MB, starts with {} MiB of memory, {:.1} s",
        built.manifest.name,
        built.manifest.version,
        phases.join(", "),
        built.wasm.len() as f64 / 1e6,
        snapshot_memory >> 20,
        started.elapsed().as_secs_f64()
    ));
    Ok(path)
}
