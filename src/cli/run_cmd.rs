//! `policy-host run`: one call of one policy, printed as JSON.

use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

use super::args::RunArgs;
use super::build_cmd::builder;
use super::json_io::{self, ContextFile};
use crate::cache::ArtifactCache;
use crate::call::JsonObject;
use crate::dispatch::load_policy;
use crate::sandbox::{EngineOptions, LimitOverrides, Limits, SandboxEngine};

fn print(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialize")
    );
}

fn fail(error_type: &str, message: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    print(&json_io::error_json(error_type, &message.to_string()));
    Ok(ExitCode::FAILURE)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading {what} {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{what} {}: {e}", path.display()))
}

/// Runs the call; see [`super::args::Command::Run`].
pub fn run(args: RunArgs, cache_dir: &Path) -> anyhow::Result<ExitCode> {
    let context: ContextFile = match read_json(&args.context, "context file") {
        Ok(context) => context,
        Err(message) => return fail("invalid_request", message),
    };
    let params: JsonObject = match args.params.as_deref().map(|p| read_json(p, "params file")) {
        None => JsonObject::new(),
        Some(Ok(params)) => params,
        Some(Err(message)) => return fail("invalid_request", message),
    };
    let input = match context.into_input(args.phase, params) {
        Ok(input) => input,
        Err(message) => return fail("invalid_request", message),
    };
    let cache = ArtifactCache::open(cache_dir)
        .map_err(|e| anyhow::anyhow!("opening the artifact cache {}: {e}", cache_dir.display()))?;
    let wasm = if args.policy.is_dir() {
        let report = |line: &str| eprintln!("{}: {line}", args.policy.display());
        match builder(&args.toolchain, &cache).build(&args.policy, &report) {
            Ok(built) => built.wasm,
            Err(error) => return fail("build_error", error),
        }
    } else {
        match std::fs::read(&args.policy) {
            Ok(wasm) => wasm,
            Err(error) => return fail("load_error", format!("{}: {error}", args.policy.display())),
        }
    };
    let engine = SandboxEngine::new(EngineOptions {
        max_concurrent_calls: 1,
        ..Default::default()
    })
    .map_err(|e| anyhow::anyhow!("creating the Wasmtime engine: {e:#}"))?;
    let forced = LimitOverrides {
        memory_mib: args.memory_mib,
        fuel: args.fuel,
        timeout_ms: args.timeout_ms,
    };
    let shown = args.policy.display().to_string();
    let loaded = match load_policy(&engine, &cache, &wasm, &shown, Limits::default(), forced) {
        Ok(loaded) => loaded,
        Err(error) => return fail("load_error", error),
    };
    match loaded.policy.call(&engine, input) {
        Ok(output) => {
            print(&json_io::output_json(&output));
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            print(&json_io::call_error_json(&error));
            Ok(ExitCode::FAILURE)
        }
    }
}
