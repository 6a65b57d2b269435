//! Building a requirement that has no pure-Python wheel from its source
//! distribution, with every compiler out of reach.
//!
//! Many packages ship only an sdist and native wheels while also having a
//! pure-Python implementation that their build falls back to when the C
//! extension cannot be compiled (PyYAML without libyaml is the best-known).
//! pip builds the sdist in an isolated environment (its build backend and
//! build requirements come from the registry); C, C++ and Rust compilers
//! are replaced by `false` and Cargo is removed from `PATH`, so an optional
//! extension is skipped and a mandatory one fails fast. A wheel tagged for
//! the build's platform that holds no native library after all (setuptools
//! tags it so whenever an extension is declared) is retagged as pure
//! (`wasm-python/tools/retag_pure_wheel.py`); one holding native code is
//! refused by name, as before.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::toolchain::{self, Toolchain, ToolchainError};

/// Why a requirement could not be built from source.
#[derive(Debug, thiserror::Error)]
pub enum SourceBuildError {
    /// pip could not build a wheel (a mandatory native extension, a
    /// missing sdist, a broken build).
    #[error("building it with compilers out of reach failed:\n{0}")]
    Failed(String),
    /// The build produced a wheel tagged for one platform.
    #[error("it produced a native wheel ({0})")]
    Native(String),
    /// The wheel directory could not be read.
    #[error("reading the built wheel: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds `spec` (one requirement line) into a pure wheel in `wheels` and
/// returns its path.
pub fn build_pure_wheel(
    toolchain: &Toolchain,
    name: &str,
    spec: &str,
    wheels: &Path,
) -> Result<PathBuf, SourceBuildError> {
    std::fs::create_dir_all(wheels)?;
    let before = wheel_files(wheels)?;
    let mut pip = Command::new(toolchain.python());
    pip.args([
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        "--no-deps",
        "--no-cache-dir",
        "--no-binary",
        name,
        "--wheel-dir",
    ])
    .arg(wheels)
    .arg(spec);
    without_compilers(&mut pip);
    toolchain::run(pip, "pip wheel").map_err(|error| match error {
        ToolchainError::Failed { output, .. } => SourceBuildError::Failed(last_lines(&output, 6)),
        other => SourceBuildError::Failed(other.to_string()),
    })?;
    let built = wheel_files(wheels)?
        .into_iter()
        .find(|wheel| !before.contains(wheel))
        .ok_or_else(|| {
            SourceBuildError::Failed("pip reported success but wrote no wheel".into())
        })?;
    let file = built.file_name().unwrap_or_default().to_string_lossy();
    if is_pure_wheel_name(&file) {
        return Ok(built);
    }
    let retagged = retag_as_pure(toolchain, &built, wheels);
    let _ = std::fs::remove_file(&built);
    retagged
}

/// The script that retags a wheel without native code as `py3-none-any`.
const RETAG_SCRIPT: &str = include_str!("../../wasm-python/tools/retag_pure_wheel.py");
/// Its exit status when the wheel holds native code.
const RETAG_NATIVE: i32 = 3;

fn retag_as_pure(
    toolchain: &Toolchain,
    wheel: &Path,
    wheels: &Path,
) -> Result<PathBuf, SourceBuildError> {
    let file = wheel.file_name().unwrap_or_default().to_string_lossy();
    let output = Command::new(toolchain.python())
        .args(["-I", "-c", RETAG_SCRIPT])
        .arg(wheel)
        .arg(wheels)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    match output.status.code() {
        Some(0) => Ok(PathBuf::from(stdout.trim())),
        Some(RETAG_NATIVE) => Err(SourceBuildError::Native(format!(
            "{file}, with {}",
            stdout.trim().trim_start_matches("native: ")
        ))),
        _ => Err(SourceBuildError::Failed(format!(
            "retagging {file} failed: {}",
            last_lines(&String::from_utf8_lossy(&output.stderr), 4)
        ))),
    }
}

/// Compilers and Cargo out of reach: `false` for every compiler variable,
/// and a `PATH` of the system directories only (rustup's Cargo lives in
/// the user's home).
fn without_compilers(command: &mut Command) {
    for variable in ["CC", "CXX", "LDSHARED", "CARGO", "RUSTC"] {
        command.env(variable, "false");
    }
    command.env("PATH", "/usr/local/bin:/usr/bin:/bin");
}

/// Whether a wheel's file name carries a pure-Python tag
/// (`name-version-py3-none-any.whl`, also `py2.py3`).
fn is_pure_wheel_name(file: &str) -> bool {
    file.strip_suffix(".whl")
        .is_some_and(|stem| stem.ends_with("-none-any"))
}

fn wheel_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut wheels = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "whl") {
            wheels.push(path);
        }
    }
    Ok(wheels)
}

/// The last `count` lines of pip's output that say something (its `note:`
/// and `hint:` boilerplate left out).
fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note:") && !l.starts_with("hint:"))
        .collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_wheels_tagged_none_any_are_pure() {
        assert!(is_pure_wheel_name("pyyaml-6.0.4-py3-none-any.whl"));
        assert!(is_pure_wheel_name("six-1.16.0-py2.py3-none-any.whl"));
        assert!(!is_pure_wheel_name(
            "pyyaml-6.0.4-cp311-cp311-linux_x86_64.whl"
        ));
        assert!(!is_pure_wheel_name("pkg-1.0-py3-abi3-any.tar.gz"));
    }
}
