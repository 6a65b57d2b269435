//! Dispatch: the policy registry, loading it from disk (and again on a
//! reload), admission of calls onto the sandbox's worker threads, and what
//! is observed of each call (metrics, circuit breaker, failure log).

pub mod admission;
pub mod ahead;
pub mod breaker;
pub mod caps;
pub mod dispatcher;
pub mod error;
pub mod failure_log;
pub mod likely;
pub mod load_record;
pub mod loader;
pub mod metrics;
pub mod observe;
pub mod one_shot;
pub mod registry;
pub mod reload;
pub mod resident;
pub mod wake_slice;
pub mod worker_options;
pub mod workers;

pub use admission::{StreamPermits, default_max_queued};
pub use breaker::{BreakerOverrides, BreakerSettings, BreakerState};
pub use caps::{InputCaps, check_caps};
pub use dispatcher::{Dispatcher, Invocation, PendingCall};
pub use error::CallError;
pub use loader::{
    DirectoryOptions, LoadPolicyError, LoadedDirectory, LoadedPolicy, load_policy, scan_directory,
};
pub use metrics::Metrics;
pub use one_shot::call_once;
pub use registry::{DuplicatePolicy, PolicyRegistry, major_version};
pub use reload::{ReloadReport, Reloader};
pub use resident::{EntryMeta, FileStamp, Load, LoadFailure, PolicyEntry};
pub use worker_options::{DEFAULT_WAKE_SLICE, WorkerOptions};
