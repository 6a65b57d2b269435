//! How the dispatcher's workers run: how many, and which tuning each
//! worker's [`WorkerState`](super::workers::WorkerState) layers on (instances
//! made ahead, the light-load wake slice). The one place they are composed.

use std::sync::Arc;
use std::time::Duration;

use super::ahead::SandboxWorker;
use super::likely::LikelyNext;
use super::wake_slice::{self, WakeSlice};
use super::workers::WorkerPool;
use crate::sandbox::{CompiledPolicy, SandboxEngine};

/// How many sandbox worker threads run calls, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerOptions {
    /// Worker threads: calls that run at the same time.
    pub count: usize,
    /// Whether an idle worker instantiates the policy likely called next
    /// ahead of its call (see [`super::ahead`]).
    pub make_ahead: bool,
    /// The time slice a worker asks for before sleeping at light load, so
    /// that it runs as soon as a call wakes it ([`super::wake_slice`]);
    /// `None` keeps the kernel's default.
    pub wake_slice: Option<Duration>,
}

/// The default [`WorkerOptions::wake_slice`]: the shortest the kernel
/// grants. A worker woken with it preempts a default-slice thread (another
/// worker's after-call work) at once.
pub const DEFAULT_WAKE_SLICE: Duration = Duration::from_micros(100);

impl WorkerOptions {
    /// `count` workers that instantiate ahead when idle and use the default
    /// wake slice.
    pub fn new(count: usize) -> Self {
        WorkerOptions {
            count,
            make_ahead: true,
            wake_slice: Some(DEFAULT_WAKE_SLICE),
        }
    }
}

/// One worker's state: a sandbox worker (instances made ahead) with the
/// light-load wake slice layered on.
pub(super) type Worker = WakeSlice<SandboxWorker>;

/// The recent calls a pool's workers share.
pub(super) type Likely = Arc<LikelyNext<CompiledPolicy>>;

impl WorkerOptions {
    /// Starts the worker threads on `engine`; also returns the recent calls
    /// they choose what to make ahead from, which tell who holds what.
    pub(super) fn start(&self, engine: &Arc<SandboxEngine>) -> (WorkerPool<Worker>, Likely) {
        let slice = wake_slice::usable(self.wake_slice);
        let likely = Arc::new(LikelyNext::default());
        let pool = WorkerPool::new(self.count, |index| {
            let worker = SandboxWorker::new(engine.clone(), self.make_ahead, index, likely.clone());
            WakeSlice::new(worker, slice)
        });
        (pool, likely)
    }
}
