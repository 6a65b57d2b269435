//! The pinned componentize-py, installed into a project-local virtualenv.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-py release components are built with (guest CPython 3.14).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// Where the toolchain lives and how to reach its programs.
#[derive(Debug, Clone)]
pub struct Toolchain {
    venv: PathBuf,
}

/// Why the toolchain could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum ToolchainError {
    /// A command could not be started.
    #[error("could not run {program}: {source} (policy-host needs python3 with venv and pip)")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A command ran and failed.
    #[error("{what} failed:\n{output}")]
    Failed {
        /// What was being done.
        what: String,
        /// Its stderr tail.
        output: String,
    },
}

/// Runs `command`, returning stdout, or its stderr as the error.
pub(super) fn run(mut command: Command, what: &str) -> Result<String, ToolchainError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .map_err(|source| ToolchainError::Spawn { program, source })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    Err(ToolchainError::Failed {
        what: what.to_string(),
        output: text,
    })
}

impl Toolchain {
    /// The default venv: `$POLICY_HOST_TOOLCHAIN_DIR`, else `wasm-python/.venv`
    /// in the source tree this binary was built from.
    pub fn default_venv() -> PathBuf {
        std::env::var_os("POLICY_HOST_TOOLCHAIN_DIR").map_or_else(
            || {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("wasm-python")
                    .join(".venv")
            },
            PathBuf::from,
        )
    }

    /// A toolchain in `venv` (not yet checked).
    pub fn new(venv: PathBuf) -> Self {
        Toolchain { venv }
    }

    /// The venv's directory (the build also keeps its entropy shim there).
    pub fn dir(&self) -> &Path {
        &self.venv
    }

    /// The venv's Python interpreter.
    pub fn python(&self) -> PathBuf {
        self.venv.join("bin").join("python")
    }

    /// The componentize-py program.
    pub fn componentize_py(&self) -> PathBuf {
        self.venv.join("bin").join("componentize-py")
    }

    fn installed_version(&self) -> Option<String> {
        let output = Command::new(self.componentize_py())
            .arg("--version")
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&output.stdout);
        text.split_whitespace().nth(1).map(str::to_string)
    }

    /// Creates the venv and installs the pinned componentize-py, unless the
    /// right version is already there. `report` receives progress lines.
    pub fn ensure(&self, report: &dyn Fn(&str)) -> Result<(), ToolchainError> {
        if self.installed_version().as_deref() == Some(COMPONENTIZE_PY_VERSION) {
            return Ok(());
        }
        report(&format!(
            "installing componentize-py {COMPONENTIZE_PY_VERSION} into {}",
            self.venv.display()
        ));
        if !self.python().exists() {
            let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
            let mut venv = Command::new(python);
            venv.args(["-m", "venv"]).arg(&self.venv);
            run(venv, "creating the toolchain virtualenv")?;
        }
        let mut pip = Command::new(self.python());
        pip.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(format!("componentize-py=={COMPONENTIZE_PY_VERSION}"));
        run(pip, "installing componentize-py")?;
        Ok(())
    }
}
