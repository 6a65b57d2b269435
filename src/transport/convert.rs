//! Proto ⇄ call-type translation, with the exact semantics of SPEC §1–2:
//! `*_present` flags, `None` → an empty result, Struct numbers as floats,
//! `updated_metadata` always sent.

use std::collections::HashMap;

use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value as ProtoValue};
use serde_json::{Map, Number, Value};

use super::proto;
use crate::call::{
    Action, CallOutput, Exchange, HeaderChanges, Headers, JsonObject, PolicyMetadata, RequestView,
    ResponseView, SharedContext,
};
use crate::dispatch::Invocation;
use crate::error::CallError;

/// Nesting beyond which Struct values are cut (to `null`) when converted.
const MAX_STRUCT_DEPTH: usize = 64;

/// A protobuf `Value` as JSON. Numbers stay floats, as the old executor gave
/// them; NaN and infinities (which JSON lacks) become `null`.
pub fn value_to_json(value: &ProtoValue) -> Value {
    value_to_json_at(value, 0)
}

fn value_to_json_at(value: &ProtoValue, depth: usize) -> Value {
    if depth > MAX_STRUCT_DEPTH {
        return Value::Null;
    }
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(number)) => {
            Number::from_f64(*number).map_or(Value::Null, Value::Number)
        }
        Some(Kind::StringValue(text)) => Value::String(text.clone()),
        Some(Kind::BoolValue(flag)) => Value::Bool(*flag),
        Some(Kind::StructValue(object)) => Value::Object(struct_to_json_at(object, depth + 1)),
        Some(Kind::ListValue(list)) => Value::Array(
            list.values
                .iter()
                .map(|item| value_to_json_at(item, depth + 1))
                .collect(),
        ),
    }
}

/// A protobuf `Struct` as a JSON object.
pub fn struct_to_json(object: &Struct) -> JsonObject {
    struct_to_json_at(object, 0)
}

/// [`struct_to_json`] of an optional message field; absent is `{}`.
pub fn optional_struct_to_json(object: Option<&Struct>) -> JsonObject {
    object.map(struct_to_json).unwrap_or_default()
}

fn struct_to_json_at(object: &Struct, depth: usize) -> JsonObject {
    object
        .fields
        .iter()
        .map(|(key, value)| (key.clone(), value_to_json_at(value, depth)))
        .collect()
}

/// JSON as a protobuf `Value` (every number becomes a double).
pub fn json_to_value(value: &Value) -> ProtoValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(flag) => Kind::BoolValue(*flag),
        Value::Number(number) => Kind::NumberValue(number.as_f64().unwrap_or(0.0)),
        Value::String(text) => Kind::StringValue(text.clone()),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(json_to_value).collect(),
        }),
        Value::Object(object) => Kind::StructValue(json_to_struct(object)),
    };
    ProtoValue { kind: Some(kind) }
}

/// A JSON object as a protobuf `Struct`.
pub fn json_to_struct(object: &Map<String, Value>) -> Struct {
    Struct {
        fields: object
            .iter()
            .map(|(key, value)| (key.clone(), json_to_value(value)))
            .collect(),
    }
}

fn headers(map: HashMap<String, String>) -> Headers {
    map.into_iter().collect()
}

fn shared(context: Option<proto::SharedContext>) -> SharedContext {
    let context = context.unwrap_or_default();
    SharedContext {
        project_id: context.project_id,
        request_id: context.request_id,
        metadata: optional_struct_to_json(context.metadata.as_ref()),
        api_id: context.api_id,
        api_name: context.api_name,
        api_version: context.api_version,
        api_kind: context.api_kind,
        api_context: context.api_context,
        operation_path: context.operation_path,
        auth_context: headers(context.auth_context),
    }
}

fn policy_metadata(metadata: Option<proto::PolicyMetadata>) -> PolicyMetadata {
    let metadata = metadata.unwrap_or_default();
    PolicyMetadata {
        route_name: metadata.route_name,
        api_id: metadata.api_id,
        api_name: metadata.api_name,
        api_version: metadata.api_version,
        attached_to: metadata.attached_to,
    }
}

fn exchange(context: proto::execution_request::Context) -> Exchange {
    use proto::execution_request::Context;
    match context {
        Context::RequestContext(request) => Exchange::Request(RequestView {
            headers: headers(request.headers),
            body: request.body_present.then_some(request.body),
            end_of_stream: request.end_of_stream,
            path: request.path,
            method: request.method,
            authority: request.authority,
            scheme: request.scheme,
        }),
        Context::ResponseContext(response) => Exchange::Response(ResponseView {
            request_headers: headers(response.request_headers),
            request_body: Some(response.request_body),
            request_path: response.request_path,
            request_method: response.request_method,
            response_headers: headers(response.response_headers),
            response_body: response
                .response_body_present
                .then_some(response.response_body),
            response_status: response.response_status,
        }),
    }
}

