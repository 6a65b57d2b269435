//! End-to-end load over the Unix socket: one stream per client keeps a fixed
//! number of calls in flight (closed loop) for a fixed time.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::stats::{Percentiles, Usage, percentiles, usage_of};
use super::workloads::Workload;
use crate::transport::client::{WireOutcome, connect_unix, decode_response, request_to_proto};

/// One load level's result.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Calls kept in flight.
    pub concurrency: usize,
    /// Percent of requests that were hostile.
    pub hostile_percent: u32,
    /// Hostile requests answered (each with an error).
    pub hostile_answered: usize,
    /// Calls answered in the measured window.
    pub calls: usize,
    /// Answered with an error.
    pub errors: usize,
    /// Calls per second.
    pub calls_per_second: f64,
    /// Latency from send to response.
    pub latency: Percentiles,
    /// The server's CPU time and page faults per answered call, when its
    /// process could be watched.
    pub server: Option<ServerCost>,
}

/// What the server process spent per answered call in the measured window.
#[derive(Debug, Clone, Copy)]
pub struct ServerCost {
    /// User plus system CPU, microseconds.
    pub cpu_us: f64,
    /// Minor plus major page faults.
    pub faults: f64,
}

impl ServerCost {
    fn between(before: Usage, after: Usage, calls: usize) -> ServerCost {
        let spent = after - before;
        let calls = calls.max(1) as f64;
        ServerCost {
            cpu_us: spent.cpu_us / calls,
            faults: spent.faults as f64 / calls,
        }
    }
}

/// What one level sends: the normal requests, taken in turn, and the
/// server to watch.
pub struct Level<'a> {
    /// The normal requests, sent round-robin.
    pub targets: &'a [crate::transport::proto::ExecutionRequest],
    /// Calls kept in flight.
    pub concurrency: usize,
    /// Measured time, after a one-second warm-up.
    pub duration: Duration,
    /// Percent of requests sent to the hostile policy instead.
    pub hostile_percent: u32,
    /// The server's process, to read its CPU time and page faults.
    pub server_pid: Option<u32>,
}

/// The hostile request: an infinite loop or a 500 MiB allocation.
fn hostile_request(attack: &str, workload: &Workload) -> crate::transport::proto::ExecutionRequest {
    let mut input = workload.input.clone();
    input.phase = crate::call::Phase::OnRequest;
    if !matches!(input.exchange, crate::call::Exchange::Request(_)) {
        input.exchange = crate::call::Exchange::Request(Default::default());
    }
    input.params = serde_json::json!({ "do": attack })
        .as_object()
        .cloned()
        .unwrap_or_default();
    request_to_proto("", "noisy-neighbour", "v1", &input)
}

/// The request `workload` sends.
pub fn request(workload: &Workload) -> crate::transport::proto::ExecutionRequest {
    request_to_proto("", workload.policy, workload.version, &workload.input)
}

/// Drives `level.concurrency` calls in flight on one stream for
/// `level.duration` (after a one-second warm-up). Every
/// `100 / hostile_percent`-th request goes to the hostile policy instead
/// (loops and memory bombs, alternating); those are counted, not timed.
pub async fn run_level(
    socket: &Path,
    workload: &Workload,
    level: &Level<'_>,
) -> Result<LoadResult, Box<dyn std::error::Error>> {
    let Level {
        targets,
        concurrency,
        duration,
        hostile_percent,
        server_pid,
    } = *level;
    if targets.is_empty() {
        return Err("no requests to send".into());
    }
    let mut client = connect_unix(socket).await?;
    let (sender, receiver) = mpsc::channel(concurrency * 2);
    let mut responses = client
        .execute_stream(ReceiverStream::new(receiver))
        .await?
        .into_inner();
    let hostile = [
        hostile_request("loop", workload),
        hostile_request("bomb", workload),
    ];
    let hostile_every = match hostile_percent {
        0 => u64::MAX,
        percent => (100 / u64::from(percent)).max(1),
    };
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    let mut next_id = 0u64;
    let mut send = |sent_at: &mut HashMap<String, Instant>| {
        next_id += 1;
        let is_hostile = next_id.is_multiple_of(hostile_every);
        let mut request = if is_hostile {
            hostile[((next_id / hostile_every) % 2) as usize].clone()
        } else {
            targets[(next_id % targets.len() as u64) as usize].clone()
        };
        request.request_id = if is_hostile {
            format!("h{next_id}")
        } else {
            next_id.to_string()
        };
        sent_at.insert(request.request_id.clone(), Instant::now());
        request
    };
    for _ in 0..concurrency {
        sender.send(send(&mut sent_at)).await?;
    }
    let warm_until = Instant::now() + Duration::from_secs(1);
    let mut measuring_since = None;
    let mut server_before = Usage::default();
    let mut answered = 0;
    let mut samples = Vec::new();
    let mut errors = 0;
    let mut hostile_answered = 0;
    while let Some(response) = responses.message().await? {
        let now = Instant::now();
        let started = sent_at
            .remove(&response.request_id)
            .ok_or("response for an unknown request id")?;
        if now >= warm_until {
            let since = *measuring_since.get_or_insert_with(|| {
                server_before = server_pid.map(usage_of).unwrap_or_default();
                now
            });
            if now - since >= duration {
                break;
            }
            answered += 1;
            if response.request_id.starts_with('h') {
                hostile_answered += 1;
            } else {
                samples.push(now - started);
                if matches!(decode_response(response), WireOutcome::Failed(_)) {
                    errors += 1;
                }
            }
        }
        sender.send(send(&mut sent_at)).await?;
    }
    let elapsed = measuring_since.map_or(duration, |since| since.elapsed());
    let server = server_pid.map(|pid| ServerCost::between(server_before, usage_of(pid), answered));
    let calls = samples.len();
    Ok(LoadResult {
        concurrency,
        hostile_percent,
        hostile_answered,
        calls,
        errors,
        calls_per_second: calls as f64 / elapsed.as_secs_f64(),
        latency: percentiles(&mut samples),
        server,
    })
}

/// A Markdown table of load results.
pub fn table(policy: &str, body: &str, results: &[LoadResult]) -> String {
    let mut out = String::from(
        "| policy | body | hostile % | in flight | normal calls/s | p50 µs | p90 µs | p99 µs | errors | hostile answered |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        out.push_str(&format!(
            "| {policy} | {body} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} |\n",
            r.hostile_percent,
            r.concurrency,
            r.calls_per_second,
            r.latency.p50,
            r.latency.p90,
            r.latency.p99,
            r.errors,
            r.hostile_answered
        ));
    }
    out
}
