//! What a policy hands back: the action it asked the gateway to take.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{Headers, JsonObject};

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
