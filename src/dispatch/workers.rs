//! The sandbox worker threads: a fixed pool fed by one first-in, first-out
//! queue, so calls start in the order they were submitted, across streams.
//!
//! Policy code runs only here, never on the async reactor threads. A call
//! whose submitter has gone away by the time a worker takes it is skipped.
//! A job goes to the worker that became idle last: under light load one or
//! two workers then take every call with their caches warm, instead of the
//! calls going round all workers (docs/benchmarks-history.md, session 6).
//! A job may name preferred workers instead (ones that keep what the job
//! needs): the one of them idle last is woken if any sleeps.
//!
//! The pool knows nothing of what its workers do between jobs. Each worker
//! owns a [`WorkerState`], the one interface for that: the pool calls its
//! hooks at fixed points of the worker's loop, and the tuning lives in the
//! implementations (instances made ahead, [`super::ahead`]; the light-load
//! wake slice, [`super::wake_slice`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, Thread};

use tokio::sync::oneshot;

/// What one worker thread keeps between jobs, and what it does at each
/// point of its loop. Every hook runs on the worker's own thread.
pub trait WorkerState: Send + 'static {
    /// Runs after each job, once its result has been sent.
    fn after_job(&mut self) {}
    /// Runs when the queue is empty, before the worker waits for a job.
    fn idle(&mut self) {}
    /// Runs right before the worker sleeps, `idle_peers` other workers
    /// being asleep already; the next thing it does is its next job.
    fn before_sleep(&mut self, idle_peers: usize) {
        let _ = idle_peers;
    }
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

impl<S> Queue<S> {
    /// The sleeping worker to wake for a job that prefers `preferred`: the
    /// one of them that became idle last, else the worker that did.
    fn worker_to_wake(&mut self, preferred: &[usize]) -> Option<(usize, Thread)> {
        let sleeping = (self.idle.iter()).rposition(|(idle, _)| preferred.contains(idle));
        match sleeping {
            Some(at) => Some(self.idle.remove(at)),
            None => self.idle.pop(),
        }
    }
}

/// What the pool and its workers share.
struct Shared<S> {
    queue: Mutex<Queue<S>>,
}

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
    pub fn new(count: usize, state: impl Fn(usize) -> S) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                idle: Vec::new(),
                closed: false,
            }),
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
        self.submit_to(&[], work)
    }

    /// [`submit`](Self::submit), waking one of the `preferred` workers (ones
    /// that keep what `work` needs) if one sleeps, rather than the one idle
    /// last. A job waiting in the queue is taken by whichever worker is
    /// free first.
    pub fn submit_to<T, F>(&self, preferred: &[usize], work: F) -> oneshot::Receiver<T>
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
            queue.worker_to_wake(preferred)
        };
        if let Some((_, worker)) = woken {
            worker.unpark();
        }
        receiver
    }

    /// A handle that wakes this pool's idle workers (see [`IdleNudge`]).
    pub fn idle_nudge(&self) -> IdleNudge<S> {
        IdleNudge {
            shared: self.shared.clone(),
        }
    }

    /// Waits until every worker is idle; returns their indices, the most
    /// recently idle last.
    #[cfg(test)]
    pub(crate) fn wait_until_all_idle(&self) -> Vec<usize> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let idle: Vec<usize> = self
                .shared
                .lock()
                .idle
                .iter()
                .map(|(index, _)| *index)
                .collect();
            if idle.len() == self.size() {
                return idle;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "workers never all idle: {idle:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

/// Wakes the idle workers of a pool without giving them a job, so each runs
/// [`WorkerState::idle`] once more and sleeps again: how a worker learns
/// that what it keeps between jobs has gone stale. Cheap to clone.
pub struct IdleNudge<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for IdleNudge<S> {
    fn clone(&self) -> Self {
        IdleNudge {
            shared: self.shared.clone(),
        }
    }
}

impl<S> IdleNudge<S> {
    /// Wakes every worker asleep now; a busy one runs `idle` anyway when
    /// its queue empties.
    pub fn nudge(&self) {
        let idle: Vec<Thread> = self
            .shared
            .lock()
            .idle
            .iter()
            .map(|(_, thread)| thread.clone())
            .collect();
        for thread in idle {
            thread.unpark();
        }
    }
}

/// Worker `index`'s loop: jobs in queue order; `idle` whenever none is
/// waiting, then sleep until a submitter wakes this worker.
fn work<S: WorkerState>(index: usize, shared: &Shared<S>, mut state: S) {
    loop {
        let job = shared.lock().jobs.pop_front();
        if let Some(job) = job {
            job(&mut state);
            state.after_job();
            continue;
        }
        state.idle();
        let idle_peers = {
            let mut queue = shared.lock();
            if !queue.jobs.is_empty() {
                continue;
            }
            if queue.closed {
                return;
            }
            // Listed already when a spurious wake-up brought it back here.
            let listed = queue.idle.iter().any(|(idle, _)| *idle == index);
            let idle_peers = queue.idle.len() - usize::from(listed);
            if !listed {
                queue.idle.push((index, thread::current()));
            }
            idle_peers
        };
        state.before_sleep(idle_peers);
        // A wake-up that came before this park is not lost (the thread
        // keeps the token); a spurious one only loops once more.
        thread::park();
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
