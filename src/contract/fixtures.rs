//! The contract's golden fixtures (`tests/fixtures/contract.json`) against
//! the host's codecs: context file → guest context JSON, and guest action
//! JSON → the action `run` prints; context file → the SDK view the native
//! reference builds its objects from. The same file drives the glue and SDK in
//! real Wasmtime (`tests/all/contract.rs`).

use serde_json::Value;

use super::sdk_json::{BodyJson, ContextFile, action_json, sdk_view};
use super::{JsonObject, Phase, guest_json};

const FIXTURES: &str = include_str!("../../tests/fixtures/contract.json");

fn cases(kind: &str) -> Vec<Value> {
    let all: Value = serde_json::from_str(FIXTURES).expect("the fixture file is JSON");
    all[kind].as_array().expect("a list of cases").clone()
}

fn phase(case: &Value) -> Phase {
    case["phase"].as_str().unwrap().parse().unwrap()
}

#[test]
fn every_context_case_gives_the_guest_its_json() {
    let cases = cases("contexts");
    assert!(cases.len() >= 5);
    for case in cases {
        let name = &case["name"];
        let file: ContextFile = serde_json::from_value(case["context"].clone())
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let input = file.into_input(phase(&case), JsonObject::new()).unwrap();
        let json = guest_json::context_json(&input);
        let sent: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(sent, case["guest_json"], "{name}");
        assert_eq!(
            sdk_view(&input),
            without_shared_defaults(&case["sdk"]),
            "{name}"
        );
    }
}

/// A fixture's SDK view without the shared-context fields at their SDK
/// default, which [`sdk_view`] leaves out.
fn without_shared_defaults(view: &Value) -> Value {
    let mut view = view.clone();
    let shared = view["shared"].as_object_mut().expect("a shared context");
    shared.retain(|_, value| {
        !matches!(value, Value::String(s) if s.is_empty()) && value != &serde_json::json!({})
    });
    view
}

/// The body the SDK object of an action case carries, as the host gets it.
fn action_body(case: &Value) -> Option<Vec<u8>> {
    let body = case["sdk"].get("body")?;
    let body: BodyJson = serde_json::from_value(body.clone()).unwrap();
    Some(body.into_bytes().unwrap().to_vec())
}

#[test]
fn every_action_case_decodes_to_what_run_prints() {
    let cases = cases("actions");
    assert!(cases.len() >= 5);
    for case in cases {
        let name = &case["name"];
        let json = case["guest_json"].to_string();
        let action = guest_json::parse_action(&json, action_body(&case), phase(&case))
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let printed = action.as_ref().map_or(Value::Null, action_json);
        assert_eq!(printed, case["action"], "{name}");
    }
}

#[test]
fn every_action_case_is_refused_in_the_other_phase() {
    for case in cases("actions") {
        if case["guest_json"].is_null() {
            continue;
        }
        let other = match phase(&case) {
            Phase::OnRequest => Phase::OnResponse,
            Phase::OnResponse => Phase::OnRequest,
        };
        let json = case["guest_json"].to_string();
        let error = guest_json::parse_action(&json, None, other).unwrap_err();
        assert!(error.contains("other phase"), "{}: {error}", case["name"]);
    }
}
