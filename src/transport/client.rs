//! A client for the executor service: the `call` subcommand, the tests and
//! the load benchmark use it to speak the same wire contract as the gateway.

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

use super::convert::{json_to_struct, optional_struct_to_json};
use super::proto;
use super::proto::python_executor_service_client::PythonExecutorServiceClient;
use super::server::MAX_MESSAGE_BYTES;
use crate::call::{CallInput, Exchange};

/// A channel to a server's Unix socket (for any service on it).
pub async fn connect_channel(socket: &Path) -> Result<Channel, tonic::transport::Error> {
    let socket: PathBuf = socket.to_path_buf();
    // The URI is required by the API but unused: the connector dials the socket.
    Endpoint::from_static("http://policy-host.invalid")
        .connect_with_connector(tower::service_fn(move |_| {
            let socket = socket.clone();
            async move {
                tokio::net::UnixStream::connect(socket)
                    .await
                    .map(TokioIo::new)
            }
        }))
        .await
}

/// An executor client on a server's Unix socket.
pub async fn connect_unix(
    socket: &Path,
) -> Result<PythonExecutorServiceClient<Channel>, tonic::transport::Error> {
    let channel = connect_channel(socket).await?;
    Ok(PythonExecutorServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

/// The wire request for `input`, as the gateway would send it.
pub fn request_to_proto(
    request_id: &str,
    policy_name: &str,
    policy_version: &str,
    input: &CallInput,
) -> proto::ExecutionRequest {
    use proto::execution_request::Context;
    let context = match &input.exchange {
        Exchange::Request(view) => Context::RequestContext(proto::RequestContext {
            headers: view.headers.clone().into_iter().collect(),
            body_present: view.body.is_some(),
            body: view.body.clone().unwrap_or_default(),
            end_of_stream: view.end_of_stream,
            path: view.path.clone(),
            method: view.method.clone(),
            authority: view.authority.clone(),
            scheme: view.scheme.clone(),
        }),
        Exchange::Response(view) => Context::ResponseContext(proto::ResponseContext {
            request_headers: view.request_headers.clone().into_iter().collect(),
            request_body: view.request_body.clone().unwrap_or_default(),
            request_path: view.request_path.clone(),
            request_method: view.request_method.clone(),
            response_headers: view.response_headers.clone().into_iter().collect(),
            response_body_present: view.response_body.is_some(),
            response_body: view.response_body.clone().unwrap_or_default(),
            response_status: view.response_status,
        }),
    };
    let shared = &input.shared;
    proto::ExecutionRequest {
        request_id: request_id.to_string(),
        policy_name: policy_name.to_string(),
        policy_version: policy_version.to_string(),
        phase: input.phase.as_str().to_string(),
        params: Some(json_to_struct(&input.params)),
        context: Some(context),
        shared_context: Some(proto::SharedContext {
            project_id: shared.project_id.clone(),
            request_id: shared.request_id.clone(),
            metadata: Some(json_to_struct(&shared.metadata)),
            api_id: shared.api_id.clone(),
            api_name: shared.api_name.clone(),
            api_version: shared.api_version.clone(),
            api_kind: shared.api_kind.clone(),
            api_context: shared.api_context.clone(),
            operation_path: shared.operation_path.clone(),
            auth_context: shared.auth_context.clone().into_iter().collect(),
        }),
        policy_metadata: Some(proto::PolicyMetadata {
            route_name: input.policy.route_name.clone(),
            api_id: input.policy.api_id.clone(),
            api_name: input.policy.api_name.clone(),
            api_version: input.policy.api_version.clone(),
            attached_to: input.policy.attached_to.clone(),
        }),
    }
}

/// What a wire response says, in call types.
#[derive(Debug, Clone, PartialEq)]
pub enum WireOutcome {
    /// A result: the action (None for pass-through) and updated metadata.
    Done {
        /// The action.
        action: Option<crate::call::Action>,
        /// The updated shared metadata.
        updated_metadata: crate::call::JsonObject,
    },
    /// An `ExecutionError`.
    Failed(proto::ExecutionError),
    /// A response with no result at all (never sent by policy-host).
    Empty,
}

fn header_changes(
    set: std::collections::HashMap<String, String>,
    remove: Vec<String>,
    append: std::collections::HashMap<String, proto::StringList>,
    analytics: Option<prost_types::Struct>,
) -> crate::call::HeaderChanges {
    crate::call::HeaderChanges {
        set_headers: set.into_iter().collect(),
        remove_headers: remove,
        append_headers: append
            .into_iter()
            .map(|(name, list)| (name, list.values))
            .collect(),
        analytics_metadata: optional_struct_to_json(analytics.as_ref()),
    }
}

/// Decodes a wire response back into call types (the inverse of
/// `convert::success`), honouring the `*_present` flags.
pub fn decode_response(response: proto::ExecutionResponse) -> WireOutcome {
    use crate::call::{Action, ImmediateResponse, RequestChanges, ResponseChanges};
    use proto::execution_response::Result as Wire;
    use proto::request_action_result::Action as RequestWire;
    use proto::response_action_result::Action as ResponseWire;
    let updated_metadata = optional_struct_to_json(response.updated_metadata.as_ref());
    let action = match response.result {
        None => return WireOutcome::Empty,
        Some(Wire::Error(error)) => return WireOutcome::Failed(error),
        Some(Wire::RequestResult(result)) => match result.action {
            None => None,
            Some(RequestWire::ContinueRequest(m)) => {
                Some(Action::ContinueRequest(RequestChanges {
                    headers: header_changes(
                        m.set_headers,
                        m.remove_headers,
                        m.append_headers,
                        m.analytics_metadata,
                    ),
                    body: m.body_present.then_some(m.body),
                    path: m.path_present.then_some(m.path),
                    method: m.method_present.then_some(m.method),
                }))
            }
            Some(RequestWire::ImmediateResponse(r)) => {
                Some(Action::ImmediateResponse(ImmediateResponse {
                    status_code: r.status_code,
                    headers: r.headers.into_iter().collect(),
                    body: Some(r.body),
                    analytics_metadata: optional_struct_to_json(r.analytics_metadata.as_ref()),
                }))
            }
        },
        Some(Wire::ResponseResult(result)) => match result.action {
            None => None,
            Some(ResponseWire::ContinueResponse(m)) => {
                Some(Action::ContinueResponse(ResponseChanges {
                    headers: header_changes(
                        m.set_headers,
                        m.remove_headers,
                        m.append_headers,
                        m.analytics_metadata,
                    ),
                    body: m.body_present.then_some(m.body),
                    status_code: m.status_code_present.then_some(m.status_code),
                }))
            }
        },
    };
    WireOutcome::Done {
        action,
        updated_metadata,
    }
}
