//! The SDK as policy authors install it: `pip install ./sdk` into a fresh
//! venv, then a policy unit test (`tests/sdk-package/test_installed_sdk.py`)
//! under plain CPython, with no component and no sandbox.
//!
//! Needs `python3` with the `venv` module, and network access for pip to
//! fetch setuptools (the build backend) into its isolated build environment.

use std::path::Path;
use std::process::{Command, Output};

use crate::harness::project_root;

/// What a venv failure means, said when `python3 -m venv` cannot run or fails.
const VENV: &str =
    "python3 -m venv (this test needs python3 with the venv module, e.g. Debian's python3-venv)";

/// Runs `command` from `cwd`; panics naming `what` if it cannot be started.
fn run(what: &str, cwd: &Path, command: &mut Command) -> Output {
    command
        .current_dir(cwd)
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not run {:?}: {e}", command.get_program()))
}

/// Panics with `what`, the exit status, stdout and stderr unless `output`
/// is a success.
fn assert_succeeded(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

/// Copies the regular files of `from` (not recursing) into a new `to`.
fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// `pip install ./sdk` puts `sdk.policy` and `py.typed` in a venv's
/// site-packages, and a unit test of the add-python-header sample passes
/// against that install under plain CPython.
#[test]
fn the_installed_sdk_runs_a_policy_unit_test_under_cpython() {
    let root = project_root();
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");

    let created = run(
        VENV,
        dir.path(),
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
    );
    assert_succeeded(VENV, &created);

    // pip builds a local directory in place (build/, *.egg-info): install
    // from a copy so that the repository is never written.
    let sdk = dir.path().join("sdk");
    copy_files(&root.join("sdk"), &sdk);
    let installed = run(
        "pip install ./sdk",
        dir.path(),
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(&sdk),
    );
    assert_succeeded("pip install ./sdk", &installed);

    // -I: only the venv's site-packages, never the repository or the
    // environment; -B: no __pycache__ beside the sample policy.
    let tested = run(
        "the installed-SDK unit test",
        dir.path(),
        Command::new(venv.join("bin/python"))
            .args(["-I", "-B"])
            .arg(root.join("tests/sdk-package/test_installed_sdk.py")),
    );
    assert_succeeded("the installed-SDK unit test", &tested);
}
