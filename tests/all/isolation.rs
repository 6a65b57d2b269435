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
