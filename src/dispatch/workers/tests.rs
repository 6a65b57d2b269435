//! Tests of `workers`.

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
