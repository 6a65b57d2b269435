//! Link plans and templates (Wasmtime patch 0005): a component's
//! first instantiation works out how each core module's imports are linked
//! and records the imports it built; every later one, in any store and pool
//! slot, copies those and points them at its own instances. A CPython
//! component links ~2,250 function and global imports across its core
//! modules, so a wrongly linked import crashes or corrupts the first
//! cross-module call, long before a policy returns a result.

use std::sync::Barrier;

use policy_host::sandbox::LimitOverrides;

use crate::harness::{counter_request, harness, set_header};

#[test]
fn racing_first_instantiations_and_later_replays_all_link_correctly() {
    let h = harness();
    // Loaded here rather than shared with other tests: a component that has
    // never been instantiated, so it has no link plans yet.
    let probe = h.policy_with("probe", LimitOverrides::default());

    // Two first instantiations at once: both work the plans out, one's are
    // kept, and both instances must link correctly either way.
    let barrier = Barrier::new(2);
    std::thread::scope(|scope| {
        for secret in ["tenant-a", "tenant-b"] {
            let (probe, barrier) = (&probe, &barrier);
            scope.spawn(move || {
                barrier.wait();
                let output = probe.call(&h.engine, counter_request(secret)).unwrap();
                assert_eq!(set_header(&output, "x-counter"), "1");
                assert_eq!(set_header(&output, "x-seen"), format!("[\"{secret}\"]"));
            });
        }
    });

    // Later instantiations: three instances alive at once, so in three
    // different pool slots with their own addresses, each linked from the
    // kept template (the plans' replay when a template cannot be used).
    let ready: Vec<_> = (0..3).map(|_| probe.prepare(&h.engine).unwrap()).collect();
    for (round, ready) in ready.into_iter().enumerate() {
        let secret = format!("replay-{round}");
        let (result, spent) = probe.call_ready(&h.engine, ready, counter_request(&secret));
        drop(spent);
        let output = result.unwrap();
        assert_eq!(set_header(&output, "x-counter"), "1", "round {round}");
        assert_eq!(set_header(&output, "x-seen"), format!("[\"{secret}\"]"));
    }
}
