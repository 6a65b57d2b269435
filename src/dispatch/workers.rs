//! The sandbox worker threads: a fixed pool fed by one first-in, first-out
//! queue, so calls start in the order they were submitted, across streams.
//!
//! Policy code runs only here, never on the async reactor threads. A call
//! whose submitter has gone away by the time a worker takes it is skipped.

use std::thread;

use crossbeam_channel::{Sender, unbounded};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of named worker threads.
pub struct WorkerPool {
    queue: Option<Sender<Job>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl WorkerPool {
    /// Starts `count` worker threads.
    pub fn new(count: usize) -> Self {
        let (queue, jobs) = unbounded::<Job>();
        let threads = (0..count.max(1))
            .map(|index| {
                let jobs = jobs.clone();
                thread::Builder::new()
                    .name(format!("policy-worker-{index}"))
                    .spawn(move || {
                        for job in jobs {
                            job();
                        }
                    })
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
        F: FnOnce() -> T + Send + 'static,
    {
        let (result, receiver) = oneshot::channel();
        let job: Job = Box::new(move || {
            if result.is_closed() {
                return;
            }
            let _ = result.send(work());
        });
        self.queue
            .as_ref()
            .expect("the queue lives as long as the pool")
            .send(job)
            .expect("workers outlive the pool's queue");
        receiver
    }
}

impl Drop for WorkerPool {
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
        let pool = WorkerPool::new(1);
        let receivers: Vec<_> = (0..50).map(|i| pool.submit(move || i)).collect();
        let order: Vec<i32> = receivers
            .into_iter()
            .map(|r| r.blocking_recv().unwrap())
            .collect();
        assert_eq!(order, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn abandoned_jobs_are_skipped() {
        let pool = WorkerPool::new(1);
        let (gate, wait) = std::sync::mpsc::channel::<()>();
        let blocker = pool.submit(move || wait.recv().ok());
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        drop(pool.submit(move || flag.store(true, std::sync::atomic::Ordering::SeqCst)));
        gate.send(()).unwrap();
        blocker.blocking_recv().unwrap();
        drop(pool);
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }
}
