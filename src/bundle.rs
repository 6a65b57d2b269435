//! A policy's own files at run time: its package and its installed
//! requirements, carried inside the component and mounted read-only.
//!
//! Packages read their own data (`importlib.resources`, `pkgutil.get_data`,
//! `open()` beside `__file__`, `importlib.metadata`), and inside the guest
//! those paths are where componentize-py mounted the staged directories
//! while building (`/2/policy.py`, `/3/jsonschema/...`). The builder packs
//! those directories into a `policy-host:bundle` custom section, each with
//! the guest name it had; the loader extracts the bundle once into the
//! artifact cache (content-addressed), and every call's WASI context
//! preopens each extracted directory read-only under that same name. The
//! policy sees its own files and nothing else of the host: the archive
//! holds only regular files with plain relative paths (no links, no `..`),
//! and wasmtime-wasi resolves guest paths inside each preopen.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::manifest::{self, ManifestError};

/// Name of the custom section holding the bundle.
pub const SECTION_NAME: &str = "policy-host:bundle";
/// The bundle layout version, first in the section.
const MAGIC: &[u8; 4] = b"PHB1";
/// The most a bundle may hold (its files, uncompressed).
pub const MAX_BUNDLE_BYTES: u64 = 256 << 20;
/// Directories never packed: bytecode the build-time interpreter wrote.
const SKIPPED_DIRS: &[&str] = &["__pycache__"];
/// Written last into an extracted bundle: its presence means complete.
const COMPLETE_MARKER: &str = ".complete";

/// One extracted directory and the name the guest mounts it under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The directory on the host (read-only to the guest).
    pub host: PathBuf,
    /// The preopen's name in the guest (`2` for `/2/...`).
    pub guest: String,
}

/// Why a bundle could not be packed or extracted.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Reading the files to pack, or writing the extracted tree, failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The files are over [`MAX_BUNDLE_BYTES`].
    #[error("the policy's files and requirements are over {} MiB", MAX_BUNDLE_BYTES >> 20)]
    TooLarge,
    /// The section is not a bundle this host can read.
    #[error("malformed bundle section: {0}")]
    Malformed(String),
    /// The component's sections could not be read.
    #[error(transparent)]
    Component(#[from] ManifestError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BundleError {
    let what = what.into();
    move |source| BundleError::Io { what, source }
}

/// A directory's files, each as (relative path, contents).
type Files = Vec<(String, Vec<u8>)>;

/// Packs the regular files under each `(guest name, host directory)`.
pub fn pack(roots: &[(&str, &Path)]) -> Result<Vec<u8>, BundleError> {
    let mut out = MAGIC.to_vec();
    put_u32(&mut out, roots.len());
    let mut total = 0u64;
    for (guest, dir) in roots {
        let mut files = Files::new();
        collect(dir, "", &mut files, &mut total)?;
        put_bytes(&mut out, guest.as_bytes());
        put_u32(&mut out, files.len());
        for (path, contents) in &files {
            put_bytes(&mut out, path.as_bytes());
            put_bytes(&mut out, contents);
        }
    }
    Ok(out)
}

fn collect(
    dir: &Path,
    prefix: &str,
    files: &mut Files,
    total: &mut u64,
) -> Result<(), BundleError> {
    let what = || format!("reading {}", dir.display());
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(what()))?
        .collect::<Result<_, _>>()
        .map_err(io(what()))?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().map_err(io(what()))?;
        let path = format!("{prefix}{name}");
        if kind.is_dir() && !SKIPPED_DIRS.contains(&name.as_str()) {
            collect(&entry.path(), &format!("{path}/"), files, total)?;
        } else if kind.is_file() {
            let contents = std::fs::read(entry.path()).map_err(io(format!("reading {path}")))?;
            *total += contents.len() as u64;
            if *total > MAX_BUNDLE_BYTES {
                return Err(BundleError::TooLarge);
            }
            files.push((path, contents));
        }
    }
    Ok(())
}

fn put_u32(out: &mut Vec<u8>, value: usize) {
    out.extend_from_slice(&u32::try_from(value).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// A parsed bundle: for each root, its guest name and its files.
type Parsed<'a> = Vec<(String, Vec<(String, &'a [u8])>)>;

