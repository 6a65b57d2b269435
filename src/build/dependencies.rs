//! Installing a policy's requirements as pure-Python wheels for the guest.
//!
//! pip is asked for wheels tagged for any platform (`py3-none-any`) and the
//! guest's Python (3.14), so dependency markers resolve for the guest and a
//! package that needs a native extension has nothing to install. A package
//! with no pure wheel is built once from its sdist with compilers out of
//! reach ([`super::source_build`]); if that yields no pure wheel either, the
//! build fails naming it, instead of producing a component that breaks at
//! run time.

use std::path::Path;
use std::process::Command;

use super::source_build::{self, SourceBuildError};
use super::toolchain::{self, Toolchain, ToolchainError};
use crate::package::Requirement;

/// The guest's Python version, for dependency resolution.
const GUEST_PYTHON_VERSION: &str = "3.14";

/// Why dependencies could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum DependencyError {
    /// A requirement has no pure-Python wheel.
    #[error(
        "requirement {name} cannot be bundled: it has no pure-Python wheel and no pure-Python build from source, so it needs a native extension, which cannot run inside the WebAssembly sandbox. Choose a pure-Python package or version.\npip said: {pip_line}\nsource build: {source_build}"
    )]
    NotPurePython {
        /// The distribution pip could not find a pure wheel for.
        name: String,
        /// pip's own line.
        pip_line: String,
        /// Why building it from source gave no pure wheel.
        source_build: SourceBuildError,
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

/// Source builds one policy's requirements may need; more means a
/// dependency tree of sdist-only packages, which is worth a look by hand.
const MAX_SOURCE_BUILDS: usize = 8;

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
    let wheels = staging.join("source-wheels");
    let mut built: Vec<String> = Vec::new();
    loop {
        let find_links = (!built.is_empty()).then_some(&*wheels);
        let Some(NoPureWheel {
            name,
            spec,
            pip_line,
        }) = pip_install(toolchain, &list, target, find_links)?
        else {
            return find_native_files(target);
        };
        let refuse = |source_build| DependencyError::NotPurePython {
            name: name.clone(),
            pip_line: pip_line.clone(),
            source_build,
        };
        if built.contains(&name) || built.len() >= MAX_SOURCE_BUILDS {
            return Err(refuse(SourceBuildError::Failed(
                "pip still finds no pure wheel after building it".into(),
            )));
        }
        source_build::build_pure_wheel(toolchain, &name, &spec, &wheels).map_err(refuse)?;
        built.push(name);
    }
}

/// pip found no pure wheel for a distribution.
struct NoPureWheel {
    /// The distribution.
    name: String,
    /// The requirement pip tried to satisfy (`rpds-py>=0.7.1`), else the name.
    spec: String,
    /// pip's own line.
    pip_line: String,
}

/// One `pip install --target` of the list for the guest, also from the
/// source-built wheels in `find_links`: `Some` when pip found no pure
/// wheel for a distribution.
fn pip_install(
    toolchain: &Toolchain,
    list: &Path,
    target: &Path,
    find_links: Option<&Path>,
) -> Result<Option<NoPureWheel>, DependencyError> {
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
    .arg(list);
    if let Some(dir) = find_links {
        pip.arg("--find-links").arg(dir);
    }
    match toolchain::run(pip, "pip install") {
        Ok(_) => Ok(None),
        Err(error) => match no_pure_wheel(&error) {
            Some(missing) => Ok(Some(missing)),
            None => Err(DependencyError::Pip(error)),
        },
    }
}

const SATISFIES: &str = "satisfies the requirement ";

/// pip's "no matching distribution" line (`... satisfies the requirement
/// rpds-py>=0.7.1 (from jsonschema) ...`), with the package and the
/// requirement it names.
fn no_pure_wheel(error: &ToolchainError) -> Option<NoPureWheel> {
    let ToolchainError::Failed { output, .. } = error else {
        return None;
    };
    let line = output.lines().find(|line| line.contains(SATISFIES))?;
    let after = line.split_once(SATISFIES)?.1;
    let name: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .collect();
    let spec = after.split(" (from").next().unwrap_or_default().trim();
    Some(NoPureWheel {
        spec: if spec.is_empty() {
            name.clone()
        } else {
            spec.to_string()
        },
        name,
        pip_line: line.trim().to_string(),
    })
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
    Ok(crate::package::is_native_library(&name).then(|| name.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_no_match_names_the_package_and_its_requirement() {
        let missing = no_pure_wheel(&ToolchainError::Failed {
            what: "pip install".into(),
            output: "ERROR: Could not find a version that satisfies the requirement rpds-py>=0.7.1 (from jsonschema) (from versions: none)\n".into(),
        })
        .expect("a missing wheel");
        assert_eq!(missing.name, "rpds-py");
        assert_eq!(missing.spec, "rpds-py>=0.7.1");
        let error = DependencyError::NotPurePython {
            name: missing.name,
            pip_line: missing.pip_line,
            source_build: SourceBuildError::Native(
                "rpds_py-0.20.0-cp311-cp311-linux_x86_64.whl".into(),
            ),
        };
        assert!(error.to_string().contains("native extension"), "{error}");
        assert!(
            no_pure_wheel(&ToolchainError::Failed {
                what: "pip".into(),
                output: "boom".into()
            })
            .is_none()
        );
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
