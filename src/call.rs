//! The data one policy call takes and gives, independent of any transport.
//!
//! The gRPC layer translates its messages into these types, the sandbox runs
//! them, and the `run` subcommand reads and prints them as JSON. Field names
//! follow the Python SDK (`sdk/policy.py`) so the context serializes straight
//! into the JSON the guest glue expects.

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

/// Header changes common to request and response modifications.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HeaderChanges {
    /// Headers to set, replacing any value.
    pub set_headers: Headers,
    /// Headers to remove.
    pub remove_headers: Vec<String>,
    /// Values to append to headers.
    pub append_headers: BTreeMap<String, Vec<String>>,
    /// Key/values for the gateway's analytics.
    pub analytics_metadata: JsonObject,
}

/// `UpstreamRequestModifications`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestChanges {
    /// Header and analytics changes.
    pub headers: HeaderChanges,
    /// A new body, when the policy set one (an empty body that was set is `Some`).
    pub body: Option<Bytes>,
    /// A new path, when set.
    pub path: Option<String>,
    /// A new method, when set.
    pub method: Option<String>,
}

/// `ImmediateResponse`: answer the client without calling the upstream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImmediateResponse {
    /// HTTP status.
    pub status_code: i32,
    /// Response headers.
    pub headers: Headers,
    /// Response body, when set.
    pub body: Option<Bytes>,
    /// Key/values for the gateway's analytics.
    pub analytics_metadata: JsonObject,
}

/// `UpstreamResponseModifications`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseChanges {
    /// Header and analytics changes.
    pub headers: HeaderChanges,
    /// A new body, when set.
    pub body: Option<Bytes>,
    /// A new status, when set.
    pub status_code: Option<i32>,
}

/// What a policy asked the gateway to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Continue to the upstream with changes.
    ContinueRequest(RequestChanges),
    /// Answer the client directly.
    ImmediateResponse(ImmediateResponse),
    /// Continue to the client with changes.
    ContinueResponse(ResponseChanges),
}

/// Resource use of one call, for logs and the `run` subcommand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    /// Fuel (roughly, Wasm instructions) the call burned.
    pub fuel_used: u64,
    /// Largest linear-memory size the guest reached.
    pub peak_memory_bytes: u64,
    /// Wall time from new Store to result, in microseconds.
    pub duration_us: u64,
    /// Of which: creating the store and instantiating the component on the
    /// call's path (0 when the instance was made ahead).
    pub instantiate_us: u64,
    /// Whether the (never-used) instance was made ahead, while its worker
    /// was idle, instead of on the call's path.
    pub made_ahead: bool,
    /// Log lines the policy wrote (kept within the per-call cap).
    pub log_lines: u32,
}

impl CallStats {
    /// Adds how the call's instance was made: `on_path` is the time spent
    /// instantiating before the call ran, `None` when it was made ahead.
    pub fn record_instantiation(&mut self, on_path: Option<std::time::Duration>) {
        let us = on_path.map_or(0, micros);
        self.instantiate_us = us;
        self.duration_us += us;
        self.made_ahead = on_path.is_none();
    }
}

/// Whole microseconds in `duration`, saturating (the unit of [`CallStats`]).
pub(crate) fn micros(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The result of a call that completed.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutput {
    /// The action, or `None` for pass-through.
    pub action: Option<Action>,
    /// `ctx.shared.metadata` after the policy ran.
    pub updated_metadata: JsonObject,
    /// What the call cost.
    pub stats: CallStats,
}
