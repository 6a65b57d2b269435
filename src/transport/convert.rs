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
use crate::dispatch::CallError;
use crate::dispatch::Invocation;

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
mod tests;
