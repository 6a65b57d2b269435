//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use super::serve_args::ServeArgs;
use crate::contract::Phase;

/// Runs third-party Python gateway policies, each call in a fresh
/// WebAssembly sandbox with memory, fuel and deadline limits.
///
/// Typical use: `policy-host build sample-policies/* --out build/policies`,
/// then `policy-host serve --policies build/policies`; try one policy
/// without a gateway with `policy-host run <dir> --phase on_request
/// --context ctx.json`.
#[derive(Debug, Parser)]
#[command(name = "policy-host", version, about, long_about, after_help = super::exit::help())]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// Options every subcommand shares.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Options shared by every subcommand.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Log level: debug, info, warn or error.
    #[arg(long, global = true, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Log line format.
    #[arg(long, global = true, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Artifact cache (built components and compiled code). Default:
    /// $POLICY_HOST_CACHE_DIR, else $XDG_CACHE_HOME/policy-host, else
    /// ~/.cache/policy-host. Kept under $POLICY_HOST_CACHE_MAX_MIB (default
    /// 10240): a write that goes over removes the least recently used
    /// artifacts.
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build policy directories into WebAssembly components.
    ///
    /// Each directory (policy.py, policy-definition.yaml, requirements.txt)
    /// becomes <name>-<version>.wasm: CPython with the SDK, the policy and its
    /// pure-Python requirements pre-imported. The component is also compiled
    /// for this host and cached, so the server starts without recompiling.
    Build(BuildArgs),
    /// Run one call of a policy in the sandbox, without a gateway.
    ///
    /// Prints {"action": …, "updated_metadata": …, "stats": …} and exits 0,
    /// or {"error": {"type": …, "message": …}} and exits 1.
    Run(RunArgs),
    /// Serve the gateway's gRPC contract on a Unix socket.
    ///
    /// Loads every component in --policies at start (compiled code comes from
    /// the artifact cache), then answers ExecuteStream and HealthCheck (plus
    /// grpc.health.v1.Health). Each call runs in a fresh sandbox on one of
    /// --workers threads. SIGTERM/SIGINT: stop accepting, finish in-flight
    /// calls (up to --grace-ms), remove the socket, exit 0. SIGHUP, or a
    /// change in --policies, reloads the policies without dropping a call.
    /// A flag given twice takes its last value.
    #[command(args_override_self = true)]
    Serve(ServeArgs),
    /// Send one call to a running server and print the response.
    Call(CallArgs),
    /// Measure what calls cost (benchmarks; see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Show or shrink the artifact cache (built components, compiled code).
    #[command(subcommand)]
    Cache(CacheCommand),
}

/// `cache` actions.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Where the cache is, its limit, and what it holds.
    Info,
    /// Remove the least recently used artifacts until the cache fits
    /// --max-mib (default: its limit, $POLICY_HOST_CACHE_MAX_MIB or 10240).
    /// A running server keeps what it has loaded; a removed artifact is
    /// rebuilt or recompiled when next needed.
    Prune(CachePruneArgs),
}

/// `cache prune` arguments.
#[derive(Debug, Args)]
pub struct CachePruneArgs {
    /// Shrink the cache to at most this many MiB (0 removes every artifact).
    #[arg(long, value_name = "MIB")]
    pub max_mib: Option<u64>,
}

pub use super::bench_args::{BenchCommand, BenchInprocArgs, BenchLoadArgs};

/// `call` arguments.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// The server's Unix socket.
    #[arg(
        long,
        env = "PYTHON_EXECUTOR_SOCKET",
        default_value = "/var/run/api-platform/python-executor.sock"
    )]
    pub socket: PathBuf,

    /// Policy name.
    #[arg(long)]
    pub policy: String,

    /// Policy version (falls back to its major version on the server).
    #[arg(long)]
    pub version: String,

    /// Phase: on_request or on_response.
    #[arg(long)]
    pub phase: String,

    /// JSON context file, as for `run`.
    #[arg(long, value_name = "FILE")]
    pub context: PathBuf,

    /// JSON params file.
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,

    /// The request id to send.
    #[arg(long, default_value = "policy-host-call")]
    pub request_id: String,
}

/// Toolchain options for subcommands that build.
#[derive(Debug, Args)]
pub struct ToolchainArgs {
    /// Virtualenv holding the pinned componentize-py (created on first use).
    /// Default: $POLICY_HOST_TOOLCHAIN_DIR, else wasm-python/.venv in the
    /// source tree.
    #[arg(long, value_name = "DIR")]
    pub toolchain: Option<PathBuf>,

    /// Build from scratch even when the cache has an identical build.
    #[arg(long)]
    pub rebuild: bool,

    /// Longest a policy's build may take, in seconds. A policy that loops
    /// while being imported fails the build with a clear error instead of
    /// hanging it. (The build-time warm-up of the handler has its own 10 s
    /// bound; past it the policy is built without the warm-up.)
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub build_timeout: u64,

    /// Leave the snapshot's Python objects mortal: every call then writes
    /// the reference counts of the objects it uses, and each fresh
    /// instance's reset copies those pages back. Slower; for A/B
    /// measurements of the immortal snapshot (docs/guest.md).
    #[arg(long)]
    pub mortal_snapshot: bool,
}

/// `build` arguments.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Policy directories to build.
    #[arg(required = true, value_name = "POLICY_DIR")]
    pub dirs: Vec<PathBuf>,

    /// Where to write the components.
    #[arg(long, short, value_name = "DIR", default_value = "build/policies")]
    pub out: PathBuf,

    /// Toolchain options.
    #[command(flatten)]
    pub toolchain: ToolchainArgs,
}

/// `run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A policy directory (built first, from cache when unchanged) or a
    /// built component (.wasm).
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,

    /// The phase to call.
    #[arg(long, value_parser = parse_phase)]
    pub phase: Phase,

    /// JSON file with the context, in the SDK's field names (headers, path,
    /// method, body, … or request_headers, response_body, …; plus shared).
    /// A body is a UTF-8 string or {"base64": "…"}.
    #[arg(long, value_name = "FILE")]
    pub context: PathBuf,

    /// JSON file with the policy's params object.
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,

    /// Override the memory cap (MiB) for this run.
    #[arg(long, value_name = "MIB")]
    pub memory_mib: Option<u64>,

    /// Override the fuel budget for this run.
    #[arg(long)]
    pub fuel: Option<u64>,

    /// Override the deadline (ms) for this run.
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,

    /// Toolchain options.
    #[command(flatten)]
    pub toolchain: ToolchainArgs,
}

fn parse_phase(text: &str) -> Result<Phase, String> {
    text.parse()
        .map_err(|error: crate::contract::UnknownPhase| error.to_string())
}
