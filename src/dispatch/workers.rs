//! The sandbox worker threads: a fixed pool fed by one first-in, first-out
//! queue, so calls start in the order they were submitted, across streams.
//!
//! Policy code runs only here, never on the async reactor threads. A call
//! whose submitter has gone away by the time a worker takes it is skipped.
//! Each worker owns a [`WorkerState`]: after a job's result is sent it gets
//! [`WorkerState::after_job`] (deferred teardown), and whenever the queue is
//! empty [`WorkerState::idle`] (work done ahead, before the worker sleeps).
//!
//! A job goes to the worker that became idle last. Under light load one or
//! two workers then take every call with their caches warm, instead of the
//! calls going round all workers (a worker that has been idle longest has
//! the coldest caches); docs/benchmarks-history.md, session 6, has the
//! measurement.
//!
//! With a wake slice set, a worker that goes to sleep while at least
//! [`LIGHT_LOAD_IDLE_PEERS`] other workers are idle asks the kernel for that
//! short time slice ([`super::wake_slice`]), and goes back to the default
//! slice when its job is done. At light load the woken worker then
//! preempts another worker's after-call work instead of waiting behind it;
//! under load no worker asks, because preempting one another there only
//! adds context switches (docs/benchmarks-history.md, session 7).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, Thread};
use std::time::Duration;

use tokio::sync::oneshot;

/// What one worker thread keeps between jobs.
pub trait WorkerState: Send + 'static {
    /// Runs after each job, once its result has been sent.
    fn after_job(&mut self) {}
    /// Runs when the queue is empty, before the worker waits for a job.
    fn idle(&mut self) {}
}

/// A worker that keeps nothing.
impl WorkerState for () {}

type Job<S> = Box<dyn FnOnce(&mut S) + Send + 'static>;

/// The queue and the idle workers, behind one lock.
struct Queue<S> {
    jobs: VecDeque<Job<S>>,
    /// Idle workers, the most recently idle last; each waits to be
    /// unparked.
    idle: Vec<(usize, Thread)>,
    closed: bool,
}

/// What the pool and its workers share.
struct Shared<S> {
    queue: Mutex<Queue<S>>,
    /// The slice a worker asks for before sleeping at light load.
    wake_slice: Option<Duration>,
}

/// How many other workers must be idle for a worker going to sleep to count
/// the load as light and ask for the wake slice.
pub const LIGHT_LOAD_IDLE_PEERS: usize = 2;

impl<S> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, Queue<S>> {
        // Jobs run outside the lock, so a panicking job cannot poison it;
        // and every change made under it is a single push or pop, so the
        // queue would be consistent even then.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A fixed set of named worker threads.
pub struct WorkerPool<S: WorkerState> {
    shared: Arc<Shared<S>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl<S: WorkerState> WorkerPool<S> {
    /// Starts `count` worker threads, the `index`th owning `state(index)`.
    /// `wake_slice`, when set and supported by the kernel, is the time slice
    /// a worker asks for before sleeping at light load (module docs).
    pub fn new(count: usize, wake_slice: Option<Duration>, state: impl Fn(usize) -> S) -> Self {
        let wake_slice = wake_slice.filter(|_| {
            let supported = super::wake_slice::supported();
            if !supported {
                tracing::info!("this kernel has no per-thread time slices (Linux < 6.12); workers use the default slice");
            }
            supported
        });
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                idle: Vec::new(),
                closed: false,
            }),
            wake_slice,
        });
        let threads = (0..count.max(1))
            .map(|index| {
                let shared = shared.clone();
                let state = state(index);
                thread::Builder::new()
                    .name(format!("policy-worker-{index}"))
                    .spawn(move || work(index, &shared, state))
                    .expect("spawning a policy worker thread")
            })
            .collect();
        WorkerPool { shared, threads }
    }

    /// Number of worker threads.
    pub fn size(&self) -> usize {
        self.threads.len()
    }

    /// Queues `work`; the returned receiver yields its result. If the
    /// receiver is dropped before a worker takes the job, `work` never runs.
    pub fn submit<T, F>(&self, work: F) -> oneshot::Receiver<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut S) -> T + Send + 'static,
    {
        let (result, receiver) = oneshot::channel();
        let job: Job<S> = Box::new(move |state| {
            if result.is_closed() {
                return;
            }
            let _ = result.send(work(state));
        });
        let woken = {
            let mut queue = self.shared.lock();
            queue.jobs.push_back(job);
            queue.idle.pop()
        };
        if let Some((_, worker)) = woken {
            worker.unpark();
        }
        receiver
    }

    /// Indices of the idle workers, the most recently idle last.
    #[cfg(test)]
    fn idle_workers(&self) -> Vec<usize> {
        self.shared
            .lock()
            .idle
            .iter()
            .map(|(index, _)| *index)
            .collect()
    }
}

/// Worker `index`'s loop: jobs in queue order; `idle` whenever none is
/// waiting, then sleep until a submitter wakes this worker.
fn work<S: WorkerState>(index: usize, shared: &Shared<S>, mut state: S) {
    loop {
        let job = shared.lock().jobs.pop_front();
        if let Some(job) = job {
            job(&mut state);
            ask_for_slice(shared, None);
            state.after_job();
            continue;
        }
        ask_for_slice(shared, None);
        state.idle();
        let light_load = {
            let mut queue = shared.lock();
            if !queue.jobs.is_empty() {
                continue;
            }
            if queue.closed {
                return;
            }
            let light_load = queue.idle.len() >= LIGHT_LOAD_IDLE_PEERS;
            if !queue.idle.iter().any(|(idle, _)| *idle == index) {
                queue.idle.push((index, thread::current()));
            }
            light_load
        };
        if light_load {
            ask_for_slice(shared, shared.wake_slice);
        }
        // A wake-up that came before this park is not lost (the thread
        // keeps the token); a spurious one only loops once more.
        thread::park();
    }
}

/// Asks for `slice` (None: the default) if the pool uses wake slices.
fn ask_for_slice<S>(shared: &Shared<S>, slice: Option<Duration>) {
    if shared.wake_slice.is_none() {
        return;
    }
    if let Err(error) = super::wake_slice::set_thread_slice(slice) {
        static REPORTED: std::sync::Once = std::sync::Once::new();
        REPORTED.call_once(|| {
            tracing::warn!(%error, "cannot set a worker's time slice (is sched_setattr filtered?); workers keep the default slice");
        });
    }
}

impl<S: WorkerState> Drop for WorkerPool<S> {
    fn drop(&mut self) {
        let idle = {
            let mut queue = self.shared.lock();
            queue.closed = true;
            std::mem::take(&mut queue.idle)
        };
        for (_, worker) in idle {
            worker.unpark();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests;
