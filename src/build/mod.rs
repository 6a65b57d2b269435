//! `policy-host build`: a policy package → a pre-initialized CPython
//! WebAssembly component (componentize-py), with its manifest embedded and
//! its machine code precompiled into the artifact cache.

mod componentize;
mod dependencies;
pub mod entropy;
mod guest_files;
pub mod immortal;
mod pipeline;
pub mod snapshot;
mod source_build;
mod toolchain;

pub use componentize::{ComponentizeError, Deadlines};
pub use guest_files::GUEST_FILES;
pub use pipeline::{BuildError, BuildOptions, Builder, BuiltPolicy, hex, write_component};
pub use toolchain::{COMPONENTIZE_PY_VERSION, Toolchain, ToolchainError};
