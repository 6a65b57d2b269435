//! A content-addressed cache of build artifacts, outside the source tree.
//!
//! Two kinds live here: built components (keyed by a hash of everything a
//! build reads) and Cranelift output (keyed by the component's hash plus the
//! engine's compatibility key). All access goes through a cap-std directory
//! handle, and keys are checked to be plain names, so nothing here can read
//! or write outside the cache directory.
//!
//! Compiled code is loaded as trusted machine code: the cache directory must
//! be writable only by the user running policy-host.

use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

/// The kinds of artifact kept, each in its own subdirectory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// `policy-host build` output, keyed by source hash.
    Component,
    /// Cranelift output for one engine configuration.
    Compiled,
}

impl ArtifactKind {
    fn dir_name(self) -> &'static str {
        match self {
            ArtifactKind::Component => "components",
            ArtifactKind::Compiled => "compiled",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ArtifactKind::Component => "wasm",
            ArtifactKind::Compiled => "cwasm",
        }
    }
}

/// The artifact cache.
pub struct ArtifactCache {
    root: Dir,
    path: PathBuf,
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

    /// Opens (creating it if needed) the cache at `path`.
    pub fn open(path: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(path)?;
        let root = Dir::open_ambient_dir(path, ambient_authority())?;
        for kind in [ArtifactKind::Component, ArtifactKind::Compiled] {
            root.create_dir_all(kind.dir_name())?;
        }
        Ok(ArtifactCache {
            root,
            path: path.to_path_buf(),
        })
    }

    /// Where the cache lives, for messages.
    pub fn path(&self) -> &Path {
        &self.path
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

    /// The cached artifact, if present.
    pub fn get(&self, kind: ArtifactKind, key: &str) -> io::Result<Option<Vec<u8>>> {
        match self.root.read(Self::file_name(kind, key)?) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The path of a cached artifact, if present, for loaders that map the
    /// file instead of reading it. The key is checked to be a plain name, so
    /// the path stays inside the cache directory.
    pub fn existing_path(&self, kind: ArtifactKind, key: &str) -> io::Result<Option<PathBuf>> {
        let name = Self::file_name(kind, key)?;
        match self.root.metadata(&name) {
            Ok(metadata) if metadata.is_file() => Ok(Some(self.path.join(name))),
            Ok(_) => Ok(None),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Stores an artifact atomically (write to a temporary name, then rename),
    /// so a concurrent reader never sees half a file.
    pub fn put(&self, kind: ArtifactKind, key: &str, bytes: &[u8]) -> io::Result<()> {
        let name = Self::file_name(kind, key)?;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let unique = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temporary = format!("{name}.tmp-{}-{unique}", std::process::id());
        let mut file = self.root.create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        self.root.rename(&temporary, &self.root, &name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_then_get_round_trips_and_missing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::open(dir.path()).unwrap();
        assert_eq!(cache.get(ArtifactKind::Compiled, "abc").unwrap(), None);
        cache.put(ArtifactKind::Compiled, "abc", b"code").unwrap();
        assert_eq!(
            cache.get(ArtifactKind::Compiled, "abc").unwrap().unwrap(),
            b"code"
        );
        assert_eq!(cache.get(ArtifactKind::Component, "abc").unwrap(), None);
        let path = cache
            .existing_path(ArtifactKind::Compiled, "abc")
            .unwrap()
            .unwrap();
        assert_eq!(std::fs::read(path).unwrap(), b"code");
        assert_eq!(
            cache.existing_path(ArtifactKind::Component, "abc").unwrap(),
            None
        );
    }

    #[test]
    fn keys_cannot_name_other_paths() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::open(dir.path()).unwrap();
        for key in ["../x", "a/b", "", ".."] {
            assert!(
                cache.put(ArtifactKind::Component, key, b"x").is_err(),
                "{key}"
            );
        }
    }
}