/// Reads a section written by [`pack`], checking every name.
fn parse(mut bytes: &[u8]) -> Result<Parsed<'_>, BundleError> {
    if !bytes.starts_with(MAGIC) {
        return Err(BundleError::Malformed(
            "unknown layout (rebuild the policy)".into(),
        ));
    }
    bytes = &bytes[MAGIC.len()..];
    let mut roots = Vec::new();
    for _ in 0..take_u32(&mut bytes)? {
        let guest = text(take_bytes(&mut bytes)?)?;
        if guest.is_empty() || !guest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BundleError::Malformed(format!("mount name {guest:?}")));
        }
        let mut files = Vec::new();
        for _ in 0..take_u32(&mut bytes)? {
            let path = text(take_bytes(&mut bytes)?)?;
            check_relative(&path)?;
            files.push((path, take_bytes(&mut bytes)?));
        }
        roots.push((guest, files));
    }
    Ok(roots)
}

fn take_u32(bytes: &mut &[u8]) -> Result<u32, BundleError> {
    let (head, rest) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| BundleError::Malformed("cut short".into()))?;
    *bytes = rest;
    Ok(u32::from_le_bytes(*head))
}

fn take_bytes<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8], BundleError> {
    let short = || BundleError::Malformed("cut short".into());
    let (head, rest) = bytes.split_first_chunk::<8>().ok_or_else(short)?;
    let len = usize::try_from(u64::from_le_bytes(*head)).map_err(|_| short())?;
    if len > rest.len() {
        return Err(short());
    }
    let (value, rest) = rest.split_at(len);
    *bytes = rest;
    Ok(value)
}

fn text(bytes: &[u8]) -> Result<String, BundleError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| BundleError::Malformed("a name is not UTF-8".into()))
}

/// A path of plain names: nothing absolute, empty, `.` or `..`.
fn check_relative(path: &str) -> Result<(), BundleError> {
    let plain =
        |part: &str| !part.is_empty() && part != "." && part != ".." && !part.contains('\0');
    if path.split('/').all(plain) {
        Ok(())
    } else {
        Err(BundleError::Malformed(format!("file path {path:?}")))
    }
}

/// Extracts the bundle in `component` (if it has one) under `root`, once
/// per distinct bundle, and returns its mounts.
pub fn extract_from(component: &[u8], root: &Path) -> Result<Vec<Mount>, BundleError> {
    match manifest::custom_section(component, SECTION_NAME)? {
        Some(section) => extract(section, root),
        None => Ok(Vec::new()),
    }
}

/// Whether every one of `mounts` (an earlier [`extract_from`]'s) is still
/// extracted whole.
pub fn still_extracted(mounts: &[Mount]) -> bool {
    mounts.iter().all(|mount| {
        let complete = mount.host.parent().map(|dir| dir.join(COMPLETE_MARKER));
        mount.host.is_dir() && complete.is_some_and(|marker| marker.is_file())
    })
}

