//! End-to-end load over the Unix socket: one stream per client keeps a fixed
//! number of calls in flight (closed loop) for a fixed time.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::stats::{Percentiles, percentiles};
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

/// Drives `concurrency` calls in flight on one stream for `duration` (after
/// a one-second warm-up). Every `100 / hostile_percent`-th request goes to
/// the hostile policy instead (loops and memory bombs, alternating); those
/// are counted, not timed.
pub async fn run_level(
    socket: &Path,
    workload: &Workload,
    concurrency: usize,
    duration: Duration,
    hostile_percent: u32,
) -> Result<LoadResult, Box<dyn std::error::Error>> {
    let mut client = connect_unix(socket).await?;
    let (sender, receiver) = mpsc::channel(concurrency * 2);
    let mut responses = client
        .execute_stream(ReceiverStream::new(receiver))
        .await?
        .into_inner();
    let normal = request_to_proto("", workload.policy, workload.version, &workload.input);
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
            normal.clone()
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
    let mut samples = Vec::new();
    let mut errors = 0;
    let mut hostile_answered = 0;
    while let Some(response) = responses.message().await? {
        let now = Instant::now();
        let started = sent_at
            .remove(&response.request_id)
            .ok_or("response for an unknown request id")?;
        if now >= warm_until {
            let since = *measuring_since.get_or_insert(now);
            if now - since >= duration {
                break;
            }
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
    let calls = samples.len();
    Ok(LoadResult {
        concurrency,
        hostile_percent,
        hostile_answered,
        calls,
        errors,
        calls_per_second: calls as f64 / elapsed.as_secs_f64(),
        latency: percentiles(&mut samples),
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
