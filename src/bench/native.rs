//! The native CPython reference: the same policy and inputs, run by the
//! host's `python3` (the process the product replaces ran policies this way).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::inproc::Measurement;
use super::stats::Percentiles;
use crate::contract::sdk_json::sdk_view;

/// The driver script, embedded so the bench works from any directory.
const DRIVER: &str = include_str!("../../wasm-python/bench_native.py");

#[derive(Deserialize)]
struct NativeResult {
    p50_us: f64,
    p90_us: f64,
    p99_us: f64,
    cpu_us_per_call: f64,
    calls_per_second: f64,
}

/// Runs `calls` calls of the policy in `policy_dir` under native CPython.
/// `deps` holds the policy's requirements installed for the host Python.
pub fn run_native(
    python: &Path,
    policy_dir: &Path,
    sdk_root: &Path,
    deps: &Path,
    workload: &super::workloads::Workload,
    calls: usize,
) -> Result<Measurement, String> {
    let spec = serde_json::json!({
        "policy_dir": policy_dir,
        "sdk_root": sdk_root,
        "deps": deps,
        "phase": workload.input.phase.as_str(),
        "context": sdk_view(&workload.input),
        "params": workload.input.params,
        "calls": calls,
    });
    // The spec goes on standard input: with a body of a few hundred KiB it
    // would pass the kernel's limit on one argument.
    let output = spawn_with_input(python, spec.to_string().as_bytes())
        .map_err(|e| format!("running {}: {e}", python.display()))?;
    if !output.status.success() {
        return Err(format!(
            "native benchmark failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let result: NativeResult = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("native benchmark output: {e}"))?;
    Ok(Measurement {
        policy: workload.policy.to_string(),
        mode: "native",
        threads: 1,
        calls,
        latency: Percentiles {
            p50: result.p50_us,
            p90: result.p90_us,
            p99: result.p99_us,
        },
        cpu_us_per_call: result.cpu_us_per_call,
        calls_per_second: result.calls_per_second,
        faults_per_call: 0.0,
        instantiate_p50_us: None,
    })
}

/// Runs the driver under `python` with `input` on its standard input.
fn spawn_with_input(python: &Path, input: &[u8]) -> std::io::Result<std::process::Output> {
    let mut child = Command::new(python)
        .arg("-c")
        .arg(DRIVER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // The driver reads all of its input before it prints anything, so
    // writing first and then collecting its output cannot deadlock.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(input)?;
    drop(stdin);
    child.wait_with_output()
}
