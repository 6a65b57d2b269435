//! The build marks the snapshot's objects immortal (src/build/immortal.rs):
//! calls see them so, objects a call makes stay mortal, and
//! `--mortal-snapshot` leaves them all mortal.

use policy_host::build::BuildOptions;
use policy_host::contract::CallOutput;
use policy_host::dispatch::load_policy;
use policy_host::sandbox::{LimitOverrides, Limits};
use serde_json::json;

use crate::harness::{harness, params, policy_dir, request, set_header};

fn immortal_request() -> policy_host::contract::CallInput {
    request(Default::default(), None, params(json!({"do": "immortal"})))
}

fn immortality(output: &CallOutput) -> [&str; 4] {
    ["x-module", "x-handler", "x-module-state", "x-call-object"].map(|h| set_header(output, h))
}

#[test]
fn snapshot_objects_are_immortal_and_the_calls_own_are_not() {
    let output = harness().call("probe", immortal_request()).unwrap();
    assert_eq!(immortality(&output), ["True", "True", "True", "False"]);
}

#[test]
fn the_mortal_snapshot_switch_leaves_every_object_mortal() {
    let h = harness();
    let options = BuildOptions {
        mortal_snapshot: true,
        ..BuildOptions::default()
    };
    let wasm = h
        .try_build_with(&policy_dir("probe"), options)
        .expect("building the probe with a mortal snapshot");
    let loaded = load_policy(
        &h.engine,
        &h.cache,
        &wasm,
        "probe (mortal snapshot)",
        Limits::default(),
        LimitOverrides::default(),
    )
    .expect("loading it");
    let output = loaded.policy.call(&h.engine, immortal_request()).unwrap();
    assert_eq!(immortality(&output), ["False", "False", "False", "False"]);
}
