//! A content-addressed cache of build artifacts, outside the source tree.
//!
//! Three kinds live here: built components (keyed by a hash of everything a
//! build reads), Cranelift output (keyed by the component's hash plus the
//! engine's compatibility key) and records of which pages a policy image's
//! artifact shares with another's (`sandbox::image_delta`). All access goes through a cap-std directory
//! handle, and keys are checked to be plain names, so nothing here can read
//! or write outside the cache directory.
//!
//! Compiled code is loaded as trusted machine code: the cache directory must
//! be writable only by the user running policy-host.
//!
//! The cache is bounded: a write that takes it over its size limit removes
//! the least recently used artifacts (by modification time, which every
//! read refreshes) until it fits again. Rebuilt policies, new glue and new
//! engine versions otherwise leave old artifacts behind forever, at tens of
//! megabytes each. Counting the cache means reading every file's metadata
//! (~10 ms for a few thousand files), so a process counts it at most every
//! [`COUNT_VALID`] while its own writes keep it under nine tenths of the
//! limit; what other processes write shows at the next count.

use std::io::{self, ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, MetadataExt};

/// The kinds of artifact kept, each in its own subdirectory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// `policy-host build` output, keyed by source hash.
    Component,
    /// Cranelift output for one engine configuration.
    Compiled,
    /// Which pages a policy image's compiled artifact shares with another
    /// image's, for images stored without them (small text records).
    Sharing,
    /// What a component file's last load found, by its stamp (text).
    Loads,
}

impl ArtifactKind {
    /// Every kind, each with its own subdirectory.
    pub const ALL: [ArtifactKind; 4] = [
        ArtifactKind::Component,
        ArtifactKind::Compiled,
        ArtifactKind::Sharing,
        ArtifactKind::Loads,
    ];

    /// The kind's subdirectory, also its name in messages.
    pub fn dir_name(self) -> &'static str {
        match self {
            ArtifactKind::Component => "components",
            ArtifactKind::Compiled => "compiled",
            ArtifactKind::Sharing => "sharing",
            ArtifactKind::Loads => "loads",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ArtifactKind::Component => "wasm",
            ArtifactKind::Compiled => "cwasm",
            ArtifactKind::Sharing | ArtifactKind::Loads => "txt",
        }
    }
}

/// The size limit when `$POLICY_HOST_CACHE_MAX_MIB` is unset: 10 GiB, room
/// for ~130 policies (a header policy's component is ~24 MB, its compiled
/// code ~50 MB).
pub const DEFAULT_MAX_MIB: u64 = 10 * 1024;

/// Environment variable overriding [`DEFAULT_MAX_MIB`].
pub const MAX_MIB_VARIABLE: &str = "POLICY_HOST_CACHE_MAX_MIB";

/// A temporary file older than this is left over from a crashed write.
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);

/// How long a count of the cache's size stands in for counting again.
pub const COUNT_VALID: Duration = Duration::from_secs(30);

/// What a write's temporary file name carries after the artifact's name.
const TEMPORARY_MARK: &str = ".tmp-";

/// The artifact cache.
pub struct ArtifactCache {
    root: Dir,
    path: PathBuf,
    max_bytes: u64,
    /// The size at the last count plus what this process wrote since, and
    /// when that count was taken.
    counted: Mutex<Option<(u64, Instant)>>,
}

/// A count of files and their total size on disk (a sparse file counts
/// what it allocates): what the cache holds of one kind (temporaries of
/// writes included), or what an eviction removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Files.
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
}

impl Usage {
    fn add(&mut self, bytes: u64) {
        self.files += 1;
        self.bytes += bytes;
    }
}

/// One file in the cache, as eviction sees it.
struct Entry {
    kind: ArtifactKind,
    name: String,
    bytes: u64,
    used: SystemTime,
}

impl ArtifactCache {
    /// The default location: `$POLICY_HOST_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/policy-host`, else `~/.cache/policy-host`.
    pub fn default_path() -> PathBuf {
        if let Some(dir) = std::env::var_os("POLICY_HOST_CACHE_DIR") {
            return PathBuf::from(dir);
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            return PathBuf::from(dir).join("policy-host");
        }
        let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
        home.join(".cache").join("policy-host")
    }

