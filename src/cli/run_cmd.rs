//! `policy-host run`: one call of one policy, printed as JSON. The call
//! goes through the dispatcher, as the server's calls do (input caps,
//! phase/context pairing, the same errors), on a fresh sandbox instance.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::args::RunArgs;
use super::build_cmd::builder;
use super::exit::Exit;
use super::json_io::{self, ContextFile};
use crate::cache::ArtifactCache;
use crate::contract::{CallInput, JsonObject};
use crate::dispatch::{LoadedPolicy, call_once, load_policy};
use crate::sandbox::{EngineOptions, LimitOverrides, Limits, SandboxEngine};

fn print(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialize")
    );
}

/// A failure before the call: its `error.type` and message.
type Refusal = (&'static str, String);

fn fail((error_type, message): Refusal) -> anyhow::Result<Exit> {
    print(&json_io::error_json(error_type, &message));
    Ok(Exit::Failed)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T, Refusal> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        (
            "invalid_request",
            format!("reading {what} {}: {e}", path.display()),
        )
    })?;
    serde_json::from_str(&text)
        .map_err(|e| ("invalid_request", format!("{what} {}: {e}", path.display())))
}

/// Runs the call; see [`super::args::Command::Run`].
pub fn run(args: RunArgs, cache_dir: &Path) -> anyhow::Result<Exit> {
    let input = match read_input(&args) {
        Ok(input) => input,
        Err(refusal) => return fail(refusal),
    };
    let cache = ArtifactCache::open(cache_dir)
        .map_err(|e| anyhow::anyhow!("opening the artifact cache {}: {e}", cache_dir.display()))?;
    let engine = SandboxEngine::new(EngineOptions {
        max_concurrent_calls: 1,
        ..Default::default()
    })
    .map_err(|e| anyhow::anyhow!("creating the Wasmtime engine: {e:#}"))?;
    let loaded = match load(&args, &cache, &engine) {
        Ok(loaded) => loaded,
        Err(refusal) => return fail(refusal),
    };
    let served_as = (
        loaded.manifest.name.as_str(),
        loaded.manifest.version.as_str(),
    );
    match call_once(Arc::new(engine), served_as, loaded.policy, input) {
        Ok(output) => {
            print(&json_io::output_json(&output));
            Ok(Exit::Success)
        }
        Err(error) => {
            print(&json_io::call_error_json(&error));
            Ok(Exit::Failed)
        }
    }
}

/// The context and params files as the call's input.
fn read_input(args: &RunArgs) -> Result<CallInput, Refusal> {
    let context: ContextFile = read_json(&args.context, "context file")?;
    let params: JsonObject = match args.params.as_deref() {
        None => JsonObject::new(),
        Some(path) => read_json(path, "params file")?,
    };
    context
        .into_input(args.phase, params)
        .map_err(|message| ("invalid_request", message))
}

/// The policy, built first when `args.policy` is a source directory.
fn load(
    args: &RunArgs,
    cache: &ArtifactCache,
    engine: &SandboxEngine,
) -> Result<LoadedPolicy, Refusal> {
    let wasm = if args.policy.is_dir() {
        let report = |line: &str| eprintln!("{}: {line}", args.policy.display());
        builder(&args.toolchain, cache)
            .build(&args.policy, &report)
            .map_err(|error| ("build_error", error.to_string()))?
            .wasm
    } else {
        std::fs::read(&args.policy)
            .map_err(|error| ("load_error", format!("{}: {error}", args.policy.display())))?
    };
    let forced = LimitOverrides {
        memory_mib: args.memory_mib,
        fuel: args.fuel,
        timeout_ms: args.timeout_ms,
    };
    let shown = args.policy.display().to_string();
    load_policy(engine, cache, &wasm, &shown, Limits::default(), forced)
        .map_err(|error| ("load_error", error.to_string()))
}
