//! The inputs each sample policy is benchmarked with: small, realistic calls.

use bytes::Bytes;
use serde_json::json;

use crate::contract::{
    CallInput, Exchange, JsonObject, Phase, PolicyMetadata, RequestView, ResponseView,
    SharedContext,
};

/// A policy version no server has: `bench load --transport-only` asks for
/// it so that the dispatcher answers without running a sandbox.
pub const MISSING_VERSION: &str = "v0.0.0-transport-only";

/// One benchmark case.
pub struct Workload {
    /// Policy name.
    pub policy: &'static str,
    /// Policy version.
    pub version: &'static str,
    /// The call.
    pub input: CallInput,
}

fn object(value: serde_json::Value) -> JsonObject {
    value.as_object().cloned().unwrap_or_default()
}

fn headers() -> crate::contract::Headers {
    [
        ("host", "api.example.test"),
        ("user-agent", "bench/1.0"),
        ("accept", "*/*"),
        ("content-type", "application/json"),
        ("x-request-id", "bench-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn shared() -> SharedContext {
    SharedContext {
        request_id: "bench-1".into(),
        api_name: "orders".into(),
        metadata: object(json!({"tenant": "acme"})),
        ..Default::default()
    }
}

fn request(body: Option<&'static [u8]>, params: serde_json::Value) -> CallInput {
    CallInput {
        phase: Phase::OnRequest,
        exchange: Exchange::Request(RequestView {
            headers: headers(),
            body: body.map(Bytes::from_static),
            end_of_stream: true,
            path: "/orders/42".into(),
            method: "POST".into(),
            authority: "api.example.test".into(),
            scheme: "https".into(),
        }),
        shared: shared(),
        policy: PolicyMetadata::default(),
        params: object(params),
    }
}

const ORDER: &[u8] = br#"{"item":"book","quantity":2,"customer":{"id":"c-1","email":"a@example.test"},"note":"leave at door"}"#;

/// The four sample policies' workloads.
pub fn samples() -> Vec<Workload> {
    vec![
        Workload {
            policy: "add-python-header",
            version: "v1.0.0",
            input: request(None, json!({})),
        },
        Workload {
            policy: "add-python-response-header",
            version: "v1.0.0",
            input: CallInput {
                phase: Phase::OnResponse,
                exchange: Exchange::Response(ResponseView {
                    request_headers: headers(),
                    response_headers: headers(),
                    response_body: Some(Bytes::from_static(ORDER)),
                    ..Default::default()
                }),
                shared: shared(),
                policy: PolicyMetadata::default(),
                params: JsonObject::new(),
            },
        },
        Workload {
            policy: "python-body-validator",
            version: "v1.0.0",
            input: request(
                Some(ORDER),
                json!({"schema": {"type": "object", "required": ["item", "quantity"],
                    "properties": {"item": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}}}}),
            ),
        },
        Workload {
            policy: "python-json-body-transform",
            version: "v1.0.0",
            input: request(
                Some(ORDER),
                json!({"injectFields": {"source": "gateway", "region": "eu"}}),
            ),
        },
    ]
}

/// A JSON object body of about `size` bytes.
pub fn json_body(size: usize) -> Bytes {
    let mut body = String::from("{\"items\":[");
    let mut index = 0;
    while body.len() + 40 < size {
        if index > 0 {
            body.push(',');
        }
        body.push_str(&format!("{{\"id\":{index},\"name\":\"item-{index:08}\"}}"));
        index += 1;
    }
    body.push_str("]}");
    Bytes::from(body)
}

/// Gives a request-phase input a body.
pub fn set_request_body(input: &mut CallInput, body: Bytes) {
    if let Exchange::Request(view) = &mut input.exchange {
        view.body = Some(body);
    }
}

/// The sample policies that read and rewrite a request body.
const BODY_POLICIES: [&str; 2] = ["python-body-validator", "python-json-body-transform"];

/// A Draft 7 schema that [`json_body`]'s documents satisfy, checking every item.
fn items_schema() -> serde_json::Value {
    json!({"schema": {"type": "object", "properties": {"items": {"type": "array", "items": {
        "type": "object", "required": ["id", "name"],
        "properties": {"id": {"type": "integer", "minimum": 0}, "name": {"type": "string", "maxLength": 64}}
    }}}}})
}

/// The body policies' workloads on a generated JSON request body of about
/// each size in KiB (0: an empty object), labelled `policy (N KiB)`. The
/// validator checks every item of the body against a schema it satisfies.
pub fn with_bodies(sizes_kib: &[usize]) -> Vec<(String, Workload)> {
    let mut out = Vec::new();
    for &kib in sizes_kib {
        let body = match kib {
            0 => Bytes::from_static(b"{}"),
            _ => json_body(kib * 1024),
        };
        for mut workload in samples()
            .into_iter()
            .filter(|w| BODY_POLICIES.contains(&w.policy))
        {
            set_request_body(&mut workload.input, body.clone());
            if workload.policy == "python-body-validator" {
                workload.input.params = object(items_schema());
            }
            out.push((format!("{} ({kib} KiB)", workload.policy), workload));
        }
    }
    out
}

/// The sample workloads, each labelled with its policy's name.
pub fn labelled_samples() -> Vec<(String, Workload)> {
    samples()
        .into_iter()
        .map(|w| (w.policy.to_string(), w))
        .collect()
}
