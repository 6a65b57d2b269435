//! The guest contract's golden fixtures (`tests/fixtures/contract.json`)
//! through the real glue and SDK in real Wasmtime: what a policy sees of
//! each context case, and what the host makes of each action case. The
//! host-side codecs are checked against the same file in
//! `src/contract/fixtures.rs`.

use policy_host::contract::sdk_json::{ContextFile, action_json};
use policy_host::contract::{Action, CallInput, JsonObject, Phase};
use serde_json::{Value, json};

use crate::harness::{harness, params};

const FIXTURES: &str = include_str!("../fixtures/contract.json");

fn cases(kind: &str) -> Vec<Value> {
    let all: Value = serde_json::from_str(FIXTURES).unwrap();
    all[kind].as_array().unwrap().clone()
}

fn input(case: &Value, context: Value, params: JsonObject) -> CallInput {
    let phase: Phase = case["phase"].as_str().unwrap().parse().unwrap();
    let file: ContextFile = serde_json::from_value(context).unwrap();
    file.into_input(phase, params).unwrap()
}

/// The body the probe answered a "view" call with.
fn answered_body(action: &Action) -> &[u8] {
    let body = match action {
        Action::ImmediateResponse(response) => &response.body,
        Action::ContinueResponse(changes) => &changes.body,
        Action::ContinueRequest(_) => panic!("the probe answers with a body: {action:?}"),
    };
    body.as_deref().expect("a view in the body")
}

#[test]
fn a_policy_sees_each_fixture_context_as_the_fixture_says() {
    for case in cases("contexts") {
        let name = &case["name"];
        let call = input(
            &case,
            case["context"].clone(),
            params(json!({"do": "view"})),
        );
        let output = harness()
            .call("contract-probe", call)
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let action = output.action.expect("a view");
        let seen: Value = serde_json::from_slice(answered_body(&action)).unwrap();
        assert_eq!(seen, case["sdk"], "{name}");
    }
}

#[test]
fn each_fixture_action_a_policy_returns_reaches_the_host_as_the_fixture_says() {
    for case in cases("actions") {
        let name = &case["name"];
        let described = json!({"do": "action", "action": case["sdk"]});
        let call = input(&case, json!({}), params(described));
        let output = harness()
            .call("contract-probe", call)
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let printed = output.action.as_ref().map_or(Value::Null, action_json);
        assert_eq!(printed, case["action"], "{name}");
    }
}
