//! What `serve` starts beside the gRPC server: the metrics endpoint, the
//! background preloader, the reload triggers (SIGHUP and a watch on
//! `--policies`), and the stop signal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{Config, DebounceEventResult, Debouncer, new_debouncer_opt};

use super::serve_args::OperatorArgs;
use super::watch::ChangeWatcher;
use crate::dispatch::{Dispatcher, Reloader};
use crate::transport::serve_metrics;

/// Starts `/metrics` on `address`, if given; returns its task.
pub async fn metrics(
    dispatcher: &Arc<Dispatcher>,
    address: Option<std::net::SocketAddr>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(address) = address else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("--metrics-listen {address}"))?;
    let dispatcher = dispatcher.clone();
    Ok(Some(tokio::spawn(async move {
        if let Err(error) = serve_metrics(listener, dispatcher).await {
            tracing::error!("the metrics endpoint stopped: {error}");
        }
    })))
}

/// Loads the policies (up to the resident bound) on a thread of its own
/// while the server already answers: a policy's first call then finds it
/// loaded, or waits for it.
pub fn preload_in_background(dispatcher: &Arc<Dispatcher>) {
    let registry = dispatcher.registry();
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

/// Reloads on SIGHUP and, unless `--no-watch`, when a component in the
/// directory changes (debounced). The returned watcher must be kept.
pub fn reload_on_signal_and_change(
    reloader: &Arc<Reloader>,
    ops: &OperatorArgs,
) -> anyhow::Result<Option<Debouncer<ChangeWatcher>>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
    let on_signal = reloader.clone();
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let reloader = on_signal.clone();
            let _ = tokio::task::spawn_blocking(move || reloader.reload("SIGHUP")).await;
        }
    });
    if ops.no_watch || !reloader.dir().is_dir() {
        return Ok(None);
    }
    let on_change = reloader.clone();
    let debounce = Duration::from_millis(ops.watch_debounce_ms.max(1));
    let config = Config::default().with_timeout(debounce);
    let on_events = move |events: DebounceEventResult| match events {
        Ok(events) if events.iter().any(|event| is_component(&event.path)) => {
            let _ = on_change.reload("a component changed");
        }
        Ok(_) => {}
        Err(error) => tracing::warn!("watching the policy directory: {error}"),
    };
    let mut debouncer = new_debouncer_opt::<_, ChangeWatcher>(config, on_events)
        .context("watching the policy directory")?;
    debouncer
        .watcher()
        .watch(reloader.dir(), RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {}", reloader.dir().display()))?;
    Ok(Some(debouncer))
}

/// Whether a changed path is a component the directory serves (not a
/// hidden temporary file being written).
fn is_component(path: &std::path::Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name.ends_with(".wasm") && !name.starts_with('.')
}

/// Resolves on SIGTERM or SIGINT.
pub async fn stop_signal() {
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