fn extract(section: &[u8], root: &Path) -> Result<Vec<Mount>, BundleError> {
    let parsed = parse(section)?;
    let digest = crate::build::hex(&Sha256::digest(section));
    let dir = root.join(&digest[..32]);
    // An empty root (no requirements) is not mounted: each mount costs
    // every call an open and a close.
    let mounts: Vec<Mount> = parsed
        .iter()
        .filter(|(_, files)| !files.is_empty())
        .map(|(guest, _)| Mount {
            host: dir.join(guest),
            guest: guest.clone(),
        })
        .collect();
    if dir.join(COMPLETE_MARKER).is_file() {
        if mounts.iter().all(|mount| mount.host.is_dir()) {
            return Ok(mounts);
        }
        // Marked complete, yet a mount is gone (removed by hand, or left so
        // by an older version's race): extract it again.
        tracing::warn!(bundle = %dir.display(), "bundle incomplete: extracting it again");
        let _ = std::fs::remove_dir_all(&dir);
    }
    // Unique per extraction, not only per process: two loads in one
    // process (the background preloader and a call's load, or two
    // policies with the same files) may extract the same bundle at once.
    static EXTRACTIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nth = EXTRACTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let staging = root.join(format!(
        ".tmp-{}-{}-{nth}",
        &digest[..16],
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    write_tree(&staging, &parsed)?;
    match std::fs::rename(&staging, &dir) {
        Ok(()) => {}
        // Another process extracted the same bundle first.
        Err(_) if dir.join(COMPLETE_MARKER).is_file() => {
            let _ = std::fs::remove_dir_all(&staging);
        }
        Err(error) => {
            return Err(io(format!("moving the bundle into {}", dir.display()))(
                error,
            ));
        }
    }
    Ok(mounts)
}

fn write_tree(staging: &Path, parsed: &Parsed<'_>) -> Result<(), BundleError> {
    for (guest, files) in parsed {
        let base = staging.join(guest);
        std::fs::create_dir_all(&base).map_err(io(format!("creating {}", base.display())))?;
        for (path, contents) in files {
            let target = base.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(io(format!("creating {path}")))?;
            }
            std::fs::write(&target, contents).map_err(io(format!("writing {path}")))?;
        }
    }
    let marker = staging.join(COMPLETE_MARKER);
    std::fs::write(&marker, b"").map_err(io("marking the bundle complete"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("app/rules/__pycache__")).unwrap();
        std::fs::write(dir.path().join("app/policy.py"), b"x = 1\n").unwrap();
        std::fs::write(dir.path().join("app/rules/limits.json"), b"{}").unwrap();
        std::fs::write(dir.path().join("app/rules/__pycache__/a.pyc"), b"pyc").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("app/link")).unwrap();
        std::fs::create_dir_all(dir.path().join("deps")).unwrap();
        dir
    }

    #[test]
    fn packed_files_extract_under_their_mount_names() {
        let source = tree();
        let app = source.path().join("app");
        let deps = source.path().join("deps");
        let section = pack(&[("2", &app), ("3", &deps)]).unwrap();
        let out = tempfile::tempdir().unwrap();
        let mounts = extract(&section, out.path()).unwrap();
        assert_eq!(
            mounts.iter().map(|m| m.guest.as_str()).collect::<Vec<_>>(),
            ["2"],
            "the empty deps root is not mounted"
        );
        let app_out = &mounts[0].host;
        assert_eq!(
            std::fs::read(app_out.join("policy.py")).unwrap(),
            b"x = 1\n"
        );
        assert_eq!(
            std::fs::read(app_out.join("rules/limits.json")).unwrap(),
            b"{}"
        );
        assert!(
            !app_out.join("rules/__pycache__").exists(),
            "bytecode is not packed"
        );
        assert!(!app_out.join("link").exists(), "links are not packed");
        // A second extraction reuses the first.
        assert_eq!(extract(&section, out.path()).unwrap(), mounts);
        // One whose mount went missing is extracted again.
        std::fs::remove_dir_all(app_out).unwrap();
        assert_eq!(extract(&section, out.path()).unwrap(), mounts);
        assert_eq!(
            std::fs::read(app_out.join("policy.py")).unwrap(),
            b"x = 1\n"
        );
    }

    #[test]
    fn threads_extracting_one_bundle_at_once_all_get_it_whole() {
        let source = tempfile::tempdir().unwrap();
        for i in 0..200 {
            std::fs::write(source.path().join(format!("m{i}.py")), format!("x = {i}\n")).unwrap();
        }
        let section = pack(&[("2", source.path())]).unwrap();
        for _ in 0..5 {
            let out = tempfile::tempdir().unwrap();
            let (section, root) = (&section, out.path());
            let start = std::sync::Barrier::new(8);
            std::thread::scope(|scope| {
                let start = &start;
                let extractions: Vec<_> = (0..8)
                    .map(|_| {
                        scope.spawn(move || {
                            start.wait();
                            extract(section, root).unwrap()
                        })
                    })
                    .collect();
                for extraction in extractions {
                    let host = &extraction.join().unwrap()[0].host;
                    for i in 0..200 {
                        let file = std::fs::read(host.join(format!("m{i}.py"))).unwrap();
                        assert_eq!(file, format!("x = {i}\n").as_bytes());
                    }
                }
            });
        }
    }

    #[test]
    fn paths_leaving_their_mount_are_refused() {
        for bad in ["../x", "/etc/passwd", "a//b", "a/./b", ""] {
            let mut section = MAGIC.to_vec();
            put_u32(&mut section, 1);
            put_bytes(&mut section, b"2");
            put_u32(&mut section, 1);
            put_bytes(&mut section, bad.as_bytes());
            put_bytes(&mut section, b"data");
            let out = tempfile::tempdir().unwrap();
            assert!(extract(&section, out.path()).is_err(), "{bad:?}");
        }
        assert!(parse(b"PHB9").is_err());
        assert!(
            parse(&MAGIC[..]).is_err(),
            "a missing root count is cut short"
        );
    }
}
