//! The host's JSON codec gives policy code exactly what Python's json
//! gives: the shared fixtures and seeded random values go through
//! json.loads and json.dumps both ways inside a real component.

use policy_host::contract::Headers;
use serde_json::json;

use crate::harness::{harness, params, request};

const FIXTURES: &[u8] = include_bytes!("../fixtures/json_codec.json");

#[test]
fn json_through_the_host_matches_python_s_own() {
    let input = request(
        Headers::new(),
        Some(FIXTURES),
        params(json!({"seed": 11, "random": 400})),
    );
    let output = harness().call("json-codec-check", input).unwrap();
    let metadata = &output.updated_metadata;
    assert_eq!(
        metadata["mismatch_count"],
        json!(0),
        "{:#?}",
        metadata["mismatches"]
    );
    // The host really answered, most of the time (the rest fell back).
    let decodes = metadata["host_decodes"].as_f64().unwrap();
    let encodes = metadata["host_encodes"].as_f64().unwrap();
    assert!(decodes >= 80.0, "host decoded {decodes} of the fixtures");
    assert!(encodes >= 1000.0, "host encoded {encodes} values");
}

/// ~64 KiB of JSON items, as the body benchmarks send.
fn items_body() -> Vec<u8> {
    let body = serde_json::to_vec(&json!({
        "items": (0..2000).map(|i| json!({"id": i, "name": format!("item-{i:08}")})).collect::<Vec<_>>()
    }))
    .unwrap();
    assert!(body.len() > 60_000 && body.len() < 80_000);
    body
}

#[test]
fn decoded_documents_are_kept_to_the_end_of_the_call_within_a_budget() {
    // The glue keeps what json.loads built from up to 1 MiB of text per
    // call, so the throw-away instance never frees it object by object;
    // past that, documents are freed as Python's own json would free them.
    let body = items_body();
    let input = request(Headers::new(), Some(&body), params(json!({"keep": 20})));
    let output = harness().call("json-codec-check", input).unwrap();
    let kept: Vec<bool> = serde_json::from_value(output.updated_metadata["kept"].clone()).unwrap();
    let within_budget = (1 << 20) / body.len();
    assert_eq!(kept.len(), 20);
    assert!(kept[..within_budget].iter().all(|&k| k), "{kept:?}");
    assert!(kept[within_budget..].iter().all(|&k| !k), "{kept:?}");
}

#[test]
fn decoding_in_a_loop_stays_within_the_memory_python_s_json_would_use() {
    // 1,000 decodes of a ~64 KiB body: without the codec's per-call budget
    // the guest would keep ~60 MB of host results and exceed its 64 MiB.
    let body = items_body();
    let input = request(Headers::new(), Some(&body), params(json!({"loop": 1000})));
    let output = harness().call("json-codec-check", input).unwrap();
    assert!(
        output.stats.peak_memory_bytes < 48 << 20,
        "{:?}",
        output.stats
    );
}
