//! The manifest a built policy component carries in a custom section.
//!
//! `policy-host build` appends it; the server reads it when loading a
//! directory of components, so a `.wasm` file is all a deployment needs:
//! name, version and limits travel inside it.

use serde::{Deserialize, Serialize};

use crate::dispatch::breaker::BreakerOverrides;
use crate::sandbox::limits::LimitOverrides;

/// Name of the custom section holding the manifest.
pub const SECTION_NAME: &str = "policy-host:manifest";

/// Version of the manifest layout.
pub const FORMAT: u32 = 1;

/// What a built component says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest layout version ([`FORMAT`]).
    pub format: u32,
    /// Policy name from `policy-definition.yaml`.
    pub name: String,
    /// Policy version from `policy-definition.yaml` (e.g. `v1.0.0`).
    pub version: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// Per-policy limit overrides from the `limits:` block.
    #[serde(default)]
    pub limits: LimitOverrides,
    /// The policy's own circuit-breaker settings from the `limits:` block
    /// (they can only tighten the server's).
    #[serde(default, skip_serializing_if = "BreakerOverrides::is_empty")]
    pub breaker: BreakerOverrides,
    /// The WIT package the component was built against.
    pub wit: String,
    /// Hash of everything the component was built from.
    pub source_hash: String,
}

impl Manifest {
    /// `name@version`, the label used in logs.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// Why a component's manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The bytes are not a WebAssembly component.
    #[error("not a WebAssembly component (bad header)")]
    NotAComponent,
    /// The component file could not be read.
    #[error("reading the component: {0}")]
    Io(#[from] std::io::Error),
    /// The section structure is cut short or malformed.
    #[error("malformed component: {0}")]
    Malformed(&'static str),
    /// No manifest section: not built by `policy-host build`.
    #[error("no {SECTION_NAME} section: build the component with `policy-host build`")]
    Missing,
    /// The section is not valid manifest JSON.
    #[error("invalid manifest: {0}")]
    Invalid(#[from] serde_json::Error),
    /// A manifest layout this host does not understand.
    #[error("manifest format {0} is not supported (expected {FORMAT}): rebuild the policy")]
    Format(u32),
    /// Built against another major version of the WIT contract.
    #[error(
        "built against {found}, but this host implements {expected}: rebuild the policy with this policy-host"
    )]
    WitVersion {
        /// The contract the component was built against.
        found: String,
        /// The contract this host implements.
        expected: &'static str,
    },
}

/// `policy-host:policy@1.2.3` → `policy-host:policy@1`.
fn wit_major(package: &str) -> &str {
    let end = package
        .find('@')
        .and_then(|at| package[at..].find('.').map(|dot| at + dot))
        .unwrap_or(package.len());
    &package[..end]
}

/// Checks that a component's WIT contract has this host's major version.
pub fn check_wit(manifest: &Manifest) -> Result<(), ManifestError> {
    let expected = crate::sandbox::bindings::WIT_PACKAGE;
    if wit_major(&manifest.wit) == wit_major(expected) {
        Ok(())
    } else {
        Err(ManifestError::WitVersion {
            found: manifest.wit.clone(),
            expected,
        })
    }
}

const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// Returns `component` with `manifest` appended as a custom section.
pub fn embed(mut component: Vec<u8>, manifest: &Manifest) -> Vec<u8> {
    let payload = serde_json::to_vec(manifest).expect("manifest serializes");
    append_custom_section(&mut component, SECTION_NAME, &payload);
    component
}

/// Appends a top-level custom section `name` holding `payload`.
pub fn append_custom_section(component: &mut Vec<u8>, name: &str, payload: &[u8]) {
    let mut header = Vec::new();
    write_leb128(&mut header, name.len() as u64);
    header.extend_from_slice(name.as_bytes());
    component.push(0);
    write_leb128(component, (header.len() + payload.len()) as u64);
    component.extend_from_slice(&header);
    component.extend_from_slice(payload);
}

/// Reads the manifest from a component's top-level custom sections.
pub fn read(component: &[u8]) -> Result<Manifest, ManifestError> {
    parse(custom_section(component, SECTION_NAME)?.ok_or(ManifestError::Missing)?)
}

/// Reads the manifest of the component file at `path`, reading only the
/// section headers before it rather than the whole (tens of MB) file.
pub fn read_file(path: &std::path::Path) -> Result<Manifest, ManifestError> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut header = [0u8; 8];
    if len < 8 || file.read_exact_at(&mut header, 0).is_err() || header != COMPONENT_HEADER {
        return Err(ManifestError::NotAComponent);
    }
    let mut offset = 8u64;
    while offset < len {
        // id, size, and for a custom section its name's length and name.
        let mut head = [0u8; 1 + 10 + 10 + SECTION_NAME.len()];
        let read = file.read_at(&mut head, offset)?;
        let mut rest = &head[..read];
        let (&id, after_id) = rest
            .split_first()
            .ok_or(ManifestError::Malformed("truncated"))?;
        rest = after_id;
        let size = read_leb128(&mut rest)?;
        let start = offset + (read - rest.len()) as u64;
        let end = start
            .checked_add(size)
            .filter(|&end| end <= len)
            .ok_or(ManifestError::Malformed("section runs past the end"))?;
        if id == 0
            && read_leb128(&mut rest).is_ok_and(|n| n == SECTION_NAME.len() as u64)
            && rest.starts_with(SECTION_NAME.as_bytes())
        {
            let payload_start = offset + (read - rest.len() + SECTION_NAME.len()) as u64;
            let mut payload = vec![0u8; (end - payload_start) as usize];
            file.read_exact_at(&mut payload, payload_start)?;
            return parse(&payload);
        }
        offset = end;
    }
    Err(ManifestError::Missing)
}

