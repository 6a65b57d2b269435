//! The `bench` subcommands' arguments.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::args::ToolchainArgs;

/// `bench` modes.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// In-process: per sample policy, fresh instance vs reused instance vs
    /// native CPython, at 1 and 2 threads.
    Inproc(BenchInprocArgs),
    /// End to end over the Unix socket of a running server.
    Load(BenchLoadArgs),
    /// The dispatcher's bookkeeping around one call (breaker, metrics,
    /// failure log), in nanoseconds, with metrics on and off.
    Observe {
        /// Calls observed per configuration.
        #[arg(long, default_value_t = 2_000_000)]
        calls: usize,
    },
}

/// `bench inproc` arguments.
#[derive(Debug, Args)]
pub struct BenchInprocArgs {
    /// Built sample components (`make wasm-python`).
    #[arg(long, value_name = "DIR", default_value = "build/policies")]
    pub policies: PathBuf,

    /// The sample policy sources (for the native reference).
    #[arg(long, value_name = "DIR", default_value = "sample-policies")]
    pub sources: PathBuf,

    /// Calls per thread per configuration.
    #[arg(long, default_value_t = 2000)]
    pub calls: usize,

    /// Only policies whose name contains this.
    #[arg(long)]
    pub only: Option<String>,

    /// Skip the native CPython reference.
    #[arg(long)]
    pub no_native: bool,

    /// Skip the reused-instance floor.
    #[arg(long)]
    pub no_reused: bool,

    /// Skip the made-ahead mode (critical path on an instance made just
    /// before the call). With --no-reused, only the fresh path runs: handy
    /// under a profiler.
    #[arg(long)]
    pub no_ahead: bool,

    /// Thread counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: Vec<u16>,

    /// Body sizes in KiB, comma-separated: run the body policies (the
    /// validator and the JSON transform) once per size on a generated JSON
    /// request body of about that size, instead of the samples' small inputs.
    /// 0 sends an empty JSON object.
    #[arg(long, value_name = "KIB", value_delimiter = ',')]
    pub body_kib: Vec<usize>,

    /// Python for the native reference.
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,

    /// Toolchain options (to install requirements for the native reference).
    #[command(flatten)]
    pub toolchain: ToolchainArgs,
}

/// `bench load` arguments.
#[derive(Debug, Args)]
pub struct BenchLoadArgs {
    /// The server's Unix socket.
    #[arg(
        long,
        env = "PYTHON_EXECUTOR_SOCKET",
        default_value = "build/policy-host.sock"
    )]
    pub socket: PathBuf,

    /// Calls in flight, one level per value.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub concurrency: Vec<usize>,

    /// Seconds measured per level (after 1 s of warm-up).
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,

    /// Sample policy to call.
    #[arg(long, default_value = "add-python-header")]
    pub policy: String,

    /// Add a JSON request body of this many KiB.
    #[arg(long, value_name = "KIB")]
    pub body_kib: Option<usize>,

    /// Percent of requests sent to the hostile `noisy-neighbour` policy
    /// (infinite loops and memory bombs, alternating); latency is reported
    /// for the normal requests only.
    #[arg(long, value_name = "PERCENT", default_value_t = 0)]
    pub hostile_percent: u32,

    /// Ask for a version of the policy that the server does not have. The
    /// dispatcher answers every call with an error and runs no sandbox, so
    /// the result measures the gRPC transport and this client alone.
    #[arg(long)]
    pub transport_only: bool,

    /// The server's pid: report its CPU time and page faults per call,
    /// read from /proc over each measured window.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// Many tenants: generate N distinct copies of the header policy, build
    /// them once (kept in the cache directory's `bench-mix/`, ~24 MB each
    /// and outside the cache's size limit: `cache info` shows them), start
    /// a server of our own on them and the samples, and compare calls
    /// spread evenly over the N with the header policy alone on the same
    /// server (the server's CPU time and page faults per call are read from
    /// /proc). `--socket` is not used.
    #[arg(long, value_name = "N")]
    pub mix: Option<usize>,

    /// With `--mix`: measure the levels this many times in turn on the
    /// same server, then print each round's mixed-over-alone ratio and
    /// their median. One round's ratio moves by ±0.1 with this kind of
    /// VM's drift; the median of several is the figure to compare.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,

    /// With `--mix`: the built sample components served beside the copies.
    #[arg(long, value_name = "DIR", default_value = "build/policies")]
    pub policies: PathBuf,

    /// With `--mix`: the sample sources the copies are made from.
    #[arg(long, value_name = "DIR", default_value = "sample-policies")]
    pub sources: PathBuf,
}
