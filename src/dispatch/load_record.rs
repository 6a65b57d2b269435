//! Loading an unchanged component file without reading it again.
//!
//! A cold load of a policy read its whole component (~24 MB) and hashed it
//! to find the runtime and image it names: half of a first call's wait.
//! After a full load, what it found ([`LoadRecord`]: the artifact keys,
//! the globals, where its files were unpacked) is stored in the artifact
//! cache under the file's stamp. A later load of the file with the same
//! stamp loads from the record and reads only the manifest.
//!
//! The stamp is what the file system changes on every write, rename,
//! truncation or `touch`: the canonical path, device, inode, size, and
//! the modification and change times to the nanosecond (the change time
//! cannot be set back by a user). The reload already keeps a policy whose
//! path, size and mtime are unchanged; this trusts a stronger stamp. A
//! load that finds anything missing or unusable falls back to reading the
//! file, and a file that changed while it loaded is not recorded.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::loader::{LoadedPolicy, ready, settled_limits};
use crate::bundle::Mount;
use crate::cache::{ArtifactCache, ArtifactKind};
use crate::manifest;
use crate::sandbox::code_keys::CodeKeys;
use crate::sandbox::{self, LimitOverrides, Limits, SandboxEngine};

/// What a full load of a component found that loads it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadRecord {
    /// The runtime's and image's keys and the globals.
    pub code: CodeKeys,
    /// Where the policy's own files were unpacked.
    pub mounts: Vec<Mount>,
}

impl LoadRecord {
    /// [`CodeKeys::to_text`], then one `mount<TAB>guest<TAB>host` line per
    /// mount.
    pub fn to_text(&self) -> Option<String> {
        let mut text = self.code.to_text();
        for mount in &self.mounts {
            let host = mount.host.to_str()?;
            let plain = |s: &str| !s.contains(['\t', '\n']);
            if !plain(host) || !plain(&mount.guest) {
                return None;
            }
            text.push_str(&format!("mount\t{}\t{host}\n", mount.guest));
        }
        Some(text)
    }

    /// The record in `text` ([`Self::to_text`]'s), or `None`.
    pub fn parse(text: &str) -> Option<LoadRecord> {
        let (mount_lines, code_lines): (Vec<&str>, Vec<&str>) =
            text.lines().partition(|line| line.starts_with("mount\t"));
        let mounts = mount_lines.iter().map(|line| {
            let mut fields = line.split('\t').skip(1);
            let (guest, host) = (fields.next()?, fields.next()?);
            let mount = Mount {
                guest: guest.to_owned(),
                host: PathBuf::from(host),
            };
            fields.next().is_none().then_some(mount)
        });
        Some(LoadRecord {
            mounts: mounts.collect::<Option<_>>()?,
            code: CodeKeys::parse(code_lines)?,
        })
    }
}

/// The cache key of `file`'s stamp, or `None` when it cannot be read.
pub fn stamp_of(file: &Path) -> Option<String> {
    let path = file.canonicalize().ok()?;
    let meta = std::fs::metadata(&path).ok()?;
    let stamp = format!(
        "{}\0{}\0{}\0{}\0{}.{}\0{}.{}",
        path.display(),
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    );
    Some(crate::build::hex(&Sha256::digest(stamp.as_bytes())[..20]))
}

/// Stores `record` for `file` under `stamp`, unless the file changed since
/// the stamp was taken (a failure to store is only logged).
pub fn store(cache: &ArtifactCache, file: &Path, stamp: &str, record: &LoadRecord) {
    if stamp_of(file).as_deref() != Some(stamp) {
        return;
    }
    let Some(text) = record.to_text() else { return };
    if let Err(error) = cache.put(ArtifactKind::Loads, stamp, text.as_bytes()) {
        tracing::warn!(file = %file.display(), "could not record a policy's load: {error}");
    }
}

/// `file` loaded from the record under `stamp`, with exactly `limits`;
/// `None` when there is none, anything it names is gone, or the file
/// changed meanwhile (the caller then reads the file).
pub fn load_recorded(
    engine: &SandboxEngine,
    cache: &ArtifactCache,
    file: &Path,
    stamp: &str,
    shown: &str,
    limits: Limits,
) -> Option<LoadedPolicy> {
    let text = cache.get(ArtifactKind::Loads, stamp).ok()??;
    let record = LoadRecord::parse(std::str::from_utf8(&text).ok()?)?;
    if !crate::bundle::still_extracted(&record.mounts) {
        return None;
    }
    let manifest = manifest::read_file(file).ok()?;
    let limits = settled_limits(&manifest, limits, LimitOverrides::exactly(limits), shown).ok()?;
    let code = sandbox::load_policy_code_by_keys(engine, cache, &record.code)?;
    let loaded = ready(
        engine,
        manifest,
        code,
        limits,
        record.mounts,
        shown.to_owned(),
    );
    let loaded = loaded
        .inspect_err(|error| tracing::debug!("loading {shown} from its record failed: {error}"))
        .ok()?;
    (stamp_of(file).as_deref() == Some(stamp)).then_some(loaded)
}

#[cfg(test)]
mod tests;
