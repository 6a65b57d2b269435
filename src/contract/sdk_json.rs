//! The guest contract in the SDK's field names, as JSON files: the context
//! file `run` and `call` read, and the action `run` prints.
//!
//! Bytes are written as a UTF-8 string when they are valid UTF-8, else as
//! `{"base64": "…"}`; both forms are accepted on input.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Action, CallInput, CallOutput, Exchange, HeaderChanges, Headers, JsonObject, Phase,
    PolicyMetadata, RequestView, ResponseView, SharedContext,
};

/// A body in a context file: text, or `{"base64": "…"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum BodyJson {
    /// UTF-8 text.
    Text(String),
    /// Arbitrary bytes.
    Base64 {
        /// Standard base64 with padding.
        base64: String,
    },
}

impl BodyJson {
    /// The bytes this body stands for.
    pub fn into_bytes(self) -> Result<Bytes, String> {
        match self {
            BodyJson::Text(text) => Ok(Bytes::from(text)),
            BodyJson::Base64 { base64 } => BASE64
                .decode(base64.as_bytes())
                .map(Bytes::from)
                .map_err(|error| format!("body is not valid base64: {error}")),
        }
    }
}

/// A context file: the SDK's field names for either phase.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextFile {
    headers: Headers,
    path: String,
    method: String,
    authority: String,
    scheme: String,
    body: Option<BodyJson>,
    end_of_stream: Option<bool>,
    request_headers: Headers,
    request_path: String,
    request_method: String,
    request_body: Option<BodyJson>,
    response_headers: Headers,
    response_status: Option<i32>,
    response_body: Option<BodyJson>,
    shared: SharedContext,
    policy_metadata: PolicyMetadata,
}

fn bytes(body: Option<BodyJson>) -> Result<Option<Bytes>, String> {
    body.map(BodyJson::into_bytes).transpose()
}

impl ContextFile {
    /// The call input for `phase` with `params`.
    pub fn into_input(self, phase: Phase, params: JsonObject) -> Result<CallInput, String> {
        let exchange = match phase {
            Phase::OnRequest => Exchange::Request(RequestView {
                headers: self.headers,
                body: bytes(self.body)?,
                end_of_stream: self.end_of_stream.unwrap_or(true),
                path: self.path,
                method: self.method,
                authority: self.authority,
                scheme: self.scheme,
            }),
            Phase::OnResponse => Exchange::Response(ResponseView {
                request_headers: self.request_headers,
                request_body: bytes(self.request_body)?,
                request_path: self.request_path,
                request_method: self.request_method,
                response_headers: self.response_headers,
                response_body: bytes(self.response_body)?,
                response_status: self.response_status.unwrap_or(200),
            }),
        };
        Ok(CallInput {
            phase,
            exchange,
            shared: self.shared,
            policy: self.policy_metadata,
            params,
        })
    }
}

/// What a policy sees of `input`'s context, in SDK names: the SDK class
/// (`class`) and its fields, each body as `{content, end_of_stream,
/// present}` or `null`. Shared-context fields at their SDK default are left
/// out. The native CPython reference of `bench` builds its SDK objects from
/// this; the contract fixtures pin it.
pub fn sdk_view(input: &CallInput) -> Value {
    let shared = json!(input.shared);
    match &input.exchange {
        Exchange::Request(view) => json!({
            "class": "RequestContext",
            "shared": shared,
            "headers": view.headers,
            "body": sdk_body(view.body.as_deref(), view.end_of_stream),
            "path": view.path,
            "method": view.method,
            "authority": view.authority,
            "scheme": view.scheme,
        }),
        Exchange::Response(view) => json!({
            "class": "ResponseContext",
            "shared": shared,
            "request_headers": view.request_headers,
            "request_body": sdk_body(view.request_body_for_policy(), true),
            "request_path": view.request_path,
            "request_method": view.request_method,
            "response_headers": view.response_headers,
            "response_body": sdk_body(view.response_body.as_deref(), true),
            "response_status": view.response_status,
        }),
    }
}

