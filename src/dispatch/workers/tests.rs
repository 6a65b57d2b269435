//! Tests of `workers`.

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

/// A worker that knows its index.
struct Named(usize);

impl WorkerState for Named {}

#[test]
fn the_most_recently_idle_worker_takes_the_next_job() {
    let pool = WorkerPool::new(3, Named);
    let last_idle = *pool.wait_until_all_idle().last().unwrap();
    for round in 0..10 {
        let ran_on = pool
            .submit(|state: &mut Named| state.0)
            .blocking_recv()
            .unwrap();
        assert_eq!(ran_on, last_idle, "round {round}");
        assert_eq!(pool.wait_until_all_idle().last(), Some(&last_idle));
    }
}

#[test]
fn queued_jobs_finish_when_the_pool_is_dropped() {
    let pool = WorkerPool::new(2, |_| ());
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

/// Reports the idle peers it sees before its first sleep.
struct FirstSleep(Option<std::sync::mpsc::Sender<usize>>);

impl WorkerState for FirstSleep {
    fn before_sleep(&mut self, idle_peers: usize) {
        if let Some(report) = self.0.take() {
            let _ = report.send(idle_peers);
        }
    }
}

#[test]
fn a_worker_going_to_sleep_is_told_how_many_others_sleep() {
    let (report, reported) = std::sync::mpsc::channel();
    let pool = WorkerPool::new(3, |_| FirstSleep(Some(report.clone())));
    pool.wait_until_all_idle();
    let mut seen: Vec<usize> = (0..3)
        .map(|_| {
            reported
                .recv_timeout(std::time::Duration::from_secs(30))
                .unwrap()
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [0, 1, 2],
        "each worker counts the ones asleep before it"
    );
}

#[test]
fn a_job_wakes_a_preferred_worker_when_one_sleeps() {
    let pool = WorkerPool::new(3, Named);
    let last_idle = *pool.wait_until_all_idle().last().unwrap();
    let preferred = (last_idle + 1) % 3;
    for round in 0..10 {
        let ran_on = pool
            .submit_to(&[preferred], |state: &mut Named| state.0)
            .blocking_recv()
            .unwrap();
        assert_eq!(ran_on, preferred, "round {round}");
        pool.wait_until_all_idle();
    }
}
