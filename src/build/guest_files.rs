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

/// The WIT world, the glue modules and the SDK.
pub const GUEST_FILES: &[GuestFile] = &[
    GuestFile {
        staged_at: "wit/policy.wit",
        contents: include_str!("../../wasm-python/wit/policy.wit"),
    },
    GuestFile {
        staged_at: "glue/policy_host_glue.py",
        contents: include_str!("../../wasm-python/guest/policy_host_glue.py"),
    },
    GuestFile {
        staged_at: "glue/policy_host_output.py",
        contents: include_str!("../../wasm-python/guest/policy_host_output.py"),
    },
    GuestFile {
        staged_at: "glue/policy_host_preload.py",
        contents: include_str!("../../wasm-python/guest/policy_host_preload.py"),
    },
    GuestFile {
        staged_at: "glue/policy_host_random.py",
        contents: include_str!("../../wasm-python/guest/policy_host_random.py"),
    },
    GuestFile {
        staged_at: "glue/policy_host_modules.py",
        contents: include_str!("../../wasm-python/guest/policy_host_modules.py"),
    },
    GuestFile {
        staged_at: "glue/policy_host_network.py",
        contents: include_str!("../../wasm-python/guest/policy_host_network.py"),
    },
    GuestFile {
        staged_at: "glue/policy_host_ssl.py",
        contents: include_str!("../../wasm-python/guest/policy_host_ssl.py"),
    },
    GuestFile {
        staged_at: "sdk/sdk/__init__.py",
        contents: include_str!("../../sdk/__init__.py"),
    },
    GuestFile {
        staged_at: "sdk/sdk/policy.py",
        contents: include_str!("../../sdk/policy.py"),
    },
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
