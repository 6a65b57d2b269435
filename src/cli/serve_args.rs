//! `serve`'s command line.

use std::path::PathBuf;

use clap::Args;

use crate::dispatch::DEFAULT_WAKE_SLICE;

/// `serve` arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Unix socket to listen on (parent directories are created; a stale
    /// socket file is replaced; a live server's socket is never taken).
    #[arg(
        long,
        env = "PYTHON_EXECUTOR_SOCKET",
        default_value = "/var/run/api-platform/python-executor.sock"
    )]
    pub socket: PathBuf,

    /// Directory of built components (`policy-host build --out`).
    #[arg(long, value_name = "DIR", default_value = "build/policies")]
    pub policies: PathBuf,

    /// Also listen on TCP, e.g. 127.0.0.1:50051.
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<std::net::SocketAddr>,

    /// Serve only grpc.health.v1 on TCP, e.g. 0.0.0.0:8081, for Kubernetes
    /// gRPC probes; the executor itself stays on the Unix socket.
    #[arg(long, value_name = "HOST:PORT")]
    pub health_listen: Option<std::net::SocketAddr>,

    /// Sandbox worker threads: calls that run at the same time, server-wide.
    #[arg(long, env = "PYTHON_POLICY_WORKERS", default_value_t = 4)]
    pub workers: usize,

    /// Memory slots kept beyond the ones calls use at once. An idle slot
    /// keeps the memory image of the policy that ran in it last mapped, so
    /// that policy's next call maps nothing again: size it to the number of
    /// policies that are called often. Costs address space (~4 GiB each,
    /// never resident) and the pages each slot keeps resident between calls.
    /// Default: 256, or a quarter more than the components in --policies at
    /// start when there are more (with fewer slots than busy policies every
    /// call maps its image again: ~200 page faults per call).
    #[arg(long, value_name = "SLOTS")]
    pub warm_memory_slots: Option<u32>,

    /// Policies kept loaded at most. Serving starts as soon as every
    /// component's manifest is read; the policies then load in the
    /// background, and a call to one not loaded yet (or unloaded as the
    /// least recently used past this bound) waits for its load, ~40 ms.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_resident_policies: usize,

    /// Do not load policies in the background after start: each loads on
    /// its first call.
    #[arg(long)]
    pub no_preload: bool,

    /// Do not instantiate ahead. By default a worker with nothing queued
    /// instantiates a fresh instance of the policy likely called next (judged
    /// from the last 64 calls: the policy of a loop, the next of policies
    /// called in turn, a hot tenant), so that call skips instantiation
    /// (every call still gets a never-used instance; under load nothing is
    /// made ahead).
    #[arg(long)]
    pub no_make_ahead: bool,

    /// Time slice, in microseconds, that an idle worker asks the kernel for
    /// while the load is light (at least two other workers idle), so that
    /// it runs at once when a call wakes it instead of waiting behind
    /// another worker's after-call work. Needs Linux 6.12 or later (on older
    /// kernels it has no effect); 0 keeps the kernel's default slice.
    #[arg(long, value_name = "MICROSECONDS", default_value_t = DEFAULT_WAKE_SLICE.as_micros() as u64)]
    pub wake_slice_us: u64,

    /// Calls in flight per stream; past it, reading from the stream pauses.
    #[arg(long, env = "PYTHON_POLICY_MAX_CONCURRENT", default_value_t = 100)]
    pub max_concurrent: usize,

    /// Largest response sent; a bigger result becomes an ExecutionError
    /// (the Go client reads at most 4 MiB per message by default).
    #[arg(long, value_name = "BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_response_bytes: usize,

    /// Largest total body a request may carry.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Most header entries a request may carry.
    #[arg(long, default_value_t = 1024)]
    pub max_headers: usize,

    /// Largest params + shared metadata, as JSON bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_json_bytes: usize,

    /// Default memory cap per call, MiB (a policy's limits: block overrides it).
    #[arg(long, value_name = "MIB")]
    pub memory_mib: Option<u64>,

    /// Default fuel budget per call.
    #[arg(long)]
    pub fuel: Option<u64>,

    /// Default deadline per call, ms.
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,

    /// How long in-flight calls may take to finish after SIGTERM.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub grace_ms: u64,

    /// What the operator bounds and observes.
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// `serve` arguments for operating a multi-tenant host: ceilings, queue
/// bound, circuit breaker, metrics and reload.
#[derive(Debug, Args)]
#[command(next_help_heading = "Operating")]
pub struct OperatorArgs {
    /// Serve Prometheus metrics (OpenMetrics text) at http://HOST:PORT/metrics.
    #[arg(long, value_name = "HOST:PORT", env = "POLICY_HOST_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// Calls that may wait for a worker, server-wide; past it a call is
    /// answered `overloaded` at once. Default: 256 per worker.
    #[arg(long, value_name = "N")]
    pub max_queued: Option<usize>,

    /// The most memory, MiB, a policy's limits: block may ask for; a policy
    /// asking more gets this, with a warning naming it.
    #[arg(long, value_name = "MIB")]
    pub max_memory_mib: Option<u64>,

    /// The most fuel a policy's limits: block may ask for.
    #[arg(long, value_name = "UNITS")]
    pub max_fuel: Option<u64>,

    /// The longest deadline, ms, a policy's limits: block may ask for.
    #[arg(long, value_name = "MS")]
    pub max_timeout_ms: Option<u64>,

    /// Calls in a row hitting sandbox limits (timeout, fuel, memory, trap)
    /// that open a policy's circuit breaker; 0 turns breakers off. A
    /// policy's limits: block may lower it.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub breaker_failures: u32,

    /// The failures must fall within this window, ms.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub breaker_window_ms: u64,

    /// How long an open breaker refuses calls (`circuit_open`) before one
    /// trial call decides, ms. A policy's limits: block may lengthen it.
    #[arg(long, value_name = "MS", default_value_t = 5_000)]
    pub breaker_cooldown_ms: u64,

    /// Count a policy's own exceptions as breaker failures too.
    #[arg(long)]
    pub breaker_count_raises: bool,

    /// Do not watch --policies for changes (SIGHUP still reloads).
    #[arg(long)]
    pub no_watch: bool,

    /// How long the directory must be quiet before a change is reloaded, ms.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub watch_debounce_ms: u64,
}
