//! Compiles `proto/` with tonic/prost, using the protoc binary shipped in the
//! protoc-bin-vendored crate (nothing installed by hand), and fingerprints
//! our Wasmtime patches for the compiled-code cache key.

use sha2::{Digest, Sha256};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let include = protoc_bin_vendored::include_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC.
    unsafe { std::env::set_var("PROTOC", protoc) };
    tonic_prost_build::configure().bytes(".").compile_protos(
        &["proto/python_executor.proto"],
        &["proto", include.to_str().unwrap_or(".")],
    )?;
    println!("cargo:rerun-if-changed=proto/python_executor.proto");
    println!(
        "cargo:rustc-env=POLICY_HOST_WASMTIME_PATCHES={}",
        wasmtime_patches_fingerprint()?
    );
    Ok(())
}

/// A hash of every `patches/*/*.patch` when building against the patched
/// crates, `stock` otherwise. Patches change the code Cranelift emits, which
/// Wasmtime's own compatibility hash does not see, so compiled components
/// are cached under this as well.
fn wasmtime_patches_fingerprint() -> std::io::Result<String> {
    println!("cargo:rerun-if-changed=patches");
    if std::env::var_os("CARGO_FEATURE_PATCHED_WASMTIME").is_none() {
        return Ok("stock".to_owned());
    }
    let mut patches = Vec::new();
    for crate_dir in std::fs::read_dir("patches")? {
        let crate_dir = crate_dir?.path();
        if !crate_dir.is_dir() {
            continue;
        }
        println!("cargo:rerun-if-changed={}", crate_dir.display());
        for patch in std::fs::read_dir(&crate_dir)? {
            let patch = patch?.path();
            if patch.extension().is_some_and(|ext| ext == "patch") {
                patches.push(patch);
            }
        }
    }
    patches.sort();
    let mut hasher = Sha256::new();
    for patch in &patches {
        hasher.update(relative_name(patch).as_bytes());
        hasher.update(std::fs::read(patch)?);
    }
    let digest = hasher.finalize();
    Ok(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
}

fn relative_name(path: &Path) -> String {
    path.strip_prefix("patches")
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}
