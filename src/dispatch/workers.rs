//! The sandbox worker threads: a fixed pool fed by one first-in, first-out
//! queue, so calls start in the order they were submitted, across streams.
//!
//! Policy code runs only here, never on the async reactor threads. A call
//! whose submitter has gone away by the time a worker takes it is skipped.
//! Each worker owns a [`WorkerState`]: after a job's result is sent it gets
//! [`WorkerState::after_job`] (deferred teardown), and whenever the queue is
//! empty [`WorkerState::idle`] (work done ahead, before the worker sleeps).

use std::thread;

use crossbeam_channel::{Receiver, Sender, TryRecvError, unbounded};
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

/// A fixed set of named worker threads.
pub struct WorkerPool<S: WorkerState> {
    queue: Option<Sender<Job<S>>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl<S: WorkerState> WorkerPool<S> {
    /// Starts `count` worker threads, the `index`th owning `state(index)`.
    pub fn new(count: usize, state: impl Fn(usize) -> S) -> Self {
        let (queue, jobs) = unbounded::<Job<S>>();
        let threads = (0..count.max(1))
            .map(|index| {
                let jobs = jobs.clone();
                let state = state(index);
                thread::Builder::new()
                    .name(format!("policy-worker-{index}"))
                    .spawn(move || work(&jobs, state))
                    .expect("spawning a policy worker thread")
            })
            .collect();
        WorkerPool {
            queue: Some(queue),
            threads,
        }
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
        self.queue
            .as_ref()
            .expect("the queue lives as long as the pool")
            .send(job)
            .expect("workers outlive the pool's queue");
        receiver
    }
}

/// One worker's loop: jobs in queue order; `idle` whenever none is waiting.
fn work<S: WorkerState>(jobs: &Receiver<Job<S>>, mut state: S) {
    loop {
        let job = match jobs.try_recv() {
            Ok(job) => job,
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => {
                state.idle();
                match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            }
        };
        job(&mut state);
        state.after_job();
    }
}

impl<S: WorkerState> Drop for WorkerPool<S> {
    fn drop(&mut self) {
        drop(self.queue.take());
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
        let pool = WorkerPool::new(1, |_| ());
        let receivers: Vec<_> = (0..50).map(|i| pool.submit(move |_| i)).collect();
        let order: Vec<i32> = receivers
            .into_iter()
            .map(|r| r.blocking_recv().unwrap())
            .collect();
        assert_eq!(order, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn abandoned_jobs_are_skipped() {
        let pool = WorkerPool::new(1, |_| ());
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
        let pool = WorkerPool::new(1, |_| Recorder(Vec::new(), report.lock().unwrap().take()));
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
