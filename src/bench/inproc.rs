//! In-process benchmark: fresh instance per call vs a reused instance vs
//! native CPython, per sample policy.
//!
//! Modes: `fresh` times the whole path on the caller's thread (new store,
//! instantiate, call, drop); `ahead` is the serving path when a worker had
//! time to instantiate before the call arrived: the latency is the critical
//! path only (input in, result out, on an instance made just before), while
//! CPU per call still counts the instantiation and the drop; `reused` is the
//! floor (an instance called again and again, replaced untimed every 32
//! calls; never used to serve).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::stats::{Percentiles, percentiles, process_usage};
use super::workloads::Workload;
use crate::contract::CallInput;
use crate::sandbox::{CompiledPolicy, SandboxEngine, SandboxError, reused};

/// One measured configuration.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Policy name.
    pub policy: String,
    /// `fresh`, `ahead`, `reused` or `native`.
    pub mode: &'static str,
    /// Threads running calls.
    pub threads: usize,
    /// Calls made.
    pub calls: usize,
    /// Per-call latency.
    pub latency: Percentiles,
    /// CPU per call, µs (whole process).
    pub cpu_us_per_call: f64,
    /// Calls per second, all threads.
    pub calls_per_second: f64,
    /// Page faults per call (whole process).
    pub faults_per_call: f64,
    /// Median time spent creating the store and instance (fresh path only).
    pub instantiate_p50_us: Option<f64>,
}

/// One call's latency and, for fresh calls, its instantiation time.
type Sample = (Duration, Option<Duration>);

/// How one thread runs its share of calls, returning each call's timings.
type Runner = dyn Fn(usize) -> Result<Vec<Sample>, SandboxError> + Send + Sync;

fn measure(
    policy: &str,
    mode: &'static str,
    threads: usize,
    calls_per_thread: usize,
    run: Arc<Runner>,
) -> Result<Measurement, SandboxError> {
    run(calls_per_thread.clamp(1, 20))?; // warm up code paths and the pool
    let before = process_usage();
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let run = run.clone();
            std::thread::spawn(move || run(calls_per_thread))
        })
        .collect();
    let mut samples = Vec::with_capacity(threads * calls_per_thread);
    for handle in handles {
        samples.extend(handle.join().expect("benchmark thread")?);
    }
    let elapsed = started.elapsed();
    let used = process_usage() - before;
    let calls = samples.len();
    let mut instantiations: Vec<Duration> = samples.iter().filter_map(|(_, inst)| *inst).collect();
    let instantiate_p50_us =
        (!instantiations.is_empty()).then(|| percentiles(&mut instantiations).p50);
    let mut samples: Vec<Duration> = samples.into_iter().map(|(latency, _)| latency).collect();
    Ok(Measurement {
        policy: policy.to_string(),
        mode,
        threads,
        calls,
        latency: percentiles(&mut samples),
        cpu_us_per_call: used.cpu_us / calls as f64,
        calls_per_second: calls as f64 / elapsed.as_secs_f64(),
        faults_per_call: used.faults as f64 / calls as f64,
        instantiate_p50_us,
    })
}

fn fresh_runner(
    engine: Arc<SandboxEngine>,
    policy: Arc<CompiledPolicy>,
    input: CallInput,
) -> Arc<Runner> {
    Arc::new(move |calls| {
        repeat(calls, || {
            let started = Instant::now();
            let output = policy.call(&engine, input.clone())?;
            let instantiate = Duration::from_micros(output.stats.instantiate_us);
            Ok((started.elapsed(), Some(instantiate)))
        })
    })
}

fn ahead_runner(
    engine: Arc<SandboxEngine>,
    policy: Arc<CompiledPolicy>,
    input: CallInput,
) -> Arc<Runner> {
    Arc::new(move |calls| {
        repeat(calls, || {
            let ready = policy.prepare(&engine)?;
            let started = Instant::now();
            let (result, spent) = policy.call_ready(&engine, ready, input.clone());
            let latency = started.elapsed();
            drop(spent);
            result?;
            Ok((latency, None))
        })
    })
}

/// `calls` samples from `one`, stopping at the first error.
fn repeat(
    calls: usize,
    one: impl FnMut() -> Result<Sample, SandboxError>,
) -> Result<Vec<Sample>, SandboxError> {
    std::iter::repeat_with(one).take(calls).collect()
}

fn reused_runner(
    engine: Arc<SandboxEngine>,
    policy: Arc<CompiledPolicy>,
    input: CallInput,
) -> Arc<Runner> {
    Arc::new(move |calls| {
        let durations = reused::time_reused_instance(&policy, &engine, &input, calls)?;
        Ok(durations.into_iter().map(|d| (d, None)).collect())
    })
}

/// Which paths besides the shipped fresh one to measure.
#[derive(Debug, Clone, Copy)]
pub struct Modes {
    /// The instance-made-ahead critical path.
    pub ahead: bool,
    /// The reused-instance floor.
    pub reused: bool,
}

/// Makes the per-thread runner of one mode.
type RunnerFactory = fn(Arc<SandboxEngine>, Arc<CompiledPolicy>, CallInput) -> Arc<Runner>;

/// Measures the fresh path (and the modes asked for) of one workload at
/// each thread count.
pub fn run_sandbox(
    engine: &Arc<SandboxEngine>,
    policy: &Arc<CompiledPolicy>,
    workload: &Workload,
    thread_counts: &[usize],
    calls_per_thread: usize,
    modes: Modes,
) -> Result<Vec<Measurement>, SandboxError> {
    // (mode, measured?, runner, calls per thread): the reused floor is
    // cheap per call, so it runs four times as many.
    let plan: [(&'static str, bool, RunnerFactory, usize); 3] = [
        ("fresh", true, fresh_runner, calls_per_thread),
        ("ahead", modes.ahead, ahead_runner, calls_per_thread),
        ("reused", modes.reused, reused_runner, calls_per_thread * 4),
    ];
    let mut results = Vec::new();
    for (mode, _, runner, calls) in plan.into_iter().filter(|step| step.1) {
        for &threads in thread_counts {
            let run = runner(engine.clone(), policy.clone(), workload.input.clone());
            results.push(measure(workload.policy, mode, threads, calls, run)?);
        }
    }
    Ok(results)
}

/// A Markdown table of measurements, with ratios against the 1-thread
/// native and reused rows of the same policy.
pub fn table(measurements: &[Measurement]) -> String {
    let mut out = String::from(
        "| policy | mode | threads | p50 µs | p99 µs | of which instantiate (p50) | CPU µs/call | calls/s | faults/call | CPU vs native | CPU vs reused |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for m in measurements {
        let baseline = |mode: &str| {
            measurements
                .iter()
                .find(|o| o.policy == m.policy && o.mode == mode && o.threads == 1)
                .map_or(String::from("–"), |o| {
                    format!("{:.1}×", m.cpu_us_per_call / o.cpu_us_per_call)
                })
        };
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.0} | {} | {:.0} | {:.0} | {:.1} | {} | {} |\n",
            m.policy,
            m.mode,
            m.threads,
            m.latency.p50,
            m.latency.p99,
            m.instantiate_p50_us
                .map_or(String::from("–"), |us| format!("{us:.0}")),
            m.cpu_us_per_call,
            m.calls_per_second,
            m.faults_per_call,
            baseline("native"),
            baseline("reused"),
        ));
    }
    out
}
