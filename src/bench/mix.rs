//! `bench load --mix N`: many tenants on one server. Generates N distinct
//! copies of the header policy (each its own name and a snapshot that
//! differs by a constant), builds them once (the build cache keeps them),
//! starts a server on them and the samples, and reads the server's CPU
//! time, page faults and memory from `/proc` around each measured window.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// The sample every mixed policy is a copy of.
pub const TEMPLATE: &str = "add-python-header";
/// The version every mixed policy has.
pub const VERSION: &str = "v1.0.0";

/// Where `bench load --mix` keeps its generated sources and components,
/// under the artifact cache's directory (outside the cache's size limit).
pub fn work_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("bench-mix")
}

/// Files under `dir` and the disk they take, each hard-linked file counted
/// once (the served copies are links to the built ones); `None` when `dir`
/// does not exist.
pub fn disk_usage(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let (mut files, mut bytes) = (0, 0);
    let mut pending = vec![std::fs::read_dir(dir).ok()?];
    while let Some(entries) = pending.pop() {
        for entry in entries.flatten() {
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if metadata.is_dir() {
                pending.extend(std::fs::read_dir(entry.path()).ok());
            } else if seen.insert((metadata.dev(), metadata.ino())) {
                files += 1;
                bytes += metadata.blocks() * 512;
            }
        }
    }
    Some((files, bytes))
}

/// The name of mixed policy `index`.
pub fn policy_name(index: usize) -> String {
    format!("mix-{index:04}")
}

/// Writes the sources of mixed policies `0..count` under `work/src` (kept
/// when unchanged, so the build cache recognises them) and returns their
/// directories.
pub fn write_sources(samples: &Path, work: &Path, count: usize) -> anyhow::Result<Vec<PathBuf>> {
    let template = samples.join(TEMPLATE);
    let definition = std::fs::read_to_string(template.join("policy-definition.yaml"))
        .with_context(|| format!("reading {}", template.display()))?;
    let module = std::fs::read_to_string(template.join("policy.py"))?;
    let mut dirs = Vec::with_capacity(count);
    for index in 0..count {
        let name = policy_name(index);
        let dir = work.join("src").join(&name);
        std::fs::create_dir_all(&dir)?;
        let definition =
            definition.replacen(&format!("name: {TEMPLATE}"), &format!("name: {name}"), 1);
        let module =
            format!("{module}\n# Makes this tenant's snapshot its own.\nMIX_TENANT = {index}\n");
        write_if_changed(&dir.join("policy-definition.yaml"), &definition)?;
        write_if_changed(&dir.join("policy.py"), &module)?;
        write_if_changed(&dir.join("requirements.txt"), "")?;
        dirs.push(dir);
    }
    Ok(dirs)
}

fn write_if_changed(path: &Path, text: &str) -> anyhow::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    Ok(std::fs::write(path, text)?)
}

/// Builds the sources whose component is not in `out` yet, with
/// `policy-host build` (one process, so the toolchain starts once).
pub fn build_missing(dirs: &[PathBuf], out: &Path, cache_dir: &Path) -> anyhow::Result<()> {
    let missing: Vec<&PathBuf> = dirs
        .iter()
        .filter(|dir| {
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            !out.join(format!("{name}-{VERSION}.wasm")).exists()
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("building {} mixed policies (once; cached) …", missing.len());
    let status = Command::new(std::env::current_exe()?)
        .arg("build")
        .args(&missing)
        .arg("--out")
        .arg(out)
        .arg("--cache-dir")
        .arg(cache_dir)
        .stdout(Stdio::null())
        .status()
        .context("running policy-host build")?;
    if !status.success() {
        bail!("building the mixed policies failed");
    }
    Ok(())
}

/// Puts the sample components beside the mixed ones (hard links, or
/// copies across file systems).
pub fn add_samples(samples: &Path, out: &Path) -> anyhow::Result<()> {
    for entry in
        std::fs::read_dir(samples).with_context(|| format!("reading {}", samples.display()))?
    {
        let path = entry?.path();
        if path.extension().is_none_or(|ext| ext != "wasm") {
            continue;
        }
        let target = out.join(path.file_name().unwrap_or_default());
        let _ = std::fs::remove_file(&target);
        if std::fs::hard_link(&path, &target).is_err() {
            std::fs::copy(&path, &target)?;
        }
    }
    Ok(())
}

/// A server started for the benchmark, stopped on drop.
pub struct Server {
    child: Child,
    /// Its socket.
    pub socket: PathBuf,
    /// From start until the socket accepted a connection.
    pub ready_after: Duration,
}

impl Server {
    /// Starts `policy-host serve` on `policies` and waits for its socket.
    pub fn start(policies: &Path, work: &Path, cache_dir: &Path) -> anyhow::Result<Server> {
        let socket = work.join("bench.sock");
        let _ = std::fs::remove_file(&socket);
        let started = Instant::now();
        let child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .arg("--policies")
            .arg(policies)
            .arg("--socket")
            .arg(&socket)
            .arg("--cache-dir")
            .arg(cache_dir)
            .args(["--log-level", "warn"])
            // Policies load on their first call, so the benchmark can time
            // that call (`first_calls`).
            .arg("--no-preload")
            .spawn()
            .context("starting policy-host serve")?;
        let mut server = Server {
            child,
            socket,
            ready_after: Duration::ZERO,
        };
        while std::os::unix::net::UnixStream::connect(&server.socket).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!("the server exited before it was ready: {status}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        server.ready_after = started.elapsed();
        Ok(server)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a pid we started and have not reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// How long a policy's first call took (its load included) and its next.
#[derive(Debug, Clone, Copy)]
pub struct FirstCalls {
    /// Mean of the first calls, milliseconds.
    pub cold_ms: f64,
    /// The slowest first call, milliseconds.
    pub cold_max_ms: f64,
    /// Mean of the second calls, milliseconds.
    pub warm_ms: f64,
}

/// Calls each of `requests` twice, one call at a time: the first finds its
/// policy not loaded yet (the server does not preload here).
pub async fn first_calls(
    socket: &Path,
    requests: &[crate::transport::proto::ExecutionRequest],
) -> anyhow::Result<FirstCalls> {
    let mut client = crate::transport::client::connect_unix(socket).await?;
    let (mut cold, mut cold_max, mut warm) = (0.0, 0.0f64, 0.0);
    for request in requests {
        for round in 0..2 {
            let started = Instant::now();
            let response = client
                .execute_stream(tokio_stream::iter([request.clone()]))
                .await?
                .into_inner()
                .message()
                .await?;
            if response.is_none() {
                bail!("no answer for {}", request.policy_name);
            }
            let ms = started.elapsed().as_secs_f64() * 1e3;
            if round == 0 {
                cold += ms;
                cold_max = cold_max.max(ms);
            } else {
                warm += ms;
            }
        }
    }
    let count = requests.len().max(1) as f64;
    Ok(FirstCalls {
        cold_ms: cold / count,
        cold_max_ms: cold_max,
        warm_ms: warm / count,
    })
}
