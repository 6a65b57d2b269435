//! The call's input: phase, shared context, policy metadata, the request or
//! response the policy looks at, and params.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A header map as the gateway sends it: one value per name.
pub type Headers = BTreeMap<String, String>;

/// A JSON object (shared metadata, analytics metadata, params).
pub type JsonObject = Map<String, Value>;

/// The phase of the exchange a policy is called for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The request is on its way to the upstream.
    OnRequest,
    /// The upstream's response is on its way to the client.
    OnResponse,
}

impl Phase {
    /// Every phase, in exchange order.
    pub const ALL: [Phase; 2] = [Phase::OnRequest, Phase::OnResponse];

    /// The wire and Python name of the phase (`on_request`, `on_response`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::OnRequest => "on_request",
            Phase::OnResponse => "on_response",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A phase name that is neither `on_request` nor `on_response`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown phase {0:?}: expected \"on_request\" or \"on_response\"")]
pub struct UnknownPhase(pub String);

impl FromStr for Phase {
    type Err = UnknownPhase;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "on_request" => Ok(Phase::OnRequest),
            "on_response" => Ok(Phase::OnResponse),
            other => Err(UnknownPhase(other.to_string())),
        }
    }
}

/// `SharedContext`: per-request data shared by every policy in the chain.
///
/// Serialized (as part of the guest's context JSON) without its empty
/// fields: a missing field has the SDK's default, and every key costs the
/// guest a parse step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SharedContext {
    /// The gateway project.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub project_id: String,
    /// The gateway's id for the client request.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    /// Metadata policies may read and change.
    #[serde(skip_serializing_if = "JsonObject::is_empty")]
    pub metadata: JsonObject,
    /// The API the request is for.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_id: String,
    /// The API's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_name: String,
    /// The API's version.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// The API's kind (REST, …).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_kind: String,
    /// The API's base path.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_context: String,
    /// The matched operation's path template.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub operation_path: String,
    /// What authentication established about the caller.
    #[serde(skip_serializing_if = "Headers::is_empty")]
    pub auth_context: Headers,
}

/// `PolicyMetadata`: where the policy is attached in the gateway config.
/// Serialized without its empty fields, like [`SharedContext`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyMetadata {
    /// The route the policy runs on.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub route_name: String,
    /// The API's id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_id: String,
    /// The API's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_name: String,
    /// The API's version.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// What the policy is attached to (API, operation, …).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub attached_to: String,
}

/// A buffered body. `None` where the gateway sent no body.
pub type Body = Option<Bytes>;

/// What an `on_request` policy sees of the client's request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestView {
    /// Request headers.
    pub headers: Headers,
    /// The body, when the gateway buffered one (`body_present`).
    pub body: Body,
    /// Whether the buffered body is the whole body.
    pub end_of_stream: bool,
    /// Request path including the query.
    pub path: String,
    /// HTTP method.
    pub method: String,
    /// `:authority`.
    pub authority: String,
    /// `http` or `https`.
    pub scheme: String,
}

/// What an `on_response` policy sees of the exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseView {
    /// The original request's headers.
    pub request_headers: Headers,
    /// The original request's body (given to the policy only when non-empty).
    pub request_body: Body,
    /// The original request's path.
    pub request_path: String,
    /// The original request's method.
    pub request_method: String,
    /// The upstream response's headers.
    pub response_headers: Headers,
    /// The upstream response's body, when buffered (`response_body_present`).
    pub response_body: Body,
    /// The upstream response's status.
    pub response_status: i32,
}

impl ResponseView {
    /// The request body as the policy is given it: only when non-empty
    /// (the SDK contract; the wire cannot tell an empty body from none).
    pub fn request_body_for_policy(&self) -> Option<&[u8]> {
        self.request_body.as_deref().filter(|body| !body.is_empty())
    }
}

impl Default for ResponseView {
    fn default() -> Self {
        ResponseView {
            request_headers: Headers::new(),
            request_body: None,
            request_path: String::new(),
            request_method: String::new(),
            response_headers: Headers::new(),
            response_body: None,
            response_status: 200,
        }
    }
}

/// The phase-specific part of a call's context.
#[derive(Debug, Clone, PartialEq)]
pub enum Exchange {
    /// Context for `on_request`.
    Request(RequestView),
    /// Context for `on_response`.
    Response(ResponseView),
}

impl Exchange {
    /// The phase this context belongs to.
    pub fn phase(&self) -> Phase {
        match self {
            Exchange::Request(_) => Phase::OnRequest,
            Exchange::Response(_) => Phase::OnResponse,
        }
    }
}

/// Everything one call of a policy needs.
#[derive(Debug, Clone, PartialEq)]
pub struct CallInput {
    /// The phase to run.
    pub phase: Phase,
    /// The request or response the policy looks at.
    pub exchange: Exchange,
    /// The shared context.
    pub shared: SharedContext,
    /// Where the policy is attached.
    pub policy: PolicyMetadata,
    /// The policy's parameters.
    pub params: JsonObject,
}

impl CallInput {
    /// A request-phase input with nothing in it: what a new store holds
    /// until its call begins.
    pub fn placeholder() -> Self {
        CallInput {
            phase: Phase::OnRequest,
            exchange: Exchange::Request(RequestView::default()),
            shared: SharedContext::default(),
            policy: PolicyMetadata::default(),
            params: JsonObject::new(),
        }
    }

    /// The total body bytes the call carries.
    pub fn body_bytes(&self) -> usize {
        match &self.exchange {
            Exchange::Request(request) => body_len(&request.body),
            Exchange::Response(response) => {
                body_len(&response.request_body) + body_len(&response.response_body)
            }
        }
    }
}

fn body_len(body: &Body) -> usize {
    body.as_ref().map_or(0, Bytes::len)
}
