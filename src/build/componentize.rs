//! Running componentize-py over a staged policy.

use std::path::Path;
use std::process::Command;

use super::toolchain::{self, Toolchain, ToolchainError};

/// The prefix the guest glue puts on build errors meant for the author.
const GLUE_ERROR_PREFIX: &str = "policy-host-build-error: ";

/// Why componentize-py failed.
#[derive(Debug, thiserror::Error)]
pub enum ComponentizeError {
    /// The glue reported a problem in the policy (syntax error, missing
    /// entry point, import failure).
    #[error("{0}")]
    Policy(String),
    /// componentize-py failed otherwise.
    #[error("componentize-py failed:\n{0}")]
    Tool(String),
    /// componentize-py could not be started.
    #[error(transparent)]
    Spawn(ToolchainError),
}

/// Builds `output` from the staged directories: `glue`, `sdk`, `app`
/// (the policy package) and `deps` (its requirements), in that search order.
pub fn componentize(
    toolchain: &Toolchain,
    staging: &Path,
    output: &Path,
) -> Result<(), ComponentizeError> {
    let mut command = Command::new(toolchain.componentize_py());
    command
        .arg("-d")
        .arg(staging.join("wit"))
        .args(["-w", "policy", "componentize", "policy_host_glue"])
        .env("PYTHONDONTWRITEBYTECODE", "1");
    for dir in ["glue", "sdk", "app", "deps"] {
        command.arg("-p").arg(staging.join(dir));
    }
    command.arg("-o").arg(output);
    match toolchain::run(command, "componentize-py") {
        Ok(_) => Ok(()),
        Err(ToolchainError::Failed { output, .. }) => Err(explain(&output)),
        Err(other) => Err(ComponentizeError::Spawn(other)),
    }
}

fn explain(output: &str) -> ComponentizeError {
    let reported: Vec<&str> = output
        .lines()
        .filter_map(|line| {
            line.find(GLUE_ERROR_PREFIX)
                .map(|at| &line[at + GLUE_ERROR_PREFIX.len()..])
        })
        .collect();
    if !reported.is_empty() {
        return ComponentizeError::Policy(reported.join("\n"));
    }
    let tail: Vec<&str> = output
        .lines()
        .filter(|line| !line.trim().is_empty())
        .take(40)
        .collect();
    ComponentizeError::Tool(tail.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue_errors_are_extracted_from_the_noise() {
        let output = "Traceback (most recent call last):\n  File \"x\", line 8\nAssertionError: policy-host-build-error: policy.py:4: '(' was never closed\n\nCaused by:\n 0: wasm backtrace";
        let error = explain(output);
        assert_eq!(error.to_string(), "policy.py:4: '(' was never closed");
    }
}
