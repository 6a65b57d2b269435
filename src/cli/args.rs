//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::call::Phase;

/// Runs third-party Python gateway policies, each call in a fresh
/// WebAssembly sandbox with memory, fuel and deadline limits.
///
/// Typical use: `policy-host build sample-policies/* --out build/policies`,
/// then `policy-host serve --policies build/policies`; try one policy
/// without a gateway with `policy-host run <dir> --phase on_request
/// --context ctx.json`.
#[derive(Debug, Parser)]
#[command(name = "policy-host", version, about, long_about)]
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
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Artifact cache (built components and compiled code). Default:
    /// $POLICY_HOST_CACHE_DIR, else $XDG_CACHE_HOME/policy-host, else
    /// ~/.cache/policy-host.
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
        .map_err(|error: crate::call::UnknownPhase| error.to_string())
}
