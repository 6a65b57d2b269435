//! Deterministic entropy for componentize-py's pre-initialization, so that
//! every policy built on one host takes its snapshot from the same heap.
//!
//! CPython draws its `str` hash secret (and a few other values) from WASI
//! randomness while componentize-py pre-initializes it. With real randomness
//! two builds of the same policy share almost no snapshot pages, because
//! hash-ordered iteration moves every later allocation. The builder
//! therefore preloads `wasm-python/tools/preinit_entropy.c` (compiled here
//! once, with the system C compiler) into componentize-py, keyed by a
//! per-host seed kept in the artifact cache (mode 0600): the snapshots of
//! all policies built on this host then differ only where the policies do,
//! and the sandbox maps the shared pages once (docs/shared-runtime.md).
//!
//! What stays unpredictable: the seed never leaves the host, every running
//! instance draws WASI randomness from the host's own generator, and the
//! glue mixes a fresh per-build nonce ([`NONCE_FILE`]) into `os.urandom`
//! and unseeded `random.Random` generators, so a value a policy draws while
//! it is imported is its own, not the one another tenant's import drew at
//! the same point of the stream. Without a C compiler builds still work,
//! with real randomness and no shared pages.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rand::Rng;
use sha2::{Digest, Sha256};

/// The shim's source, embedded so that any checkout can build it.
const SHIM_SOURCE: &str = include_str!("../../wasm-python/tools/preinit_entropy.c");
/// The file in the artifact cache that holds the host's build seed.
const SEED_FILE: &str = "preinit-seed";
/// Where the glue reads the per-build nonce (relative to the staging
/// directory; the glue's `policy_host_entropy.NONCE_FILE`).
pub const NONCE_FILE: &str = "glue/policy_host_build_nonce.bin";
/// The environment variable the shim reads the seed from.
const SEED_VARIABLE: &str = "POLICY_HOST_PREINIT_SEED";

/// The shim and seed a build preloads into componentize-py.
#[derive(Debug, Clone)]
pub struct PreinitEntropy {
    library: PathBuf,
    seed_hex: String,
}

impl PreinitEntropy {
    /// Compiles the shim into `toolchain_dir` (once per shim source) and
    /// reads or creates the host's seed in `cache_dir`. `None`, after a
    /// line to `report`, when either fails: the build then uses real
    /// randomness.
    pub fn prepare(toolchain_dir: &Path, cache_dir: &Path, report: &dyn Fn(&str)) -> Option<Self> {
        let prepared = compile_shim(toolchain_dir).and_then(|library| {
            let seed_hex = host_seed(cache_dir)?;
            Ok(PreinitEntropy { library, seed_hex })
        });
        match prepared {
            Ok(entropy) => Some(entropy),
            Err(error) => {
                report(&format!(
                    "warning: building with real pre-initialization randomness ({error}); \
                     snapshots of different policies will not share memory pages"
                ));
                None
            }
        }
    }

    /// Makes `command` (componentize-py) draw its randomness from the seed.
    pub fn apply(&self, command: &mut Command) {
        command
            .env("LD_PRELOAD", &self.library)
            .env(SEED_VARIABLE, &self.seed_hex);
    }
}

/// Writes a fresh nonce for the glue into the staged `glue` directory.
pub fn write_nonce(staging: &Path) -> io::Result<()> {
    let mut nonce = [0u8; 32];
    rand::rng().fill_bytes(&mut nonce);
    std::fs::write(staging.join(NONCE_FILE), nonce)
}

/// The compiled shim for this source, built with `$CC` (else `cc`).
fn compile_shim(toolchain_dir: &Path) -> io::Result<PathBuf> {
    let digest = crate::build::hex(&Sha256::digest(SHIM_SOURCE.as_bytes()));
    let library = toolchain_dir.join(format!("preinit-entropy-{}.so", &digest[..16]));
    if library.exists() {
        return Ok(library);
    }
    std::fs::create_dir_all(toolchain_dir)?;
    let source = toolchain_dir.join(format!("preinit-entropy-{}.c", &digest[..16]));
    std::fs::write(&source, SHIM_SOURCE)?;
    let partial = library.with_extension(format!("so.{}", std::process::id()));
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let output = Command::new(&compiler)
        .args(["-O2", "-shared", "-fPIC", "-o"])
        .arg(&partial)
        .arg(&source)
        .arg("-ldl")
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("could not run {compiler}: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(io::Error::other(format!(
            "{compiler} failed: {}",
            stderr.trim()
        )));
    }
    std::fs::rename(&partial, &library)?;
    Ok(library)
}

/// The host's seed as 32 hex digits, created on first use.
fn host_seed(cache_dir: &Path) -> io::Result<String> {
    let path = cache_dir.join(SEED_FILE);
    if let Some(seed_hex) = read_seed(&path) {
        return Ok(seed_hex);
    }
    std::fs::create_dir_all(cache_dir)?;
    let mut seed = [0u8; 16];
    rand::rng().fill_bytes(&mut seed);
    let seed_hex = crate::build::hex(&seed);
    let partial = path.with_extension(format!("{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)?;
    file.write_all(seed_hex.as_bytes())?;
    file.sync_all()?;
    // Another build may have raced us: keep whichever seed landed first.
    if std::fs::hard_link(&partial, &path).is_err() && !path.exists() {
        std::fs::rename(&partial, &path)?;
    }
    let _ = std::fs::remove_file(&partial);
    read_seed(&path)
        .ok_or_else(|| io::Error::other(format!("{} does not hold 32 hex digits", path.display())))
}

/// The seed in `path`, if it holds one (32 hex digits).
fn read_seed(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    let valid = text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| text.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = host_seed(dir.path()).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(host_seed(dir.path()).unwrap(), first);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(SEED_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the seed file is readable by others: {mode:o}"
        );
        let other = tempfile::tempdir().unwrap();
        assert_ne!(host_seed(other.path()).unwrap(), first);
    }
}
