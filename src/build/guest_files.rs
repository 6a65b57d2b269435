//! The guest-side files every component is built from, embedded in the
//! binary so `policy-host build` works from any directory.

use std::io;
use std::path::Path;

/// One embedded file and where it goes in the staging directory.
pub struct GuestFile {
    /// Path relative to the staging directory.
    pub staged_at: &'static str,
    /// File contents.
    pub contents: &'static str,
}

/// A [`GuestFile`] staged at `$staged_at` from `$source` (relative to the
/// repository root).
macro_rules! guest_file {
    ($staged_at:literal, $source:literal) => {
        GuestFile {
            staged_at: $staged_at,
            contents: include_str!(concat!("../../", $source)),
        }
    };
}

/// The WIT world, the glue modules and the SDK.
pub const GUEST_FILES: &[GuestFile] = &[
    guest_file!("wit/policy.wit", "wasm-python/wit/policy.wit"),
    guest_file!(
        "glue/policy_host_glue.py",
        "wasm-python/guest/policy_host_glue.py"
    ),
    guest_file!(
        "glue/policy_host_output.py",
        "wasm-python/guest/policy_host_output.py"
    ),
    guest_file!(
        "glue/policy_host_preload.py",
        "wasm-python/guest/policy_host_preload.py"
    ),
    guest_file!(
        "glue/policy_host_entropy.py",
        "wasm-python/guest/policy_host_entropy.py"
    ),
    guest_file!(
        "glue/policy_host_random.py",
        "wasm-python/guest/policy_host_random.py"
    ),
    guest_file!(
        "glue/policy_host_modules.py",
        "wasm-python/guest/policy_host_modules.py"
    ),
    guest_file!(
        "glue/policy_host_network.py",
        "wasm-python/guest/policy_host_network.py"
    ),
    guest_file!(
        "glue/policy_host_json.py",
        "wasm-python/guest/policy_host_json.py"
    ),
    guest_file!(
        "glue/policy_host_ssl.py",
        "wasm-python/guest/policy_host_ssl.py"
    ),
    guest_file!(
        "glue/policy_host_inputs.py",
        "wasm-python/guest/policy_host_inputs.py"
    ),
    guest_file!(
        "glue/policy_host_action.py",
        "wasm-python/guest/policy_host_action.py"
    ),
    guest_file!(
        "glue/policy_host_warm_up.py",
        "wasm-python/guest/policy_host_warm_up.py"
    ),
    guest_file!(
        "glue/policy_host_snapshot.py",
        "wasm-python/guest/policy_host_snapshot.py"
    ),
    guest_file!("sdk/sdk/__init__.py", "sdk/__init__.py"),
    guest_file!("sdk/sdk/policy.py", "sdk/policy.py"),
];

/// Writes every guest file under `staging`.
pub fn stage(staging: &Path) -> io::Result<()> {
    for file in GUEST_FILES {
        let path = staging.join(file.staged_at);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, file.contents)?;
    }
    Ok(())
}