    /// Opens (creating it if needed) the cache at `path`, limited to
    /// `$POLICY_HOST_CACHE_MAX_MIB` (default [`DEFAULT_MAX_MIB`]).
    pub fn open(path: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(path)?;
        let root = Dir::open_ambient_dir(path, ambient_authority())?;
        for kind in ArtifactKind::ALL {
            root.create_dir_all(kind.dir_name())?;
        }
        Ok(ArtifactCache {
            root,
            path: path.to_path_buf(),
            max_bytes: max_mib(std::env::var(MAX_MIB_VARIABLE))?.saturating_mul(1 << 20),
            counted: Mutex::new(None),
        })
    }

    /// The same cache with its size limit set to `max_bytes`.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self.counted = Mutex::new(None);
        self
    }

    /// Where the cache lives, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The size the cache is kept under.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// How many artifacts of each kind the cache holds, and their size.
    pub fn usage(&self) -> io::Result<Vec<(ArtifactKind, Usage)>> {
        let entries = self.entries()?;
        Ok(ArtifactKind::ALL
            .map(|kind| {
                let mut usage = Usage::default();
                for entry in entries.iter().filter(|entry| entry.kind == kind) {
                    usage.add(entry.bytes);
                }
                (kind, usage)
            })
            .to_vec())
    }

    fn file_name(kind: ArtifactKind, key: &str) -> io::Result<String> {
        let plain = !key.is_empty()
            && key.len() <= 200
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !plain {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!("bad cache key {key:?}"),
            ));
        }
        Ok(format!("{}/{key}.{}", kind.dir_name(), kind.extension()))
    }

    /// The cached artifact, if present (marked as just used).
    pub fn get(&self, kind: ArtifactKind, key: &str) -> io::Result<Option<Vec<u8>>> {
        let Some(mut file) = self.open_existing(&Self::file_name(kind, key)?)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        mark_used(file);
        Ok(Some(bytes))
    }

    /// The artifact file `name` (from [`Self::file_name`]), opened, if
    /// present.
    fn open_existing(&self, name: &str) -> io::Result<Option<cap_std::fs::File>> {
        match self.root.open(name) {
            Ok(file) => Ok(Some(file)),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The path of a cached artifact, if present (marked as just used), for
    /// loaders that map the file instead of reading it. The key is checked to
    /// be a plain name, so the path stays inside the cache directory.
    pub fn existing_path(&self, kind: ArtifactKind, key: &str) -> io::Result<Option<PathBuf>> {
        let name = Self::file_name(kind, key)?;
        let Some(file) = self.open_existing(&name)? else {
            return Ok(None);
        };
        if !file.metadata()?.is_file() {
            return Ok(None);
        }
        mark_used(file);
        Ok(Some(self.path.join(name)))
    }

    /// Stores an artifact atomically (write to a temporary name, then rename),
    /// so a concurrent reader never sees half a file. Whole pages of zeros
    /// are left as holes, which read back as zeros and take no disk.
    pub fn put(&self, kind: ArtifactKind, key: &str, bytes: &[u8]) -> io::Result<()> {
        let name = Self::file_name(kind, key)?;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let unique = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temporary = format!("{name}{TEMPORARY_MARK}{}-{unique}", std::process::id());
        let mut file = self.root.create(&temporary)?;
        write_sparse(&mut file, bytes)?;
        file.sync_all()?;
        drop(file);
        self.root.rename(&temporary, &self.root, &name)?;
        if self.still_fits(bytes.len() as u64) {
            return Ok(());
        }
        match self.evict_beyond_limit(&name) {
            Ok(evicted) if evicted.files > 0 => tracing::info!(
                cache = %self.path.display(),
                files = evicted.files,
                mib = evicted.bytes >> 20,
                limit_mib = self.max_bytes >> 20,
                "artifact cache over its limit: removed the least recently used artifacts"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(
                cache = %self.path.display(),
                "artifact cache eviction failed (the cache may grow past its limit): {error}"
            ),
        }
        Ok(())
    }

    /// Whether the last count, recent enough and with `written` more bytes
    /// added, stays under nine tenths of the limit (and adds them if so).
    fn still_fits(&self, written: u64) -> bool {
        match self.counted().as_mut() {
            Some((bytes, at))
                if at.elapsed() < COUNT_VALID
                    && bytes.saturating_add(written) <= self.max_bytes - self.max_bytes / 10 =>
            {
                *bytes += written;
                true
            }
            _ => false,
        }
    }

    /// Removes temporaries left by crashed writes, then the least recently
    /// used artifacts until the cache fits its limit; never `keep` (the
    /// artifact just written).
    pub fn evict_beyond_limit(&self, keep: &str) -> io::Result<Usage> {
        let mut evicted = Usage::default();
        let now = SystemTime::now();
        let mut entries = Vec::new();
        for entry in self.entries()? {
            let stale = now
                .duration_since(entry.used)
                .is_ok_and(|age| age > STALE_TEMPORARY);
            if entry.is_temporary() && stale {
                self.evict(&entry, &mut evicted);
            } else {
                entries.push(entry);
            }
        }
        let mut total: u64 = entries.iter().map(|entry| entry.bytes).sum();
        entries.sort_by_key(|entry| entry.used);
        for entry in entries {
            if total <= self.max_bytes {
                break;
            }
            if entry.name == keep || entry.is_temporary() {
                continue;
            }
            total -= entry.bytes;
            self.evict(&entry, &mut evicted);
        }
        *self.counted() = Some((total, Instant::now()));
        Ok(evicted)
    }

    /// The last count, locked (a panic while it was held left a number,
    /// which is still a usable estimate).
    fn counted(&self) -> std::sync::MutexGuard<'_, Option<(u64, Instant)>> {
        self.counted
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Removes an artifact, if present.
    pub fn remove(&self, kind: ArtifactKind, key: &str) -> io::Result<()> {
        match self.root.remove_file(Self::file_name(kind, key)?) {
            Err(error) if error.kind() != ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    fn evict(&self, entry: &Entry, evicted: &mut Usage) {
        // Another process may have removed it first; a reader that mapped
        // it keeps its mapping.
        if self.root.remove_file(&entry.name).is_ok() {
            evicted.add(entry.bytes);
        }
    }

    /// Every regular file in the kinds' directories.
    fn entries(&self) -> io::Result<Vec<Entry>> {
        let mut entries = Vec::new();
        for kind in ArtifactKind::ALL {
            for item in self.root.read_dir(kind.dir_name())? {
                let item = item?;
                let metadata = item.metadata()?;
                if !metadata.is_file() {
                    continue;
                }
                entries.push(Entry {
                    kind,
                    name: format!("{}/{}", kind.dir_name(), item.file_name().to_string_lossy()),
                    bytes: metadata.len().min(metadata.blocks() * 512),
                    used: metadata.modified()?.into_std(),
                });
            }
        }
        Ok(entries)
    }
}

impl Entry {
    /// Whether this is a write's temporary file (in progress, or crashed).
    fn is_temporary(&self) -> bool {
        self.name.contains(TEMPORARY_MARK)
    }
}

/// Refreshes `file`'s modification time, the recency eviction goes by.
/// Best effort: an artifact that cannot be touched is only evicted sooner.
fn mark_used(file: cap_std::fs::File) {
    let _ = file.into_std().set_modified(SystemTime::now());
}

/// The limit `$POLICY_HOST_CACHE_MAX_MIB` (read as `value`) asks for, else
/// the default.
fn max_mib(value: Result<String, std::env::VarError>) -> io::Result<u64> {
    match value {
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_MAX_MIB),
        Ok(text) => text.trim().parse().map_err(|_| {
            io::Error::new(
                ErrorKind::InvalidInput,
                format!("{MAX_MIB_VARIABLE} must be a whole number of MiB, not {text:?}"),
            )
        }),
        Err(error) => Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("{MAX_MIB_VARIABLE}: {error}"),
        )),
    }
}

mod sparse;

use sparse::write_sparse;

#[cfg(test)]
mod tests;
