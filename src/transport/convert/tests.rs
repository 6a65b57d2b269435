//! Tests of `convert`.

use super::*;
use crate::contract::{
    Action, CallOutput, CallStats, Exchange, Phase, RequestChanges, ResponseChanges, SharedContext,
};
use crate::transport::proto;
use bytes::Bytes;
use proto::execution_request::Context;
use serde_json::json;

fn number(n: f64) -> ProtoValue {
    ProtoValue {
        kind: Some(Kind::NumberValue(n)),
    }
}

#[test]
fn struct_numbers_become_floats_and_back() {
    let object = Struct {
        fields: [("n".to_string(), number(3.0))].into_iter().collect(),
    };
    let json = struct_to_json(&object);
    assert_eq!(json["n"], json!(3.0));
    assert!(json["n"].is_f64());
    let back = json_to_struct(
        &json!({"i": 2, "s": "x", "l": [true, null]})
            .as_object()
            .unwrap()
            .clone(),
    );
    assert_eq!(back.fields["i"], number(2.0));
    assert_eq!(value_to_json(&number(f64::NAN)), Value::Null);
}

#[test]
fn deep_structs_are_cut_not_overflowed() {
    let mut value = number(1.0);
    for _ in 0..10_000 {
        value = ProtoValue {
            kind: Some(Kind::ListValue(ListValue {
                values: vec![value],
            })),
        };
    }
    let json = value_to_json(&value);
    let mut depth = 0;
    let mut cursor = &json;
    while let Value::Array(items) = cursor {
        depth += 1;
        cursor = &items[0];
    }
    assert!(depth <= MAX_STRUCT_DEPTH + 1);
    // Dropping the deep proto value must not overflow either.
    std::mem::forget(value);
}

#[test]
fn request_bodies_follow_the_present_flag() {
    let request = |present| proto::ExecutionRequest {
        context: Some(Context::RequestContext(proto::RequestContext {
            body: Bytes::new(),
            body_present: present,
            ..Default::default()
        })),
        ..Default::default()
    };
    let Some(Exchange::Request(view)) = invocation(request(true)).exchange else {
        panic!()
    };
    assert_eq!(view.body, Some(Bytes::new()));
    let Some(Exchange::Request(view)) = invocation(request(false)).exchange else {
        panic!()
    };
    assert_eq!(view.body, None);
    assert_eq!(
        invocation(proto::ExecutionRequest::default()).exchange,
        None
    );
}

#[test]
fn missing_optional_messages_become_defaults() {
    let call = invocation(proto::ExecutionRequest {
        phase: "on_request".into(),
        ..Default::default()
    });
    assert_eq!(call.shared, SharedContext::default());
    assert!(call.params.is_empty());
}

fn output(action: Option<Action>) -> CallOutput {
    CallOutput {
        action,
        updated_metadata: json!({"k": 1}).as_object().unwrap().clone(),
        stats: CallStats::default(),
    }
}

#[test]
fn none_is_an_empty_result_of_the_phase() {
    let response = success("r".into(), Phase::OnRequest, output(None)).unwrap();
    let Some(proto::execution_response::Result::RequestResult(result)) = response.result else {
        panic!()
    };
    assert_eq!(result.action, None);
    assert_eq!(response.updated_metadata.unwrap().fields["k"], number(1.0));
    let response = success("r".into(), Phase::OnResponse, output(None)).unwrap();
    assert!(
        matches!(response.result, Some(proto::execution_response::Result::ResponseResult(ref r)) if r.action.is_none())
    );
}

/// The request-phase action a response carries.
fn request_action(response: proto::ExecutionResponse) -> proto::request_action_result::Action {
    match response.result {
        Some(proto::execution_response::Result::RequestResult(proto::RequestActionResult {
            action: Some(action),
        })) => action,
        other => panic!("expected a request action, got {other:?}"),
    }
}

#[test]
fn present_flags_mark_what_the_policy_set() {
    let changes = RequestChanges {
        body: Some(Bytes::new()),
        method: Some("PUT".into()),
        ..Default::default()
    };
    let response = success(
        "r".into(),
        Phase::OnRequest,
        output(Some(Action::ContinueRequest(changes))),
    )
    .unwrap();
    let wire = request_action(response);
    let proto::request_action_result::Action::ContinueRequest(wire) = wire else {
        panic!("{wire:?}")
    };
    assert!(wire.body_present && wire.body.is_empty());
    assert!(wire.method_present && wire.method == "PUT");
    assert!(!wire.path_present);

    let changes = ResponseChanges {
        status_code: Some(0),
        ..Default::default()
    };
    let response = success(
        "r".into(),
        Phase::OnResponse,
        output(Some(Action::ContinueResponse(changes))),
    )
    .unwrap();
    let Some(proto::execution_response::Result::ResponseResult(proto::ResponseActionResult {
        action: Some(proto::response_action_result::Action::ContinueResponse(wire)),
    })) = response.result
    else {
        panic!()
    };
    assert!(wire.status_code_present && wire.status_code == 0);
    assert!(!wire.body_present);
}

/// SPEC §1: the wire carries analytics only when the policy set some.
#[test]
fn analytics_metadata_is_sent_only_when_set() {
    let wire_analytics = |changes: RequestChanges| {
        let response = success(
            "r".into(),
            Phase::OnRequest,
            output(Some(Action::ContinueRequest(changes))),
        )
        .unwrap();
        let proto::request_action_result::Action::ContinueRequest(wire) = request_action(response)
        else {
            panic!()
        };
        wire.analytics_metadata
    };
    assert_eq!(wire_analytics(RequestChanges::default()), None);
    let mut changes = RequestChanges::default();
    changes.headers.analytics_metadata = json!({"score": 1}).as_object().unwrap().clone();
    let set = wire_analytics(changes).expect("set analytics reach the wire");
    assert_eq!(set.fields["score"], number(1.0));
    let immediate = success(
        "r".into(),
        Phase::OnRequest,
        output(Some(Action::ImmediateResponse(Default::default()))),
    )
    .unwrap();
    let proto::request_action_result::Action::ImmediateResponse(wire) = request_action(immediate)
    else {
        panic!()
    };
    assert_eq!(wire.analytics_metadata, None);
}

#[test]
fn an_action_of_the_other_phase_is_an_internal_error_not_a_panic() {
    let error = success(
        "r".into(),
        Phase::OnRequest,
        output(Some(Action::ContinueResponse(ResponseChanges::default()))),
    )
    .unwrap_err();
    assert_eq!(
        crate::transport::status::error_type(&error),
        "internal_error"
    );
    assert!(error.to_string().contains("on_request"), "{error}");
    let error = success(
        "r".into(),
        Phase::OnResponse,
        output(Some(Action::ContinueRequest(RequestChanges::default()))),
    )
    .unwrap_err();
    assert!(error.to_string().contains("on_response"), "{error}");
}
