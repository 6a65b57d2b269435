//! Responses: a completed call as the wire's `ExecutionResponse` (server
//! side), and a wire response back as contract types (client side).

use std::collections::HashMap;

use prost_types::Struct;

use super::super::proto;
use super::{json_to_struct, optional_struct_to_json};
use crate::contract::{
    Action, CallOutput, HeaderChanges, ImmediateResponse, JsonObject, RequestChanges,
    ResponseChanges,
};
use crate::dispatch::CallError;

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
    phase: crate::contract::Phase,
    output: CallOutput,
) -> Result<proto::ExecutionResponse, CallError> {
    let result = match phase {
        crate::contract::Phase::OnRequest => request_result(output.action)?,
        crate::contract::Phase::OnResponse => response_result(output.action)?,
    };
    Ok(proto::ExecutionResponse {
        request_id,
        result: Some(result),
        updated_metadata: Some(json_to_struct(&output.updated_metadata)),
    })
}

/// What a wire response says, in call types.
#[derive(Debug, Clone, PartialEq)]
pub enum WireOutcome {
    /// A result: the action (None for pass-through) and updated metadata.
    Done {
        /// The action.
        action: Option<Action>,
        /// The updated shared metadata.
        updated_metadata: JsonObject,
    },
    /// An `ExecutionError`.
    Failed(proto::ExecutionError),
    /// A response with no result at all (never sent by policy-host).
    Empty,
}

/// The header part of a wire modification: set, remove, append, analytics.
type WireHeaders = (
    HashMap<String, String>,
    Vec<String>,
    HashMap<String, proto::StringList>,
    Option<Struct>,
);

fn header_changes((set, remove, append, analytics): WireHeaders) -> HeaderChanges {
    HeaderChanges {
        set_headers: set.into_iter().collect(),
        remove_headers: remove,
        append_headers: append
            .into_iter()
            .map(|(name, list)| (name, list.values))
            .collect(),
        analytics_metadata: optional_struct_to_json(analytics.as_ref()),
    }
}

fn request_action(action: proto::request_action_result::Action) -> Action {
    use proto::request_action_result::Action as Wire;
    match action {
        Wire::ContinueRequest(m) => Action::ContinueRequest(RequestChanges {
            headers: header_changes((
                m.set_headers,
                m.remove_headers,
                m.append_headers,
                m.analytics_metadata,
            )),
            body: m.body_present.then_some(m.body),
            path: m.path_present.then_some(m.path),
            method: m.method_present.then_some(m.method),
        }),
        Wire::ImmediateResponse(r) => Action::ImmediateResponse(ImmediateResponse {
            status_code: r.status_code,
            headers: r.headers.into_iter().collect(),
            body: Some(r.body),
            analytics_metadata: optional_struct_to_json(r.analytics_metadata.as_ref()),
        }),
    }
}

fn response_action(action: proto::response_action_result::Action) -> Action {
    let proto::response_action_result::Action::ContinueResponse(m) = action;
    let wire = (
        m.set_headers,
        m.remove_headers,
        m.append_headers,
        m.analytics_metadata,
    );
    Action::ContinueResponse(ResponseChanges {
        headers: header_changes(wire),
        body: m.body_present.then_some(m.body),
        status_code: m.status_code_present.then_some(m.status_code),
    })
}

/// Decodes a wire response back into contract types (the inverse of
/// [`success`]), honouring the `*_present` flags.
pub fn decode_response(response: proto::ExecutionResponse) -> WireOutcome {
    use proto::execution_response::Result as Wire;
    let updated_metadata = optional_struct_to_json(response.updated_metadata.as_ref());
    let action = match response.result {
        None => return WireOutcome::Empty,
        Some(Wire::Error(error)) => return WireOutcome::Failed(error),
        Some(Wire::RequestResult(result)) => result.action.map(request_action),
        Some(Wire::ResponseResult(result)) => result.action.map(response_action),
    };
    WireOutcome::Done {
        action,
        updated_metadata,
    }
}
