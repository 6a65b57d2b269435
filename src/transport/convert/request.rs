//! Requests: the wire's `ExecutionRequest` as the dispatcher's
//! [`Invocation`] (server side), and a contract call input as the
//! `ExecutionRequest` the gateway would send (client side).

use super::super::proto;
use super::{headers, json_to_struct, optional_struct_to_json};
use crate::contract::{
    CallInput, Exchange, PolicyMetadata, RequestView, ResponseView, SharedContext,
};
use crate::dispatch::Invocation;

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
