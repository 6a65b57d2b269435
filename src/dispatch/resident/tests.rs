use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
