//! `policy-host bench load --mix N`: many tenants on one server of our own.

use std::path::Path;
use std::time::Duration;

use super::args::BenchLoadArgs;
use super::exit::Exit;
use crate::bench::load::{self, LoadResult};
use crate::bench::mix::{self, Server};
use crate::bench::stats::{Resident, median, resident_of};
use crate::bench::workloads::{self, Workload};
use crate::transport::proto::ExecutionRequest;

/// Builds (once) and serves `count` mixed policies beside the samples, then
/// measures, at each `--concurrency`, the header policy alone, the four
/// samples interleaved, and calls spread evenly over the mixed policies.
pub fn run(args: BenchLoadArgs, count: usize, cache_dir: &Path) -> anyhow::Result<Exit> {
    if count == 0 {
        anyhow::bail!("--mix needs at least one policy");
    }
    let work = mix::work_dir(cache_dir);
    let built = work.join("built");
    let serve = work.join(format!("serve-{count}"));
    std::fs::create_dir_all(&built)?;
    let _ = std::fs::remove_dir_all(&serve);
    std::fs::create_dir_all(&serve)?;
    let dirs = mix::write_sources(&args.sources, &work, count)?;
    mix::build_missing(&dirs, &built, cache_dir)?;
    mix::add_samples(&args.policies, &serve)?;
    for index in 0..count {
        let name = format!("{}-{}.wasm", mix::policy_name(index), mix::VERSION);
        let (from, to) = (built.join(&name), serve.join(&name));
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to)?;
        }
    }
    let server = Server::start(&serve, &work, cache_dir)?;
    let at_start = resident_of(server.pid());
    let header = &workloads::samples()[0];
    let mixed: Vec<ExecutionRequest> = (0..count).map(|i| mixed_request(header, i)).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    eprintln!("first calls of each mixed policy …");
    let first = runtime.block_on(mix::first_calls(&server.socket, &mixed))?;
    let rows = measure(&args, &mixed, &server, &runtime)?;
    let after = resident_of(server.pid());
    println!("{}", table(&rows));
    if args.rounds > 1 {
        println!("{}", round_ratios(&rows));
    }
    println!(
        "{} policies served ({count} mixed + the samples); ready after {} ms",
        count + workloads::samples().len(),
        server.ready_after.as_millis(),
    );
    println!(
        "resident at start: {}; after the runs: {}",
        mib(at_start),
        mib(after)
    );
    println!(
        "first call of a policy (loads it): {:.1} ms mean, {:.1} ms max; its second call: {:.1} ms",
        first.cold_ms, first.cold_max_ms, first.warm_ms
    );
    if let Some((_, bytes)) = mix::disk_usage(&work) {
        println!(
            "the generated policies stay in {} for the next run: {:.0} MB, outside the cache's \
             limit (delete the directory to free it)",
            work.display(),
            bytes as f64 / 1e6
        );
    }
    Ok(Exit::Success)
}

fn mib(resident: Resident) -> String {
    format!(
        "{:.0} MB anonymous + {:.0} MB file-backed (PSS {:.0} MB)",
        resident.anon as f64 / 1e6,
        resident.file as f64 / 1e6,
        resident.pss as f64 / 1e6
    )
}

/// The mixed level's name in the table.
const MIXED: &str = "mixed tenants";

/// One measured row: what was sent and the result.
struct Row {
    traffic: String,
    policies: usize,
    round: u32,
    result: LoadResult,
    single: f64,
}

impl Row {
    /// This row's calls/s over the lone policy's in the same round.
    fn over_alone(&self) -> f64 {
        self.result.calls_per_second / self.single.max(f64::MIN_POSITIVE)
    }
}

/// The three levels at each `--concurrency`, `--rounds` times over.
fn measure(
    args: &BenchLoadArgs,
    mixed: &[ExecutionRequest],
    server: &Server,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for round in 1..=args.rounds {
        for &concurrency in &args.concurrency {
            rows.extend(measure_levels(
                args,
                mixed,
                server,
                runtime,
                round,
                concurrency,
            )?);
        }
    }
    Ok(rows)
}

/// The header policy alone, the four samples interleaved and the mixed
/// policies, one after the other, at `concurrency` calls in flight.
fn measure_levels(
    args: &BenchLoadArgs,
    mixed: &[ExecutionRequest],
    server: &Server,
    runtime: &tokio::runtime::Runtime,
    round: u32,
    concurrency: usize,
) -> anyhow::Result<Vec<Row>> {
    let samples = workloads::samples();
    let header = &samples[0];
    let single = [load::request(header)];
    let interleaved: Vec<ExecutionRequest> = samples.iter().map(load::request).collect();
    let of_rounds = if args.rounds > 1 {
        format!(", round {round} of {}", args.rounds)
    } else {
        String::new()
    };
    let mut rows: Vec<Row> = Vec::new();
    for (traffic, targets) in [
        ("header policy alone", &single[..]),
        ("the 4 samples interleaved", &interleaved[..]),
        (MIXED, mixed),
    ] {
        eprintln!("load: {traffic}, {concurrency} in flight{of_rounds} …");
        let level = load::Level {
            targets,
            concurrency,
            duration: Duration::from_secs(args.seconds),
            hostile_percent: 0,
            server_pid: Some(server.pid()),
        };
        let result = runtime
            .block_on(load::run_level(&server.socket, header, &level))
            .map_err(|e| anyhow::anyhow!("{traffic}: {e}"))?;
        let single = rows.first().map_or(result.calls_per_second, |r| r.single);
        rows.push(Row {
            traffic: traffic.to_string(),
            policies: targets.len(),
            round,
            result,
            single,
        });
    }
    Ok(rows)
}

/// Each round's mixed-over-alone calls/s at each concurrency, and their
/// median.
fn round_ratios(rows: &[Row]) -> String {
    let mut out = String::new();
    let mut levels: Vec<usize> = rows.iter().map(|r| r.result.concurrency).collect();
    levels.sort_unstable();
    levels.dedup();
    for concurrency in levels {
        let mut ratios: Vec<f64> = (rows.iter())
            .filter(|r| r.result.concurrency == concurrency && r.traffic == MIXED)
            .map(Row::over_alone)
            .collect();
        let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        let median = median(&mut ratios).unwrap_or(f64::NAN);
        out.push_str(&format!(
            "mixed over alone at {concurrency} in flight, round by round: {}; median {median:.2}\n",
            listed.join(", ")
        ));
    }
    out
}

/// The header workload addressed to mixed policy `index`.
fn mixed_request(header: &Workload, index: usize) -> ExecutionRequest {
    let mut request = load::request(header);
    request.policy_name = mix::policy_name(index);
    request.policy_version = mix::VERSION.to_string();
    request
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| traffic | policies | in flight | calls/s | × alone | p50 ms | p99 ms | server CPU µs/call | page faults/call | errors |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let rounds = rows.iter().map(|r| r.round).max().unwrap_or(1);
    for row in rows {
        let r = &row.result;
        let (cpu, faults) = r
            .server
            .map_or((f64::NAN, f64::NAN), |s| (s.cpu_us, s.faults));
        out.push_str(&format!(
            "| {}{} | {} | {} | {:.0} | {:.2} | {:.1} | {:.1} | {:.0} | {:.1} | {} |\n",
            row.traffic,
            if rounds > 1 {
                format!(" (round {})", row.round)
            } else {
                String::new()
            },
            row.policies,
            r.concurrency,
            r.calls_per_second,
            row.over_alone(),
            r.latency.p50 / 1000.0,
            r.latency.p99 / 1000.0,
            cpu,
            faults,
            r.errors
        ));
    }
    out
}
