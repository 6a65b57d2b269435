//! `policy-host serve`: settle the options, scan the policies, start the
//! dispatcher, then serve gRPC (and metrics) until SIGTERM/SIGINT.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::exit::Exit;
use super::serve_args::{OperatorArgs, ServeArgs};
use super::serve_triggers;
use crate::cache::ArtifactCache;
use crate::dispatch::{
    BreakerSettings, DirectoryOptions, Dispatcher, InputCaps, Metrics, PolicyRegistry, Reloader,
    WorkerOptions, default_max_queued, scan_directory,
};
use crate::sandbox::{Ceilings, EngineOptions, LimitOverrides, Limits, SandboxEngine};
use crate::transport::{ServerConfig, StreamOptions, bind_unix_socket, serve};

/// Loads the policies and serves until SIGTERM/SIGINT.
pub fn run(args: ServeArgs, cache_dir: &Path) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let workers = args.workers.max(1);
    let ops = &args.operator;
    let metrics = ops.metrics_listen.map(|_| Arc::new(Metrics::new()));
    let directory = directory_options(&args, metrics.clone())?;
    let cache = Arc::new(
        ArtifactCache::open(cache_dir)
            .with_context(|| format!("opening the artifact cache {}", cache_dir.display()))?,
    );
    let warm_slots = warm_memory_slots(&args);
    let engine = engine(workers, warm_slots)?;
    let (registry, skipped) = scan_policies(&args.policies, &engine, &cache, &directory)?;
    let policies = registry.len();
    let shared_runs = shared_runs(&engine, policies);
    let (dispatcher, max_queued) = dispatcher(&args, engine.clone(), registry, metrics);
    let reloader = Arc::new(Reloader::new(
        dispatcher.clone(),
        engine,
        cache,
        &args.policies,
        directory,
    ));
    let config = server_config(&args);
    io_runtime(workers)?.block_on(async move {
        let listener = bind_unix_socket(&config.socket)?;
        let metrics_task = serve_triggers::metrics(&dispatcher, ops.metrics_listen).await?;
        tracing::info!(
            socket = %config.socket.display(), policies, skipped, workers, max_queued,
            make_ahead = !args.no_make_ahead,
            max_concurrent = config.stream.max_in_flight,
            warm_slots,
            shared_runs_per_policy = shared_runs,
            metrics = ?ops.metrics_listen,
            startup_ms = started.elapsed().as_millis() as u64,
            "serving"
        );
        if !args.no_preload {
            serve_triggers::preload_in_background(&dispatcher);
        }
        let _watcher = serve_triggers::reload_on_signal_and_change(&reloader, ops)?;
        serve(dispatcher, config, listener, serve_triggers::stop_signal()).await?;
        if let Some(task) = metrics_task {
            task.abort();
        }
        anyhow::Ok(())
    })?;
    Ok(Exit::Success)
}

/// The policies of `dir` and how many of its entries were skipped; none,
/// with a warning, when the directory does not exist (policies added to it
/// later are loaded on reload).
fn scan_policies(
    dir: &Path,
    engine: &Arc<SandboxEngine>,
    cache: &Arc<ArtifactCache>,
    directory: &DirectoryOptions,
) -> anyhow::Result<(PolicyRegistry, usize)> {
    if !dir.exists() {
        tracing::warn!(dir = %dir.display(), "policy directory does not exist: serving no policies");
        return Ok((PolicyRegistry::with_max_resident(directory.max_resident), 0));
    }
    let scanned = scan_directory(engine, cache, dir, directory)?;
    Ok((scanned.registry, scanned.skipped.len()))
}

