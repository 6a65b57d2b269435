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
//! the coldest caches). Measured end to end at one call in flight: p50
//! 538–542 → 481–492 µs (BENCHMARKS.md, session 6).
//!
//! With a wake slice set, a worker that goes to sleep while at least
//! [`LIGHT_LOAD_IDLE_PEERS`] other workers are idle asks the kernel for that
//! short time slice ([`super::wake_slice`]), and goes back to the default
//! slice when its job is done. At light load the woken worker then
//! preempts another worker's after-call work instead of waiting behind it
//! (one call in flight: p50 −10 to −11 % in two A/B series, −3 % in a
//! busier one); under load no worker asks, because preempting one another
//! there only adds context switches (16 in flight, short slices on every
//! wake-up: −8 % calls/s). BENCHMARKS.md, session 7.

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
mod tests {
    use super::*;

    #[test]
    fn one_worker_runs_jobs_in_submission_order() {
        let pool = WorkerPool::new(1, None, |_| ());
        let receivers: Vec<_> = (0..50).map(|i| pool.submit(move |_| i)).collect();
        let order: Vec<i32> = receivers
            .into_iter()
            .map(|r| r.blocking_recv().unwrap())
            .collect();
        assert_eq!(order, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn abandoned_jobs_are_skipped() {
        let pool = WorkerPool::new(1, None, |_| ());
        let (gate, wait) = std::sync::mpsc::channel::<()>();
        let blocker = pool.submit(move |_| wait.recv().ok());
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        drop(pool.submit(move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst)));
        gate.send(()).unwrap();
        blocker.blocking_recv().unwrap();
        drop(pool);
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }

    /// A worker that knows its index.
    struct Named(usize);

    impl WorkerState for Named {}

    /// Waits until every worker of `pool` is idle; returns them, the most
    /// recently idle last.
    fn wait_until_all_idle<S: WorkerState>(pool: &WorkerPool<S>) -> Vec<usize> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let idle = pool.idle_workers();
            if idle.len() == pool.size() {
                return idle;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "workers never all idle: {idle:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn the_most_recently_idle_worker_takes_the_next_job() {
        let pool = WorkerPool::new(3, None, Named);
        let last_idle = *wait_until_all_idle(&pool).last().unwrap();
        for round in 0..10 {
            let ran_on = pool
                .submit(|state: &mut Named| state.0)
                .blocking_recv()
                .unwrap();
            assert_eq!(ran_on, last_idle, "round {round}");
            assert_eq!(wait_until_all_idle(&pool).last(), Some(&last_idle));
        }
    }

    const SHORT: Duration = Duration::from_micros(100);

    /// Runs a job reporting its worker's thread id and current slice.
    fn slice_seen_by_a_job<S: WorkerState>(pool: &WorkerPool<S>) -> (libc::pid_t, Duration) {
        pool.submit(|_: &mut S| {
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() };
            (tid, super::super::wake_slice::thread_slice(0).unwrap())
        })
        .blocking_recv()
        .unwrap()
    }

    /// Reports the slice its worker has when the after-job hook runs.
    struct SliceAfterJob(std::sync::mpsc::Sender<Duration>);

    impl WorkerState for SliceAfterJob {
        fn after_job(&mut self) {
            let _ = self
                .0
                .send(super::super::wake_slice::thread_slice(0).unwrap());
        }
    }

    #[test]
    fn at_light_load_a_sleeping_worker_holds_the_wake_slice() {
        if !super::super::wake_slice::supported() {
            eprintln!("skipped: this kernel has no per-thread slices (Linux < 6.12)");
            return;
        }
        let default = super::super::wake_slice::thread_slice(0).unwrap();
        let (report, after_job) = std::sync::mpsc::channel();
        // Three workers: the last to sleep sees two idle peers.
        let pool = WorkerPool::new(3, Some(SHORT), |_| SliceAfterJob(report.clone()));
        wait_until_all_idle(&pool);
        let (tid, during_job) = slice_seen_by_a_job(&pool);
        assert_eq!(
            during_job, SHORT,
            "the woken worker runs its job on the short slice"
        );
        let after = after_job.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(after, default, "after-job work runs on the default slice");
        wait_until_all_idle(&pool);
        let asleep = super::super::wake_slice::thread_slice(tid).unwrap();
        assert_eq!(asleep, SHORT);
    }

    #[test]
    fn without_enough_idle_peers_a_worker_keeps_the_default_slice() {
        // Two workers: a sleeping worker sees at most one idle peer.
        let default = super::super::wake_slice::thread_slice(0).unwrap();
        let pool = WorkerPool::new(2, Some(SHORT), |_| ());
        for _ in 0..3 {
            wait_until_all_idle(&pool);
            let (tid, during_job) = slice_seen_by_a_job(&pool);
            assert_eq!(during_job, default);
            wait_until_all_idle(&pool);
            assert_eq!(
                super::super::wake_slice::thread_slice(tid).unwrap(),
                default
            );
        }
    }

    #[test]
    fn queued_jobs_finish_when_the_pool_is_dropped() {
        let pool = WorkerPool::new(2, None, |_| ());
        let receivers: Vec<_> = (0..20)
            .map(|i| {
                pool.submit(move |_| {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    i
                })
            })
            .collect();
        drop(pool);
        let results: Vec<i32> = receivers
            .into_iter()
            .map(|r| r.blocking_recv().unwrap())
            .collect();
        assert_eq!(results, (0..20).collect::<Vec<_>>());
    }

    #[derive(Default)]
    struct Recorder(
        Vec<&'static str>,
        Option<std::sync::mpsc::Sender<Vec<&'static str>>>,
    );

    impl WorkerState for Recorder {
        fn after_job(&mut self) {
            self.0.push("after");
        }
        fn idle(&mut self) {
            self.0.push("idle");
            if self.0.contains(&"after")
                && let Some(report) = self.1.take()
            {
                let _ = report.send(self.0.clone());
            }
        }
    }

    #[test]
    fn hooks_run_after_each_job_and_when_the_queue_is_empty() {
        let (report, reported) = std::sync::mpsc::channel();
        let report = std::sync::Mutex::new(Some(report));
        let pool = WorkerPool::new(1, None, |_| {
            Recorder(Vec::new(), report.lock().unwrap().take())
        });
        let result = pool.submit(|state: &mut Recorder| {
            state.0.push("job");
            7
        });
        assert_eq!(result.blocking_recv().unwrap(), 7);
        let events = reported
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap();
        // The worker may or may not have found the queue empty before the
        // job arrived; after the job, the order is fixed.
        let events = events.strip_prefix(&["idle"]).unwrap_or(&events);
        assert_eq!(events, ["job", "after", "idle"]);
    }
}
