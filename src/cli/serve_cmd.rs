//! `policy-host serve`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::args::ServeArgs;
use crate::cache::ArtifactCache;
use crate::dispatch::{Dispatcher, InputCaps, WorkerOptions, scan_directory};
use crate::sandbox::{EngineOptions, LimitOverrides, Limits, SandboxEngine};
use crate::transport::{ServerConfig, StreamOptions, bind_unix_socket, serve};

/// Loads the policies and serves until SIGTERM/SIGINT.
pub fn run(args: ServeArgs, cache_dir: &Path) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let workers = args.workers.max(1);
    let defaults = LimitOverrides {
        memory_mib: args.memory_mib,
        fuel: args.fuel,
        timeout_ms: args.timeout_ms,
    }
    .apply_to(Limits::default())
    .context("invalid default limits")?;
    let cache = Arc::new(
        ArtifactCache::open(cache_dir)
            .with_context(|| format!("opening the artifact cache {}", cache_dir.display()))?,
    );
    let max_concurrent_calls = u32::try_from(workers).context("--workers is too large")?;
    let engine = SandboxEngine::new(EngineOptions {
        max_concurrent_calls,
        warm_memory_slots: args.warm_memory_slots,
        ..Default::default()
    })
    .map_err(|e| anyhow::anyhow!("creating the Wasmtime engine: {e:#}"))?;
    let engine = Arc::new(engine);
    let (registry, skipped) = if args.policies.exists() {
        let max_resident = args.max_resident_policies.max(1);
        let scanned = scan_directory(&engine, &cache, &args.policies, defaults, max_resident)?;
        (scanned.registry, scanned.skipped.len())
    } else {
        tracing::warn!(dir = %args.policies.display(), "policy directory does not exist: serving no policies");
        (crate::dispatch::PolicyRegistry::new(), 0)
    };
    let caps = InputCaps {
        max_body_bytes: args.max_body_bytes,
        max_headers: args.max_headers,
        max_header_bytes: InputCaps::default().max_header_bytes,
        max_json_bytes: args.max_json_bytes,
    };
    let policies = registry.len();
    let worker_options = WorkerOptions {
        count: workers,
        make_ahead: !args.no_make_ahead,
        wake_slice: (args.wake_slice_us > 0).then(|| Duration::from_micros(args.wake_slice_us)),
    };
    let dispatcher = Arc::new(Dispatcher::new(engine, registry, worker_options, caps));
    let config = ServerConfig {
        socket: args.socket.clone(),
        tcp: args.listen,
        stream: StreamOptions {
            max_in_flight: args.max_concurrent.max(1),
            max_response_bytes: args.max_response_bytes,
        },
        grace: Duration::from_millis(args.grace_ms),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(workers + 4)
        .thread_name("policy-host-io")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = bind_unix_socket(&config.socket)?;
        tracing::info!(
            socket = %config.socket.display(), policies, skipped, workers,
            make_ahead = worker_options.make_ahead,
            wake_slice_us = args.wake_slice_us,
            max_concurrent = config.stream.max_in_flight,
            startup_ms = started.elapsed().as_millis() as u64,
            "serving"
        );
        if !args.no_preload {
            preload_in_background(&dispatcher);
        }
        serve(dispatcher, config, listener, stop_signal()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Loads the policies (up to the resident bound) on a thread of its own
/// while the server already answers: a policy's first call then finds it
/// loaded, or waits for it.
fn preload_in_background(dispatcher: &Arc<Dispatcher>) {
    let registry = dispatcher.registry().clone();
    let spawned = std::thread::Builder::new()
        .name("policy-preload".into())
        .spawn(move || {
            let started = Instant::now();
            registry.preload();
            tracing::info!(
                resident = registry.resident(),
                ms = started.elapsed().as_millis() as u64,
                "policies preloaded"
            );
        });
    if let Err(error) = spawned {
        tracing::warn!("cannot start the preloader; policies load on first use: {error}");
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::error!("cannot listen for SIGTERM: {error}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}
