//! Running componentize-py over a staged policy, under a watchdog.
//!
//! componentize-py imports the policy and runs the glue's warm-up (policy
//! code) while it pre-initializes CPython, with no fuel or deadline. Python
//! code in the warm-up is interrupted by the glue itself; code stuck inside
//! one C call (a catastrophic regex, `sum(range(10**15))`) or an import-time
//! infinite loop is not, so the builder watches the marker the glue writes
//! around the warm-up and the total time, and kills the tool on overrun.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::entropy::PreinitEntropy;
use super::toolchain::{Toolchain, ToolchainError};

/// The prefix the guest glue puts on build errors meant for the author.
const GLUE_ERROR_PREFIX: &str = "policy-host-build-error: ";
/// The file (in the staged `glue` directory) where the glue writes `begin`
/// and `end` around its warm-up: componentize-py shows the guest's output
/// only after it exits, but the staged directories are writable.
const WARM_UP_MARKER_FILE: &str = "glue/policy_host_warm_up.txt";
/// Where the glue lists the snapshot's objects (relative to the staging
/// directory; the glue's `SNAPSHOT_OBJECTS_FILE`).
pub const SNAPSHOT_OBJECTS_FILE: &str = "glue/policy_host_snapshot_objects.bin";
/// The staged directories on the guest's path, in order: componentize-py
/// mounts the n-th as `/n` (see [`guest_mount`]).
const STAGED_DIRS: [&str; 4] = ["glue", "sdk", "app", "deps"];

/// The name the guest mounts staged directory `dir` under (`app` → `2`).
pub fn guest_mount(dir: &str) -> String {
    let index = STAGED_DIRS.iter().position(|d| *d == dir);
    index.expect("a staged directory").to_string()
}

/// How often the watchdog looks at the marker file.
const POLL: Duration = Duration::from_millis(100);

/// How long componentize-py may take.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// The whole run (a build takes 10-30 s on two cores).
    pub total: Duration,
    /// From the warm-up's start to its end (nothing inside the guest
    /// interrupts a handler that loops; see `docs/guest.md`).
    pub warm_up: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            total: Duration::from_secs(600),
            warm_up: Duration::from_secs(10),
        }
    }
}

/// Why componentize-py failed.
#[derive(Debug, thiserror::Error)]
pub enum ComponentizeError {
    /// The glue reported a problem in the policy (syntax error, missing
    /// entry point, import failure).
    #[error("{0}")]
    Policy(String),
    /// The warm-up ran the policy's handler and it did not return.
    #[error("the policy's handler did not return within {0:?} during the build-time warm-up")]
    WarmUpStuck(Duration),
    /// The whole build ran past its deadline.
    #[error(
        "componentize-py did not finish within {0:?}: does policy.py (or a requirement) loop at import time?"
    )]
    TimedOut(Duration),
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
    deadlines: Deadlines,
    entropy: Option<&PreinitEntropy>,
) -> Result<(), ComponentizeError> {
    let mut command = Command::new(toolchain.componentize_py());
    command
        .arg("-d")
        .arg(staging.join("wit"))
        .args(["-w", "policy", "componentize", "policy_host_glue"])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PIPENV_ACTIVE")
        .env(
            "VIRTUAL_ENV",
            empty_site_packages(staging).map_err(spawn_error)?,
        );
    if let Some(entropy) = entropy {
        entropy.apply(&mut command);
    }
    for dir in STAGED_DIRS {
        command.arg("-p").arg(staging.join(dir));
    }
    command.arg("-o").arg(output);
    let marker = staging.join(WARM_UP_MARKER_FILE);
    let _ = std::fs::remove_file(&marker);
    let _ = std::fs::remove_file(staging.join(SNAPSHOT_OBJECTS_FILE));
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ComponentizeError::Spawn(ToolchainError::Spawn { program, source }))?;
    let lines = stream_lines(&mut child);
    let output_lines = match watch(&lines, &marker, deadlines) {
        Ok(output_lines) => output_lines,
        Err(overrun) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(overrun);
        }
    };
    match child.wait() {
        Ok(status) if status.success() => Ok(()),
        _ => Err(explain(&output_lines.join("\n"))),
    }
}

/// componentize-py adds one more directory to the guest's path, mapped
/// read-write: `$VIRTUAL_ENV`'s site-packages, else whatever `python3` on
/// `PATH` reports as its site-packages, i.e. the host's own packages, which
/// policy code at build time could import and even write into. An empty
/// stand-in venv in the staging directory keeps the host's out of reach.
fn empty_site_packages(staging: &Path) -> std::io::Result<std::path::PathBuf> {
    let venv = staging.join("no-site-packages");
    std::fs::create_dir_all(venv.join("lib/site-packages"))?;
    Ok(venv)
}

fn spawn_error(source: std::io::Error) -> ComponentizeError {
    ComponentizeError::Spawn(ToolchainError::Spawn {
        program: "componentize-py (staging its empty site-packages)".into(),
        source,
    })
}

/// Lines of the child's stderr, then stdout, as they arrive.
fn stream_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    let stderr = child
        .stderr
        .take()
        .map(|s| Box::new(s) as Box<dyn Read + Send>);
    let stdout = child
        .stdout
        .take()
        .map(|s| Box::new(s) as Box<dyn Read + Send>);
    for stream in [stderr, stdout].into_iter().flatten() {
        let sender = sender.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
    }
    receiver
}

/// Reads lines until both streams close, enforcing the deadlines (the
/// warm-up's from when `marker` says it began). Returns the lines read.
fn watch(
    lines: &mpsc::Receiver<String>,
    marker: &Path,
    deadlines: Deadlines,
) -> Result<Vec<String>, ComponentizeError> {
    let total_deadline = Instant::now() + deadlines.total;
    let mut warm_up_deadline = None;
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(POLL) {
            Ok(line) => seen.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(seen),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        match std::fs::read_to_string(marker).as_deref() {
            Ok("begin") => {
                warm_up_deadline.get_or_insert(now + deadlines.warm_up);
            }
            _ => warm_up_deadline = None,
        }
        if warm_up_deadline.is_some_and(|deadline| now >= deadline) {
            return Err(ComponentizeError::WarmUpStuck(deadlines.warm_up));
        }
        if now >= total_deadline {
            return Err(ComponentizeError::TimedOut(deadlines.total));
        }
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
    ComponentizeError::Tool(reason(output))
}

/// The part of componentize-py's output that says why: its `Caused by:`
/// chain when there is one (the Python and Wasm backtraces around it are
/// noise to a policy author), else the first lines.
fn reason(output: &str) -> String {
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    let caused_by = lines.iter().position(|l| l.trim() == "Caused by:");
    let picked: Vec<&str> = match caused_by {
        Some(at) => lines[at + 1..]
            .iter()
            .take_while(|l| !l.trim_start().starts_with("Stack backtrace"))
            .map(|l| l.trim())
            .collect(),
        None => lines.iter().take(40).copied().collect(),
    };
    picked.join("\n")
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

    #[test]
    fn tool_failures_keep_the_caused_by_chain() {
        let output = "Traceback (most recent call last):\n  File \"x\", line 8\nAssertionError: \nCaused by:\n    0: retrieving memory\n    1: fuel exhausted\nStack backtrace:\n  0: main";
        let error = explain(output);
        assert_eq!(
            error.to_string(),
            "componentize-py failed:\n0: retrieving memory\n1: fuel exhausted"
        );
    }
}
