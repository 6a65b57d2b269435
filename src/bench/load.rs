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
fn hostile_request(attack: &str, workload: &Workload) -> Request {
    let mut input = workload.input.clone();
    input.phase = crate::contract::Phase::OnRequest;
    if !matches!(input.exchange, crate::contract::Exchange::Request(_)) {
        input.exchange = crate::contract::Exchange::Request(Default::default());
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

type Request = crate::transport::proto::ExecutionRequest;

/// The requests one level sends, each with a fresh id, and when each went.
struct Requests<'a> {
    targets: &'a [Request],
    hostile: [Request; 2],
    hostile_every: u64,
    next_id: u64,
    sent_at: HashMap<String, Instant>,
}

impl<'a> Requests<'a> {
    fn new(targets: &'a [Request], workload: &Workload, hostile_percent: u32) -> Self {
        Requests {
            targets,
            hostile: [
                hostile_request("loop", workload),
                hostile_request("bomb", workload),
            ],
            hostile_every: match hostile_percent {
                0 => u64::MAX,
                percent => (100 / u64::from(percent)).max(1),
            },
            next_id: 0,
            sent_at: HashMap::new(),
        }
    }

    /// The next request: a hostile one every `hostile_every`-th (ids
    /// starting with `h`), else the next target in turn.
    fn next(&mut self) -> Request {
        self.next_id += 1;
        let id = self.next_id;
        let is_hostile = id.is_multiple_of(self.hostile_every);
        let mut request = if is_hostile {
            self.hostile[((id / self.hostile_every) % 2) as usize].clone()
        } else {
            self.targets[(id % self.targets.len() as u64) as usize].clone()
        };
        request.request_id = if is_hostile {
            format!("h{id}")
        } else {
            id.to_string()
        };
        self.sent_at
            .insert(request.request_id.clone(), Instant::now());
        request
    }

    /// When the request `id` answers was sent.
    fn sent(&mut self, id: &str) -> Result<Instant, &'static str> {
        self.sent_at
            .remove(id)
            .ok_or("response for an unknown request id")
    }
}

/// What one level has counted so far: nothing during the one-second
/// warm-up, then every answer until `duration` has passed.
struct Tally {
    warm_until: Instant,
    duration: Duration,
    server_pid: Option<u32>,
    measuring_since: Option<Instant>,
    server_before: Usage,
    answered: usize,
    samples: Vec<Duration>,
    errors: usize,
    hostile_answered: usize,
}

impl Tally {
    fn new(duration: Duration, server_pid: Option<u32>) -> Self {
        Tally {
            warm_until: Instant::now() + Duration::from_secs(1),
            duration,
            server_pid,
            measuring_since: None,
            server_before: Usage::default(),
            answered: 0,
            samples: Vec::new(),
            errors: 0,
            hostile_answered: 0,
        }
    }

    /// Counts `response` (sent at `started`); false once the measured
    /// window is over.
    fn record(
        &mut self,
        response: crate::transport::proto::ExecutionResponse,
        started: Instant,
    ) -> bool {
        let now = Instant::now();
        if now < self.warm_until {
            return true;
        }
        let server_pid = self.server_pid;
        let before = &mut self.server_before;
        let since = *self.measuring_since.get_or_insert_with(|| {
            *before = server_pid.map(usage_of).unwrap_or_default();
            now
        });
        if now - since >= self.duration {
            return false;
        }
        self.answered += 1;
        if response.request_id.starts_with('h') {
            self.hostile_answered += 1;
        } else {
            self.samples.push(now - started);
            if matches!(decode_response(response), WireOutcome::Failed(_)) {
                self.errors += 1;
            }
        }
        true
    }

    fn result(mut self, concurrency: usize, hostile_percent: u32) -> LoadResult {
        let elapsed = self
            .measuring_since
            .map_or(self.duration, |since| since.elapsed());
        let server = self
            .server_pid
            .map(|pid| ServerCost::between(self.server_before, usage_of(pid), self.answered));
        let calls = self.samples.len();
        LoadResult {
            concurrency,
            hostile_percent,
            hostile_answered: self.hostile_answered,
            calls,
            errors: self.errors,
            calls_per_second: calls as f64 / elapsed.as_secs_f64(),
            latency: percentiles(&mut self.samples),
            server,
        }
    }
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
    if level.targets.is_empty() {
        return Err("no requests to send".into());
    }
    let mut client = connect_unix(socket).await?;
    let (sender, receiver) = mpsc::channel(level.concurrency * 2);
    let mut responses = client
        .execute_stream(ReceiverStream::new(receiver))
        .await?
        .into_inner();
    let mut requests = Requests::new(level.targets, workload, level.hostile_percent);
    for _ in 0..level.concurrency {
        sender.send(requests.next()).await?;
    }
    let mut tally = Tally::new(level.duration, level.server_pid);
    while let Some(response) = responses.message().await? {
        let started = requests.sent(&response.request_id)?;
        if !tally.record(response, started) {
            break;
        }
        sender.send(requests.next()).await?;
    }
    Ok(tally.result(level.concurrency, level.hostile_percent))
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