/// The async runtime of the gRPC and metrics servers: two I/O threads, and
/// blocking threads for the sandbox workers and a few more.
fn io_runtime(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(workers + 4)
        .thread_name("policy-host-io")
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Runs of snapshot pages a policy may share with another's (none on a
/// stock Wasmtime build, which loads every policy whole); warns when the
/// kernel's mapping limit keeps many policies from sharing all of theirs.
fn shared_runs(engine: &SandboxEngine, policies: usize) -> usize {
    use crate::sandbox::shared::{MAX_SHARED_RUNS, max_shared_runs};
    if !crate::sandbox::engine::PATCHED_WASMTIME {
        return 0;
    }
    let runs = max_shared_runs(engine.memory_slots());
    if runs < MAX_SHARED_RUNS && policies >= MANY_POLICIES {
        tracing::warn!(
            policies,
            shared_runs_per_policy = runs,
            "vm.max_map_count caps how many snapshot pages each policy shares; with many \
             policies raise it (docs/operating.md, \"Many tenants\"): each policy then \
             shares up to 512 runs of pages and the server holds less memory"
        );
    }
    runs
}

/// From this many policies served at start, a cap on shared runs is worth
/// a warning.
const MANY_POLICIES: usize = 32;

/// The dispatcher over `registry`, with the operator's queue bound,
/// breaker settings and metrics; and its queue bound.
fn dispatcher(
    args: &ServeArgs,
    engine: Arc<SandboxEngine>,
    registry: PolicyRegistry,
    metrics: Option<Arc<Metrics>>,
) -> (Arc<Dispatcher>, usize) {
    let workers = args.workers.max(1);
    let worker_options = WorkerOptions {
        count: workers,
        make_ahead: !args.no_make_ahead,
        wake_slice: (args.wake_slice_us > 0).then(|| Duration::from_micros(args.wake_slice_us)),
    };
    let ops = &args.operator;
    let max_queued = ops
        .max_queued
        .unwrap_or_else(|| default_max_queued(workers));
    let dispatcher = Dispatcher::new(engine, registry, worker_options, caps(args))
        .with_max_queued(max_queued)
        .with_observer(breaker_settings(ops), metrics);
    (Arc::new(dispatcher), max_queued)
}

/// `--warm-memory-slots`, or by default enough for every component in the
/// directory at start (a quarter more, for versions added by reloads).
fn warm_memory_slots(args: &ServeArgs) -> u32 {
    args.warm_memory_slots.unwrap_or_else(|| {
        let components =
            crate::dispatch::loader::component_paths(&args.policies).map_or(0, |p| p.len());
        let wanted = u32::try_from(components + components / 4).unwrap_or(u32::MAX);
        wanted.max(crate::sandbox::engine::DEFAULT_WARM_MEMORY_SLOTS)
    })
}

fn engine(workers: usize, warm_memory_slots: u32) -> anyhow::Result<Arc<SandboxEngine>> {
    let max_concurrent_calls = u32::try_from(workers).context("--workers is too large")?;
    let engine = SandboxEngine::new(EngineOptions {
        max_concurrent_calls,
        warm_memory_slots,
        ..Default::default()
    })
    .map_err(|e| anyhow::anyhow!("creating the Wasmtime engine: {e:#}"))?;
    Ok(Arc::new(engine))
}

fn server_config(args: &ServeArgs) -> ServerConfig {
    ServerConfig {
        socket: args.socket.clone(),
        tcp: args.listen,
        health_tcp: args.health_listen,
        stream: StreamOptions {
            max_in_flight: args.max_concurrent.max(1),
            max_response_bytes: args.max_response_bytes,
        },
        grace: Duration::from_millis(args.grace_ms),
    }
}

/// The limits, ceilings and resident bound every scan and reload uses;
/// server defaults above a ceiling are refused.
fn directory_options(
    args: &ServeArgs,
    metrics: Option<Arc<Metrics>>,
) -> anyhow::Result<DirectoryOptions> {
    let defaults = LimitOverrides {
        memory_mib: args.memory_mib,
        fuel: args.fuel,
        timeout_ms: args.timeout_ms,
    }
    .apply_to(Limits::default())
    .context("invalid default limits")?;
    let ops = &args.operator;
    let ceilings = Ceilings {
        memory_mib: ops.max_memory_mib,
        fuel: ops.max_fuel,
        timeout_ms: ops.max_timeout_ms,
    };
    ceilings.validate().context("invalid ceilings")?;
    let (lowered, above) = ceilings.clamp(defaults);
    let explicit = |field: &str| match field {
        "memory_mib" => args.memory_mib.is_some(),
        "fuel" => args.fuel.is_some(),
        _ => args.timeout_ms.is_some(),
    };
    if let Some(set) = above.iter().find(|clamped| explicit(clamped.field)) {
        anyhow::bail!(
            "the server's default {} is {}, above its ceiling --max-{} {}: lower the default or raise the ceiling",
            set.field,
            set.asked,
            set.field.replace('_', "-"),
            set.ceiling
        );
    }
    for clamped in &above {
        tracing::info!("built-in default {clamped}");
    }
    let defaults = lowered;
    Ok(DirectoryOptions {
        defaults,
        ceilings,
        max_resident: args.max_resident_policies.max(1),
        metrics,
    })
}

fn caps(args: &ServeArgs) -> InputCaps {
    InputCaps {
        max_body_bytes: args.max_body_bytes,
        max_headers: args.max_headers,
        max_header_bytes: InputCaps::default().max_header_bytes,
        max_json_bytes: args.max_json_bytes,
    }
}

fn breaker_settings(ops: &OperatorArgs) -> BreakerSettings {
    BreakerSettings {
        failures: ops.breaker_failures,
        window: Duration::from_millis(ops.breaker_window_ms),
        cooldown: Duration::from_millis(ops.breaker_cooldown_ms),
        count_raises: ops.breaker_count_raises,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn slots_for(components: usize, flag: &[&str]) -> u32 {
        let dir = tempfile::tempdir().unwrap();
        for index in 0..components {
            std::fs::write(dir.path().join(format!("p{index}.wasm")), b"").unwrap();
        }
        let policies = dir.path().to_str().unwrap();
        let args = Cli::parse_from([&["serve", "--policies", policies], flag].concat());
        warm_memory_slots(&args.serve)
    }

    #[test]
    fn warm_slots_default_to_every_component_and_a_quarter_more() {
        let default = crate::sandbox::engine::DEFAULT_WARM_MEMORY_SLOTS;
        assert_eq!(slots_for(3, &[]), default);
        assert_eq!(slots_for(400, &[]), 500);
        assert_eq!(slots_for(400, &["--warm-memory-slots", "8"]), 8);
    }
}
