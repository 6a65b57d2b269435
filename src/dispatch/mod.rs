//! Dispatch: the policy registry, loading it from disk, and admission of
//! calls onto the sandbox's worker threads.

pub mod ahead;
pub mod dispatcher;
pub mod loader;
pub mod registry;
pub mod resident;
pub mod wake_slice;
pub mod workers;

pub use dispatcher::{
    DEFAULT_WAKE_SLICE, Dispatcher, InputCaps, Invocation, PendingCall, WorkerOptions, check_caps,
};
pub use loader::{LoadPolicyError, LoadedDirectory, LoadedPolicy, load_policy, scan_directory};
pub use registry::{DuplicatePolicy, PolicyRegistry, major_version};
pub use resident::{Load, PolicyEntry};
