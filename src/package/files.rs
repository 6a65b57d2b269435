//! Collecting a package's files through a cap-std directory handle.

use std::io;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use super::definition::{DefinitionError, PolicyDefinition};

/// Largest single file a package may contain.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Largest total size of a package.
pub const MAX_PACKAGE_BYTES: u64 = 32 * 1024 * 1024;
/// Deepest directory nesting followed.
const MAX_DEPTH: usize = 16;

/// One file of a package, by its path relative to the package root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    /// Path relative to the package directory, `/`-separated.
    pub path: String,
    /// File contents.
    pub contents: Vec<u8>,
}

/// A policy package read into memory.
#[derive(Debug, Clone)]
pub struct PolicyPackage {
    /// Where it was read from.
    pub source: PathBuf,
    /// Its parsed definition.
    pub definition: PolicyDefinition,
    /// Every regular file, sorted by path (the definition and requirements
    /// included), except dotfiles, `__pycache__` and `.pyc` files.
    pub files: Vec<PackageFile>,
}

/// Why a package could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The directory or a file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The OS error.
        source: io::Error,
    },
    /// A required file is missing.
    #[error("{0} is missing: a policy package needs policy.py and policy-definition.yaml")]
    Missing(&'static str),
    /// A symlink, which could point outside the package.
    #[error(
        "{0}: symlinks are not allowed in a policy package (they could point outside it); copy the file in instead"
    )]
    Symlink(String),
    /// A shared library: componentize-py would link it into the component
    /// as WebAssembly of the package's own making.
    #[error(
        "{0}: native code is not allowed in a policy package (componentize-py would link it into the component); policies and their own modules are pure Python"
    )]
    NativeCode(String),
    /// Neither a file nor a directory.
    #[error("{0}: only regular files and directories are allowed in a policy package")]
    Special(String),
    /// A file over the per-file cap.
    #[error("{path}: {size} bytes is over the {MAX_FILE_BYTES}-byte limit for one file")]
    FileTooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
    },
    /// The package over the total cap.
    #[error("the package is over the {MAX_PACKAGE_BYTES}-byte limit")]
    PackageTooLarge,
    /// Nesting deeper than we follow.
    #[error("{0}: directories nested deeper than {MAX_DEPTH} levels")]
    TooDeep(String),
    /// The definition is invalid.
    #[error(transparent)]
    Definition(#[from] DefinitionError),
}

fn io_error(path: &str) -> impl FnOnce(io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.to_string(),
        source,
    }
}

impl PolicyPackage {
    /// Reads the package at `path`.
    pub fn read(path: &Path) -> Result<Self, FileError> {
        let shown = path.display().to_string();
        let root = Dir::open_ambient_dir(path, ambient_authority()).map_err(io_error(&shown))?;
        let mut files = Vec::new();
        let mut total = 0;
        collect(&root, "", 0, &mut files, &mut total)?;
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let find = |name: &str| files.iter().find(|file| file.path == name);
        let definition =
            find("policy-definition.yaml").ok_or(FileError::Missing("policy-definition.yaml"))?;
        find("policy.py").ok_or(FileError::Missing("policy.py"))?;
        let text = String::from_utf8_lossy(&definition.contents);
        let definition = PolicyDefinition::parse(&text)?;
        Ok(PolicyPackage {
            source: path.to_path_buf(),
            definition,
            files,
        })
    }

    /// The contents of `requirements.txt`, empty when there is none.
    pub fn requirements_text(&self) -> String {
        self.files
            .iter()
            .find(|file| file.path == "requirements.txt")
            .map(|file| String::from_utf8_lossy(&file.contents).into_owned())
            .unwrap_or_default()
    }
}

/// Whether a file name is a shared library (a Python extension module:
/// `.so`, `.so.N`, `.pyd`, `.dylib`, `.dll`).
pub(crate) fn is_native_library(name: &str) -> bool {
    [".so", ".pyd", ".dylib", ".dll"]
        .iter()
        .any(|ext| name.ends_with(ext))
        || name.contains(".so.")
}

fn skipped(name: &str) -> bool {
    name.starts_with('.') || name == "__pycache__" || name.ends_with(".pyc")
}

fn collect(
    dir: &Dir,
    prefix: &str,
    depth: usize,
    files: &mut Vec<PackageFile>,
    total: &mut u64,
) -> Result<(), FileError> {
    if depth > MAX_DEPTH {
        return Err(FileError::TooDeep(prefix.to_string()));
    }
    let shown = if prefix.is_empty() { "." } else { prefix };
    for entry in dir.entries().map_err(io_error(shown))? {
        let entry = entry.map_err(io_error(shown))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if skipped(&name) {
            continue;
        }
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type().map_err(io_error(&path))?;
        if kind.is_symlink() {
            return Err(FileError::Symlink(path));
        } else if kind.is_dir() {
            let child = entry.open_dir().map_err(io_error(&path))?;
            collect(&child, &path, depth + 1, files, total)?;
        } else if kind.is_file() {
            if is_native_library(&name) {
                return Err(FileError::NativeCode(path));
            }
            let size = entry.metadata().map_err(io_error(&path))?.len();
            if size > MAX_FILE_BYTES {
                return Err(FileError::FileTooLarge { path, size });
            }
            *total += size;
            if *total > MAX_PACKAGE_BYTES {
                return Err(FileError::PackageTooLarge);
            }
            let contents = dir.read(&name).map_err(io_error(&path))?;
            files.push(PackageFile { path, contents });
        } else {
            return Err(FileError::Special(path));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, contents) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        dir
    }

    const DEFINITION: (&str, &str) = ("policy-definition.yaml", "name: p\nversion: v1\n");

    #[test]
    fn a_shared_library_in_the_package_is_refused_by_name() {
        for name in ["evil.cpython-314-wasm32-wasi.so", "lib/x.so.1", "y.pyd"] {
            let dir = package(&[DEFINITION, ("policy.py", "x = 1"), (name, "\0asm")]);
            let error = PolicyPackage::read(dir.path()).expect_err("refused");
            assert!(
                matches!(&error, FileError::NativeCode(path) if path == name),
                "{error}"
            );
            assert!(
                error.to_string().contains("native code is not allowed"),
                "{error}"
            );
        }
    }

    #[test]
    fn reads_files_sorted_and_skips_caches() {
        let dir = package(&[
            DEFINITION,
            ("policy.py", "x = 1"),
            ("lib/helper.py", "y = 2"),
            ("__pycache__/policy.cpython-311.pyc", "junk"),
            (".hidden", "junk"),
        ]);
        let package = PolicyPackage::read(dir.path()).unwrap();
        let paths: Vec<_> = package.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            ["lib/helper.py", "policy-definition.yaml", "policy.py"]
        );
        assert_eq!(package.definition.name, "p");
        assert_eq!(package.requirements_text(), "");
    }

    #[test]
    fn symlinks_are_refused_even_inside_the_package() {
        let dir = package(&[DEFINITION, ("policy.py", "")]);
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd.txt")).unwrap();
        let error = PolicyPackage::read(dir.path()).unwrap_err();
        assert!(
            matches!(error, FileError::Symlink(ref p) if p == "passwd.txt"),
            "{error}"
        );
    }

    #[test]
    fn missing_policy_is_named() {
        let dir = package(&[DEFINITION]);
        let error = PolicyPackage::read(dir.path()).unwrap_err();
        assert!(
            error.to_string().contains("policy.py is missing"),
            "{error}"
        );
    }
}