fn sdk_body(content: Option<&[u8]>, end_of_stream: bool) -> Value {
    content.map_or(Value::Null, |content| {
        json!({"content": bytes_json(content), "end_of_stream": end_of_stream, "present": true})
    })
}

/// Bytes as a UTF-8 string when possible, else `{"base64": …}`.
pub fn bytes_json(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_string()),
        Err(_) => json!({ "base64": BASE64.encode(bytes) }),
    }
}

fn optional_bytes(bytes: &Option<Bytes>) -> Value {
    bytes.as_deref().map_or(Value::Null, bytes_json)
}

fn header_fields(changes: &HeaderChanges) -> serde_json::Map<String, Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("set_headers".into(), json!(changes.set_headers));
    fields.insert("remove_headers".into(), json!(changes.remove_headers));
    fields.insert("append_headers".into(), json!(changes.append_headers));
    fields.insert(
        "analytics_metadata".into(),
        Value::Object(changes.analytics_metadata.clone()),
    );
    fields
}

/// The action in SDK field names, with its `type`.
pub fn action_json(action: &Action) -> Value {
    match action {
        Action::ContinueRequest(changes) => {
            let mut fields = header_fields(&changes.headers);
            fields.insert("type".into(), json!("UpstreamRequestModifications"));
            fields.insert("body".into(), optional_bytes(&changes.body));
            fields.insert("path".into(), json!(changes.path));
            fields.insert("method".into(), json!(changes.method));
            Value::Object(fields)
        }
        Action::ImmediateResponse(response) => json!({
            "type": "ImmediateResponse",
            "status_code": response.status_code,
            "headers": response.headers,
            "body": optional_bytes(&response.body),
            "analytics_metadata": response.analytics_metadata,
        }),
        Action::ContinueResponse(changes) => {
            let mut fields = header_fields(&changes.headers);
            fields.insert("type".into(), json!("UpstreamResponseModifications"));
            fields.insert("body".into(), optional_bytes(&changes.body));
            fields.insert("status_code".into(), json!(changes.status_code));
            Value::Object(fields)
        }
    }
}

/// What `run` prints for a completed call.
pub fn output_json(output: &CallOutput) -> Value {
    json!({
        "action": output.action.as_ref().map_or(Value::Null, action_json),
        "updated_metadata": output.updated_metadata,
        "stats": output.stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::RequestChanges;

    #[test]
    fn context_file_bodies_accept_text_and_base64() {
        let file: ContextFile = serde_json::from_str(
            r#"{"headers":{"a":"b"},"body":{"base64":"/wA="},"shared":{"request_id":"r"}}"#,
        )
        .unwrap();
        let input = file
            .into_input(Phase::OnRequest, JsonObject::new())
            .unwrap();
        let Exchange::Request(view) = &input.exchange else {
            panic!()
        };
        assert_eq!(view.body.as_deref(), Some(&[0xff, 0x00][..]));
        assert_eq!(input.shared.request_id, "r");
        let file: ContextFile = serde_json::from_str(r#"{"response_body":"hi"}"#).unwrap();
        let input = file
            .into_input(Phase::OnResponse, JsonObject::new())
            .unwrap();
        let Exchange::Response(view) = &input.exchange else {
            panic!()
        };
        assert_eq!(view.response_body.as_deref(), Some(&b"hi"[..]));
        assert_eq!(view.response_status, 200);
    }

    #[test]
    fn unknown_context_fields_are_rejected() {
        assert!(serde_json::from_str::<ContextFile>(r#"{"header":{}}"#).is_err());
    }

    #[test]
    fn actions_print_with_sdk_names_and_readable_bytes() {
        let action = Action::ContinueRequest(RequestChanges {
            body: Some(Bytes::from_static(b"\xff")),
            method: Some("PUT".into()),
            ..Default::default()
        });
        let value = action_json(&action);
        assert_eq!(value["type"], "UpstreamRequestModifications");
        assert_eq!(value["body"]["base64"], "/w==");
        assert_eq!(value["method"], "PUT");
        assert_eq!(value["path"], Value::Null);
        assert_eq!(bytes_json(b"ok"), json!("ok"));
    }
}