fn parse(payload: &[u8]) -> Result<Manifest, ManifestError> {
    let manifest: Manifest = serde_json::from_slice(payload)?;
    if manifest.format != FORMAT {
        return Err(ManifestError::Format(manifest.format));
    }
    check_wit(&manifest)?;
    Ok(manifest)
}

/// The payload of the first top-level custom section called `name`.
pub fn custom_section<'a>(
    component: &'a [u8],
    name: &str,
) -> Result<Option<&'a [u8]>, ManifestError> {
    if component.len() < 8 || component[..8] != COMPONENT_HEADER {
        return Err(ManifestError::NotAComponent);
    }
    let mut rest = &component[8..];
    while !rest.is_empty() {
        let id = rest[0];
        rest = &rest[1..];
        let size = read_leb128(&mut rest)? as usize;
        if size > rest.len() {
            return Err(ManifestError::Malformed("section runs past the end"));
        }
        let (section, after) = rest.split_at(size);
        rest = after;
        if id == 0 {
            let mut contents = section;
            let name_len = read_leb128(&mut contents)? as usize;
            if name_len > contents.len() {
                return Err(ManifestError::Malformed(
                    "custom section name runs past the end",
                ));
            }
            if &contents[..name_len] == name.as_bytes() {
                return Ok(Some(&contents[name_len..]));
            }
        }
    }
    Ok(None)
}

/// Appends `value` as unsigned LEB128 (the Wasm binary format's integers).
pub(crate) fn write_leb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_leb128(input: &mut &[u8]) -> Result<u64, ManifestError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input
            .split_first()
            .ok_or(ManifestError::Malformed("truncated size"))?;
        *input = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(ManifestError::Malformed("size too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT,
            name: "p".into(),
            version: "v1.0.0".into(),
            description: "d".into(),
            limits: LimitOverrides {
                fuel: Some(5_000_000),
                ..Default::default()
            },
            breaker: BreakerOverrides::default(),
            wit: "policy-host:policy@1.0.0".into(),
            source_hash: "abc".into(),
        }
    }

    #[test]
    fn embedded_manifest_reads_back() {
        let mut component = COMPONENT_HEADER.to_vec();
        // An unrelated custom section before ours must be skipped.
        component.extend_from_slice(&[0, 3, 2, b'h', b'i']);
        let with = embed(component, &manifest());
        assert_eq!(read(&with).unwrap(), manifest());
    }

    #[test]
    fn the_manifest_reads_back_from_a_file_without_reading_it_all() {
        let dir = tempfile::tempdir().unwrap();
        let mut component = COMPONENT_HEADER.to_vec();
        // A large unrelated section before ours, and a custom section whose
        // name only starts like ours.
        component.push(1);
        write_leb128(&mut component, 100_000);
        component.extend(std::iter::repeat_n(7u8, 100_000));
        append_custom_section(&mut component, "policy-host:manifestx", b"{}");
        let with = embed(component, &manifest());
        let path = dir.path().join("p.wasm");
        std::fs::write(&path, &with).unwrap();
        assert_eq!(read_file(&path).unwrap(), manifest());
        std::fs::write(&path, &with[..with.len() - 3]).unwrap();
        assert!(matches!(read_file(&path), Err(ManifestError::Malformed(_))));
        std::fs::write(&path, b"junk").unwrap();
        assert!(matches!(
            read_file(&path),
            Err(ManifestError::NotAComponent)
        ));
        std::fs::write(&path, COMPONENT_HEADER).unwrap();
        assert!(matches!(read_file(&path), Err(ManifestError::Missing)));
    }

    #[test]
    fn missing_and_malformed_sections_are_errors() {
        assert!(matches!(
            read(&COMPONENT_HEADER),
            Err(ManifestError::Missing)
        ));
        assert!(matches!(read(b"nope"), Err(ManifestError::NotAComponent)));
        let mut truncated = COMPONENT_HEADER.to_vec();
        truncated.extend_from_slice(&[0, 50, 1]);
        assert!(matches!(read(&truncated), Err(ManifestError::Malformed(_))));
    }

    #[test]
    fn components_for_another_wit_major_version_are_refused() {
        let mut other = manifest();
        other.wit = "policy-host:policy@2.0.0".into();
        let with = embed(COMPONENT_HEADER.to_vec(), &other);
        let error = read(&with).unwrap_err();
        assert!(error.to_string().contains("rebuild the policy"), "{error}");
        other.wit = "policy-host:policy@1.7.0".into();
        assert!(read(&embed(COMPONENT_HEADER.to_vec(), &other)).is_ok());
    }

    #[test]
    fn leb128_round_trips_large_sizes() {
        let mut out = Vec::new();
        write_leb128(&mut out, 300_000_000);
        assert_eq!(read_leb128(&mut out.as_slice()).unwrap(), 300_000_000);
    }
}