/// The dispatcher's view of a wire request.
pub fn invocation(request: proto::ExecutionRequest) -> Invocation {
    Invocation {
        request_id: request.request_id,
        policy_name: request.policy_name,
        policy_version: request.policy_version,
        phase: request.phase,
        exchange: request.context.map(exchange),
        shared: shared(request.shared_context),
        policy: policy_metadata(request.policy_metadata),
        params: optional_struct_to_json(request.params.as_ref()),
    }
}

fn append_headers(changes: &HeaderChanges) -> HashMap<String, proto::StringList> {
    changes
        .append_headers
        .iter()
        .map(|(name, values)| {
            (
                name.clone(),
                proto::StringList {
                    values: values.clone(),
                },
            )
        })
        .collect()
}

/// The analytics map as the wire carries it: unset unless the policy set
/// some (SPEC §1; the old executor never sends an empty map).
fn analytics(metadata: &JsonObject) -> Option<Struct> {
    (!metadata.is_empty()).then(|| json_to_struct(metadata))
}

fn request_result(action: Option<Action>) -> Result<proto::execution_response::Result, CallError> {
    use proto::request_action_result::Action as Wire;
    let action = match action {
        None => None,
        Some(Action::ContinueRequest(changes)) => {
            Some(Wire::ContinueRequest(proto::UpstreamRequestModifications {
                set_headers: changes.headers.set_headers.clone().into_iter().collect(),
                remove_headers: changes.headers.remove_headers.clone(),
                append_headers: append_headers(&changes.headers),
                body_present: changes.body.is_some(),
                body: changes.body.unwrap_or_default(),
                path_present: changes.path.is_some(),
                path: changes.path.unwrap_or_default(),
                method_present: changes.method.is_some(),
                method: changes.method.unwrap_or_default(),
                analytics_metadata: analytics(&changes.headers.analytics_metadata),
            }))
        }
        Some(Action::ImmediateResponse(response)) => {
            Some(Wire::ImmediateResponse(proto::ImmediateResponseAction {
                status_code: response.status_code,
                headers: response.headers.into_iter().collect(),
                body: response.body.unwrap_or_default(),
                analytics_metadata: analytics(&response.analytics_metadata),
            }))
        }
        Some(other) => return Err(wrong_phase(&other, "on_request")),
    };
    Ok(proto::execution_response::Result::RequestResult(
        proto::RequestActionResult { action },
    ))
}

fn response_result(action: Option<Action>) -> Result<proto::execution_response::Result, CallError> {
    use proto::response_action_result::Action as Wire;
    let action = match action {
        None => None,
        Some(Action::ContinueResponse(changes)) => Some(Wire::ContinueResponse(
            proto::UpstreamResponseModifications {
                set_headers: changes.headers.set_headers.clone().into_iter().collect(),
                remove_headers: changes.headers.remove_headers.clone(),
                append_headers: append_headers(&changes.headers),
                body_present: changes.body.is_some(),
                body: changes.body.unwrap_or_default(),
                status_code_present: changes.status_code.is_some(),
                status_code: changes.status_code.unwrap_or_default(),
                analytics_metadata: analytics(&changes.headers.analytics_metadata),
            },
        )),
        Some(other) => return Err(wrong_phase(&other, "on_response")),
    };
    Ok(proto::execution_response::Result::ResponseResult(
        proto::ResponseActionResult { action },
    ))
}

/// The sandbox checks every action against the call's phase, so this is a
/// bug on our side: reported as an internal error for this one call rather
/// than a panic in the stream's task.
fn wrong_phase(action: &Action, phase: &str) -> CallError {
    let kind = match action {
        Action::ContinueRequest(_) => "continue-request",
        Action::ImmediateResponse(_) => "immediate-response",
        Action::ContinueResponse(_) => "continue-response",
    };
    CallError::Internal(format!(
        "a {kind} action reached the wire encoder for {phase}"
    ))
}

/// The wire response for a completed call of `phase`; an internal error if
/// the action belongs to the other phase (which the sandbox rules out).
pub fn success(
    request_id: String,
    phase: crate::call::Phase,
    output: CallOutput,
) -> Result<proto::ExecutionResponse, CallError> {
    let result = match phase {
        crate::call::Phase::OnRequest => request_result(output.action)?,
        crate::call::Phase::OnResponse => response_result(output.action)?,
    };
    Ok(proto::ExecutionResponse {
        request_id,
        result: Some(result),
        updated_metadata: Some(json_to_struct(&output.updated_metadata)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{CallStats, Phase, RequestChanges, ResponseChanges};
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
            Some(proto::execution_response::Result::RequestResult(
                proto::RequestActionResult {
                    action: Some(action),
                },
            )) => action,
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
            let proto::request_action_result::Action::ContinueRequest(wire) =
                request_action(response)
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
        let proto::request_action_result::Action::ImmediateResponse(wire) =
            request_action(immediate)
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
        assert_eq!(error.error_type(), "internal_error");
        assert!(error.to_string().contains("on_request"), "{error}");
        let error = success(
            "r".into(),
            Phase::OnResponse,
            output(Some(Action::ContinueRequest(RequestChanges::default()))),
        )
        .unwrap_err();
        assert!(error.to_string().contains("on_response"), "{error}");
    }
}
