//! `policy-host bench inproc|load`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::args::{BenchInprocArgs, BenchLoadArgs};
use crate::bench::{inproc, load, native, workloads};
use crate::build::Toolchain;
use crate::cache::ArtifactCache;
use crate::dispatch::load_policy;
use crate::package::{PolicyPackage, parse_requirements};
use crate::sandbox::{EngineOptions, LimitOverrides, Limits, SandboxEngine};

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

/// Installs a policy's requirements for the host Python (native reference).
fn native_deps(
    toolchain: &Toolchain,
    package: &PolicyPackage,
    cache: &Path,
) -> anyhow::Result<PathBuf> {
    let requirements = parse_requirements(&package.requirements_text())?;
    let target = cache.join("native-deps").join(&package.definition.name);
    if requirements.is_empty() || target.exists() {
        return Ok(target);
    }
    let status = Command::new(toolchain.python())
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(&target)
        .args(requirements.iter().map(|r| r.spec.clone()))
        .status()
        .context("running pip for the native reference")?;
    if !status.success() {
        bail!(
            "installing {}'s requirements for the native reference failed",
            package.definition.name
        );
    }
    Ok(target)
}

/// The in-process benchmark.
pub fn inproc(args: BenchInprocArgs, cache_dir: &Path) -> anyhow::Result<ExitCode> {
    let cache = ArtifactCache::open(cache_dir)?;
    let engine = Arc::new(
        SandboxEngine::new(EngineOptions {
            max_concurrent_calls: 4,
            ..Default::default()
        })
        .map_err(|e| anyhow::anyhow!("creating the engine: {e:#}"))?,
    );
    let toolchain = Toolchain::new(
        args.toolchain
            .toolchain
            .clone()
            .unwrap_or_else(Toolchain::default_venv),
    );
    let sdk_root = std::env::current_dir()?;
    println!("machine: {}; calls per thread: {}\n", machine(), args.calls);
    let mut all = Vec::new();
    for workload in workloads::samples() {
        if args
            .only
            .as_deref()
            .is_some_and(|only| !workload.policy.contains(only))
        {
            continue;
        }
        let file = args
            .policies
            .join(format!("{}-{}.wasm", workload.policy, workload.version));
        let wasm = std::fs::read(&file)
            .with_context(|| format!("reading {} (run `make wasm-python`)", file.display()))?;
        let loaded = load_policy(
            &engine,
            &cache,
            &wasm,
            &file.display().to_string(),
            Limits::default(),
            LimitOverrides::default(),
        )?;
        eprintln!("measuring {} …", workload.policy);
        let threads: Vec<usize> = args.threads.iter().map(|&t| usize::from(t)).collect();
        let modes = inproc::Modes {
            ahead: !args.no_ahead,
            reused: !args.no_reused,
        };
        let mut results = inproc::run_sandbox(
            &engine,
            &loaded.policy,
            &workload,
            &threads,
            args.calls,
            modes,
        )?;
        if !args.no_native {
            let dir = args.sources.join(workload.policy);
            let package = PolicyPackage::read(&dir)?;
            let deps = native_deps(&toolchain, &package, cache.path())?;
            let python = if deps.exists() {
                toolchain.python()
            } else {
                args.python.clone()
            };
            results.push(
                native::run_native(&python, &dir, &sdk_root, &deps, &workload, args.calls * 4)
                    .map_err(anyhow::Error::msg)?,
            );
        }
        all.extend(results);
    }
    println!("{}", inproc::table(&all));
    Ok(ExitCode::SUCCESS)
}

/// The end-to-end load benchmark against a running server.
pub fn load(args: BenchLoadArgs) -> anyhow::Result<ExitCode> {
    let mut workload = workloads::samples()
        .into_iter()
        .find(|w| w.policy == args.policy)
        .with_context(|| format!("no workload for {}", args.policy))?;
    let body_label = match args.body_kib {
        Some(kib) => {
            let body = workloads::json_body(kib * 1024);
            workloads::set_request_body(&mut workload.input, body);
            format!("{kib} KiB JSON")
        }
        None => "none".to_string(),
    };
    let policy_label = if args.transport_only {
        workload.version = workloads::MISSING_VERSION;
        format!(
            "{} (transport only: no sandbox, every call an error)",
            args.policy
        )
    } else {
        args.policy.clone()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!("machine: {}; {} s per level\n", machine(), args.seconds);
    let mut results = Vec::new();
    for &concurrency in &args.concurrency {
        eprintln!("load: {concurrency} in flight …");
        let targets = [load::request(&workload)];
        let level = load::Level {
            targets: &targets,
            concurrency,
            duration: Duration::from_secs(args.seconds),
            hostile_percent: args.hostile_percent,
            server_pid: args.server_pid,
        };
        let result = runtime
            .block_on(load::run_level(&args.socket, &workload, &level))
            .map_err(|e| anyhow::anyhow!("load level {concurrency}: {e}"))?;
        results.push(result);
    }
    println!("{}", load::table(&policy_label, &body_label, &results));
    for result in &results {
        if let Some(server) = result.server {
            println!(
                "in flight {}: server CPU {:.1} µs and {:.2} page faults per call",
                result.concurrency, server.cpu_us, server.faults
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
