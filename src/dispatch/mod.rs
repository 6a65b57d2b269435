//! Dispatch: the policy registry, loading it from disk, and admission of
//! calls onto the sandbox's worker threads.

pub mod loader;
pub mod registry;

pub use loader::{LoadPolicyError, LoadedPolicy, load_directory, load_policy};
pub use registry::{DuplicatePolicy, PolicyRegistry, major_version};
