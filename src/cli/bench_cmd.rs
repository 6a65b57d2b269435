//! `policy-host bench inproc|load`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::args::{BenchInprocArgs, BenchLoadArgs};
use super::exit::Exit;
use crate::bench::{inproc, load, native, workloads};
use crate::build::Toolchain;
use crate::cache::ArtifactCache;
use crate::dispatch::{call_once, load_policy};
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

/// What every workload of one `bench inproc` run shares.
struct InprocRun<'a> {
    args: &'a BenchInprocArgs,
    engine: Arc<SandboxEngine>,
    cache: ArtifactCache,
    toolchain: Toolchain,
    sdk_root: PathBuf,
}

/// The in-process benchmark.
pub fn inproc(args: BenchInprocArgs, cache_dir: &Path) -> anyhow::Result<Exit> {
    // One policy at a time needs few warm slots; fewer also keep the pool's
    // reservation small enough for valgrind (wasm-python/bench-instructions.sh).
    let engine = SandboxEngine::new(EngineOptions {
        max_concurrent_calls: 4,
        warm_memory_slots: 4,
        ..Default::default()
    })
    .map_err(|e| anyhow::anyhow!("creating the engine: {e:#}"))?;
    let venv = args.toolchain.toolchain.clone();
    let run = InprocRun {
        args: &args,
        engine: Arc::new(engine),
        cache: ArtifactCache::open(cache_dir)?,
        toolchain: Toolchain::new(venv.unwrap_or_else(Toolchain::default_venv)),
        sdk_root: std::env::current_dir()?,
    };
    let workloads = match args.body_kib.as_slice() {
        [] => workloads::labelled_samples(),
        sizes => workloads::with_bodies(sizes),
    };
    println!("machine: {}; calls per thread: {}\n", machine(), args.calls);
    let mut all = Vec::new();
    for (label, workload) in workloads {
        if args
            .only
            .as_deref()
            .is_some_and(|only| !label.contains(only))
        {
            continue;
        }
        eprintln!("measuring {label} …");
        let mut results = run.measure(&workload)?;
        for result in &mut results {
            result.policy.clone_from(&label);
        }
        all.extend(results);
    }
    println!("{}", inproc::table(&all));
    Ok(Exit::Success)
}

impl InprocRun<'_> {
    /// Every asked-for mode of one workload, the native reference last.
    fn measure(&self, workload: &workloads::Workload) -> anyhow::Result<Vec<inproc::Measurement>> {
        let file = self
            .args
            .policies
            .join(format!("{}-{}.wasm", workload.policy, workload.version));
        let wasm = std::fs::read(&file)
            .with_context(|| format!("reading {} (run `make wasm-python`)", file.display()))?;
        let loaded = load_policy(
            &self.engine,
            &self.cache,
            &wasm,
            &file.display().to_string(),
            Limits::default(),
            LimitOverrides::default(),
        )?;
        // The input is checked on the server's path first: a workload the
        // dispatcher would refuse, or a policy that fails on it, is an error
        // here rather than a number.
        let served_as = (
            loaded.manifest.name.as_str(),
            loaded.manifest.version.as_str(),
        );
        call_once(
            self.engine.clone(),
            served_as,
            loaded.policy.clone(),
            workload.input.clone(),
        )
        .with_context(|| format!("{} on the benchmark input", workload.policy))?;
        let threads: Vec<usize> = self.args.threads.iter().map(|&t| usize::from(t)).collect();
        let modes = inproc::Modes {
            ahead: !self.args.no_ahead,
            reused: !self.args.no_reused,
        };
        let mut results = inproc::run_sandbox(
            &self.engine,
            &loaded.policy,
            workload,
            &threads,
            self.args.calls,
            modes,
        )?;
        if !self.args.no_native {
            results.push(self.native(workload)?);
        }
        Ok(results)
    }

    /// The same workload under the host's CPython.
    fn native(&self, workload: &workloads::Workload) -> anyhow::Result<inproc::Measurement> {
        let dir = self.args.sources.join(workload.policy);
        let package = PolicyPackage::read(&dir)?;
        let deps = native_deps(&self.toolchain, &package, self.cache.path())?;
        let python = if deps.exists() {
            self.toolchain.python()
        } else {
            self.args.python.clone()
        };
        let calls = self.args.calls * 4;
        native::run_native(&python, &dir, &self.sdk_root, &deps, workload, calls)
            .map_err(anyhow::Error::msg)
    }
}

/// The end-to-end load benchmark against a running server.
pub fn load(args: BenchLoadArgs) -> anyhow::Result<Exit> {
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
    Ok(Exit::Success)
}
