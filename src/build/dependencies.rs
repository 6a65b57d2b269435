//! Installing a policy's requirements as pure-Python wheels for the guest.
//!
//! pip is asked for wheels tagged for any platform (`py3-none-any`) and the
//! guest's Python (3.14), so dependency markers resolve for the guest and a
//! package that needs a native extension has nothing to install: the build
//! fails naming it, instead of producing a component that breaks at run time.

use std::path::Path;
use std::process::Command;

use super::toolchain::{self, Toolchain, ToolchainError};
use crate::package::Requirement;

/// The guest's Python version, for dependency resolution.
const GUEST_PYTHON_VERSION: &str = "3.14";

/// Why dependencies could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum DependencyError {
    /// A requirement has no pure-Python wheel.
    #[error(
        "requirement {name} cannot be bundled: it has no pure-Python wheel, so it needs a native extension (or ships only source), which cannot run inside the WebAssembly sandbox. Choose a pure-Python package or version.\npip said: {pip_line}"
    )]
    NotPurePython {
        /// The distribution pip could not find a pure wheel for.
        name: String,
        /// pip's own line.
        pip_line: String,
    },
    /// A native library file ended up in the install.
    #[error(
        "requirement {0} contains a native extension ({1}), which cannot run inside the WebAssembly sandbox"
    )]
    NativeFile(String, String),
    /// pip failed for another reason.
    #[error("installing requirements failed: {0}")]
    Pip(#[from] ToolchainError),
    /// The staging directory could not be read.
    #[error("reading installed requirements: {0}")]
    Io(#[from] std::io::Error),
}

/// Installs `requirements` into `target`.
pub fn install(
    toolchain: &Toolchain,
    requirements: &[Requirement],
    staging: &Path,
    target: &Path,
) -> Result<(), DependencyError> {
    std::fs::create_dir_all(target)?;
    if requirements.is_empty() {
        return Ok(());
    }
    let list = staging.join("requirements.txt");
    let lines: Vec<&str> = requirements.iter().map(|r| r.spec.as_str()).collect();
    std::fs::write(&list, lines.join("\n") + "\n")?;
    let mut pip = Command::new(toolchain.python());
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
    ])
    .args([
        "--only-binary=:all:",
        "--platform",
        "any",
        "--implementation",
        "py",
    ])
    .args([
        "--abi",
        "none",
        "--python-version",
        GUEST_PYTHON_VERSION,
        "--target",
    ])
    .arg(target)
    .arg("-r")
    .arg(&list);
    toolchain::run(pip, "pip install").map_err(explain_pip_failure)?;
    find_native_files(target)
}

/// Turns pip's "no matching distribution" into a message naming the package.
fn explain_pip_failure(error: ToolchainError) -> DependencyError {
    if let ToolchainError::Failed { output, .. } = &error {
        let marker = "satisfies the requirement ";
        if let Some(line) = output.lines().find(|line| line.contains(marker)) {
            let after = &line[line.find(marker).unwrap_or(0) + marker.len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
                .collect();
            return DependencyError::NotPurePython {
                name,
                pip_line: line.trim().to_string(),
            };
        }
    }
    DependencyError::Pip(error)
}

fn find_native_files(target: &Path) -> Result<(), DependencyError> {
    for entry in std::fs::read_dir(target)? {
        let entry = entry?;
        let top = entry.file_name().to_string_lossy().into_owned();
        if let Some(native) = first_native_file(&entry.path())? {
            return Err(DependencyError::NativeFile(top, native));
        }
    }
    Ok(())
}

fn first_native_file(path: &Path) -> std::io::Result<Option<String>> {
    let metadata = std::fs::symlink_metadata(path)?;
    if metadata.is_dir() {
        for entry in std::fs::read_dir(path)? {
            if let Some(found) = first_native_file(&entry?.path())? {
                return Ok(Some(found));
            }
        }
        return Ok(None);
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let native = [".so", ".pyd", ".dylib", ".dll"]
        .iter()
        .any(|ext| name.ends_with(ext))
        || name.contains(".so.");
    Ok(native.then(|| name.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_no_match_names_the_package() {
        let error = explain_pip_failure(ToolchainError::Failed {
            what: "pip install".into(),
            output: "ERROR: Could not find a version that satisfies the requirement rpds-py>=0.7.1 (from jsonschema) (from versions: none)\n".into(),
        });
        let DependencyError::NotPurePython { name, .. } = &error else {
            panic!("{error}")
        };
        assert_eq!(name, "rpds-py");
        assert!(error.to_string().contains("native extension"));
    }

    #[test]
    fn native_files_are_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("fastlib")).unwrap();
        std::fs::write(
            dir.path()
                .join("fastlib/_speed.cpython-314-x86_64-linux-gnu.so"),
            b"",
        )
        .unwrap();
        let error = find_native_files(dir.path()).unwrap_err();
        assert!(
            matches!(error, DependencyError::NativeFile(ref top, _) if top == "fastlib"),
            "{error}"
        );
    }
}
