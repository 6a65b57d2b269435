//! Every call starts from the same snapshot: no state survives a call.

use std::collections::HashSet;

use serde_json::json;

use crate::harness::{
    assert_unseen, counter_request, harness, params, random_request, request, set_header,
};

#[test]
fn module_globals_reset_on_every_call() {
    let h = harness();
    for secret in ["tenant-a-secret", "tenant-b-secret", "tenant-c-secret"] {
        let output = h.call("probe", counter_request(secret)).unwrap();
        assert_eq!(set_header(&output, "x-counter"), "1");
        // Only this call's request data is visible: nothing from the previous call.
        assert_eq!(set_header(&output, "x-seen"), format!("[\"{secret}\"]"));
    }
}

#[test]
fn random_differs_between_calls() {
    let h = harness();
    let mut seen = HashSet::new();
    for _ in 0..3 {
        let output = h.call("probe", random_request()).unwrap();
        assert_unseen(&mut seen, &output, "x-random");
        assert_unseen(&mut seen, &output, "x-uuid");
    }
}

#[test]
fn every_way_to_the_shared_random_generator_is_fresh_in_each_instance() {
    // The shared generator reseeds on first use (wasm-python/guest/
    // policy_host_random.py): whichever way a call reaches it first,
    // including a function the policy bound at import, the generator must
    // be seeded anew in that instance.
    let h = harness();
    let mut seen = HashSet::new();
    for first in [
        "gauss",
        "getrandbits",
        "choice",
        "getstate",
        "randbytes",
        "random",
    ] {
        for _ in 0..2 {
            let input = params(json!({"do": "random-paths", "first": first}));
            let output = h
                .call("probe", request(Default::default(), None, input))
                .unwrap();
            assert_eq!(
                set_header(&output, "x-stale-at-start"),
                "True",
                "nothing seeds the generator before the policy draws"
            );
            assert_unseen(&mut seen, &output, "x-first");
            // An explicit seed still takes effect at once (CPython's first
            // draw after seed(42)).
            assert_eq!(set_header(&output, "x-seeded"), "0.6394267984578837");
        }
    }
}

#[test]
fn state_does_not_survive_many_dirty_regions() {
    // Each call dirties well over 32 disjoint memory regions (the limit the
    // unpatched PAGEMAP_SCAN reset had); the next fresh instance must still
    // start from the snapshot.
    let h = harness();
    for round in 0..4 {
        let mut input = request(Default::default(), None, params(json!({"do": "dirty"})));
        input.shared.request_id = format!("round-{round}");
        let output = h.call("probe", input).unwrap();
        assert_eq!(
            set_header(&output, "x-marker-on-entry"),
            "pristine",
            "round {round}"
        );
        assert_eq!(set_header(&output, "x-kept"), "60");
    }
}
