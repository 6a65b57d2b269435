use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use super::*;

/// An entry whose load always fails with `transient`, and how many times
/// it was tried.
fn failing(transient: bool) -> (Arc<PolicyEntry>, Arc<AtomicUsize>) {
    let tries = Arc::new(AtomicUsize::new(0));
    let counted = tries.clone();
    let load: Load = Box::new(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        Err(LoadFailure {
            message: "no".into(),
            transient,
        })
    });
    let entry = PolicyEntry::lazy("p@v1".into(), load, EntryMeta::default());
    (entry, tries)
}

#[test]
fn a_lasting_failure_is_remembered_and_not_tried_again() {
    let (entry, tries) = failing(false);
    let residency = Residency::new(4);
    let all = [entry.clone()];
    for _ in 0..3 {
        let error = residency.get(&entry, &all).err().unwrap();
        assert!(!error.transient);
    }
    assert_eq!(tries.load(Ordering::SeqCst), 1);
}

#[test]
fn a_busy_host_is_not_remembered_and_the_next_call_tries_again() {
    let (entry, tries) = failing(true);
    let residency = Residency::new(4);
    let all = [entry.clone()];
    for _ in 0..3 {
        let error = residency.get(&entry, &all).err().unwrap();
        assert!(error.transient, "{error}");
    }
    assert_eq!(tries.load(Ordering::SeqCst), 3);
    assert_eq!(residency.resident(), 0);
}

/// A lazy entry whose load signals `started`, then waits for `finish`
/// before failing for a lasting cause; and how many times it was tried.
fn held_load(
    started: mpsc::Sender<()>,
    finish: mpsc::Receiver<()>,
) -> (Arc<PolicyEntry>, Arc<AtomicUsize>) {
    let tries = Arc::new(AtomicUsize::new(0));
    let counted = tries.clone();
    let (started, finish) = (Mutex::new(started), Mutex::new(finish));
    let load: Load = Box::new(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        started.lock().unwrap().send(()).unwrap();
        finish.lock().unwrap().recv().unwrap();
        Err(LoadFailure::lasting("the component is broken"))
    });
    let entry = PolicyEntry::lazy("p@v1".into(), load, EntryMeta::default());
    (entry, tries)
}

/// How long the test waits for an answer that must not wait for the load:
/// a bound on a hang, not a speed.
const HANG: Duration = Duration::from_secs(60);

#[test]
fn a_load_in_progress_keeps_no_one_from_looking_at_the_entry() {
    let (started_tx, started) = mpsc::channel();
    let (finish, finish_rx) = mpsc::channel();
    let (entry, tries) = held_load(started_tx, finish_rx);
    let residency = Arc::new(Residency::new(4));
    let all: Arc<[Arc<PolicyEntry>]> = Arc::new([entry.clone()]);
    let getter = |residency: Arc<Residency>, all: Arc<[Arc<PolicyEntry>]>| {
        let entry = all[0].clone();
        thread::spawn(move || residency.get(&entry, &all).err().unwrap())
    };
    let first = getter(residency.clone(), all.clone());
    started.recv_timeout(HANG).expect("the load started");
    // A second call for the same policy waits for the one load running.
    let second = getter(residency.clone(), all.clone());
    // The dispatcher's look at the entry and an eviction's scan answer
    // while the load runs (the load only ends after they did).
    let (seen_tx, seen) = mpsc::channel();
    let looking = entry.clone();
    thread::spawn(move || {
        seen_tx.send(looking.if_loaded().is_none()).unwrap();
        residency.recount(&[looking]);
        seen_tx.send(true).unwrap();
    });
    assert!(
        seen.recv_timeout(HANG)
            .expect("if_loaded waited for the load")
    );
    assert!(
        seen.recv_timeout(HANG)
            .expect("recount waited for the load")
    );
    finish.send(()).unwrap();
    for call in [first, second] {
        let error = call.join().unwrap();
        assert_eq!(error.message, "the component is broken");
    }
    assert_eq!(tries.load(Ordering::SeqCst), 1, "one load for both calls");
}
