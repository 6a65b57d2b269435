//! Property tests over hostile inputs: arbitrary wire requests (random bytes
//! in bodies and headers, large maps, deep Structs, missing oneofs) through
//! the proto → call translation, the input caps and the whole execute path.
//! Bounded case counts in `make test`; `make fuzz` runs the same
//! properties far longer (FUZZ_SCALE multiplies every case count).

use std::collections::HashMap;

use policy_host::contract::Exchange;
use policy_host::contract::guest_json;
use policy_host::dispatch::{InputCaps, check_caps};
use policy_host::transport::client::request_to_proto;
use policy_host::transport::convert::invocation;
use policy_host::transport::proto;
use proptest::prelude::*;
use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,24}",
        proptest::collection::vec(any::<char>(), 0..16)
            .prop_map(|chars| chars.into_iter().collect()),
        Just(String::new()),
    ]
}

fn any_map(max: usize) -> impl Strategy<Value = HashMap<String, String>> {
    prop_oneof![
        20 => proptest::collection::hash_map(any_text(), any_text(), 0..max),
        // Now and then a huge map: past the input caps, or close to them.
        1 => proptest::collection::hash_map("[a-z0-9-]{1,12}", ".{0,8}", 2_000..6_000),
    ]
}

/// `base` cases, times FUZZ_SCALE when set (`make fuzz`).
fn cases(base: u32) -> u32 {
    let scale = std::env::var("FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1);
    base.saturating_mul(scale.max(1))
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Kind::NullValue(0)),
        any::<f64>().prop_map(Kind::NumberValue),
        any_text().prop_map(Kind::StringValue),
        any::<bool>().prop_map(Kind::BoolValue),
    ]
    .prop_map(|kind| Value { kind: Some(kind) });
    leaf.prop_recursive(24, 96, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(|values| Value {
                kind: Some(Kind::ListValue(ListValue { values }))
            }),
            proptest::collection::btree_map(any_text(), inner, 0..6).prop_map(|fields| Value {
                kind: Some(Kind::StructValue(Struct { fields }))
            }),
        ]
    })
}

fn any_struct() -> impl Strategy<Value = Option<Struct>> {
    proptest::option::of(
        proptest::collection::btree_map(any_text(), any_value(), 0..8)
            .prop_map(|fields| Struct { fields }),
    )
}

fn any_bytes() -> impl Strategy<Value = bytes::Bytes> {
    proptest::collection::vec(any::<u8>(), 0..512).prop_map(bytes::Bytes::from)
}

fn any_context() -> impl Strategy<Value = Option<proto::execution_request::Context>> {
    use proto::execution_request::Context;
    let request = (
        any_map(40),
        any_bytes(),
        any::<bool>(),
        any::<bool>(),
        any_text(),
        any_text(),
    )
        .prop_map(
            |(headers, body, body_present, end_of_stream, path, method)| {
                Context::RequestContext(proto::RequestContext {
                    headers,
                    body,
                    body_present,
                    end_of_stream,
                    path,
                    method,
                    ..Default::default()
                })
            },
        );
    let response = (
        any_map(40),
        any_bytes(),
        any_map(40),
        any_bytes(),
        any::<bool>(),
        any::<i32>(),
    )
        .prop_map(
            |(
                request_headers,
                request_body,
                response_headers,
                response_body,
                response_body_present,
                response_status,
            )| {
                Context::ResponseContext(proto::ResponseContext {
                    request_headers,
                    request_body,
                    response_headers,
                    response_body,
                    response_body_present,
                    response_status,
                    ..Default::default()
                })
            },
        );
    proptest::option::of(prop_oneof![request, response])
}

fn any_request() -> impl Strategy<Value = proto::ExecutionRequest> {
    let phase = prop_oneof![
        Just("on_request".to_string()),
        Just("on_response".to_string()),
        any_text()
    ];
    (
        any_text(),
        phase,
        any_struct(),
        any_context(),
        any_struct(),
        any_map(8),
    )
        .prop_map(
            |(request_id, phase, params, context, metadata, auth_context)| {
                proto::ExecutionRequest {
                    request_id,
                    policy_name: "probe".into(),
                    policy_version: "v1".into(),
                    phase,
                    params,
                    context,
                    shared_context: Some(proto::SharedContext {
                        metadata,
                        auth_context,
                        ..Default::default()
                    }),
                    policy_metadata: None,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn translation_never_panics_and_keeps_bodies_and_headers(request in any_request()) {
        let call = invocation(request.clone());
        match (&request.context, &call.exchange) {
            (None, None) => {}
            (Some(proto::execution_request::Context::RequestContext(wire)), Some(Exchange::Request(view))) => {
                prop_assert_eq!(view.body.is_some(), wire.body_present);
                prop_assert_eq!(view.headers.len(), wire.headers.len());
            }
            (Some(proto::execution_request::Context::ResponseContext(wire)), Some(Exchange::Response(view))) => {
                prop_assert_eq!(view.response_body.is_some(), wire.response_body_present);
                prop_assert_eq!(view.response_headers.len(), wire.response_headers.len());
            }
            other => prop_assert!(false, "context changed kind: {:?}", other),
        }
        if let Some(exchange) = call.exchange.clone() {
            let input = policy_host::contract::CallInput {
                phase: exchange.phase(),
                exchange,
                shared: call.shared.clone(),
                policy: call.policy.clone(),
                params: call.params.clone(),
            };
            let _ = check_caps(&input, &InputCaps::default());
            let context: serde_json::Value = serde_json::from_str(&guest_json::context_json(&input)).unwrap();
            prop_assert!(context.is_object());
            // Back to the wire and through again: nothing changes.
            let again = invocation(request_to_proto("id", "probe", "v1", &input));
            prop_assert_eq!(again.exchange, Some(input.exchange));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(24), ..ProptestConfig::default() })]

    #[test]
    fn the_execute_path_answers_every_hostile_request_with_a_typed_result(request in any_request()) {
        let h = crate::harness::harness();
        let mut registry = policy_host::dispatch::PolicyRegistry::new();
        registry.insert("probe", "v1", h.policy("probe")).unwrap();
        let dispatcher = policy_host::dispatch::Dispatcher::new(h.engine.clone(), registry, policy_host::dispatch::WorkerOptions::new(1), InputCaps::default());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut call = invocation(request);
        call.params.insert("do".into(), serde_json::json!("echo"));
        match runtime.block_on(dispatcher.execute(call)) {
            Ok(_) => {}
            Err(error) => {
                let kind = crate::harness::WireType::error_type(&error);
                prop_assert!(
                    ["unknown_phase", "invalid_request", "execution_error", "invalid_result"].contains(&kind),
                    "unexpected {}: {}", kind, error
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_frame_bytes_never_panic_the_decoder_or_translation(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        seed in any_request(),
    ) {
        use prost::Message;
        // Random bytes, and a valid frame with random bytes spliced in.
        let mut spliced = seed.encode_to_vec();
        let at = spliced.len() / 2;
        spliced.splice(at..at, bytes.iter().copied().take(64));
        for frame in [bytes, spliced] {
            if let Ok(request) = proto::ExecutionRequest::decode(frame.as_slice()) {
                let call = invocation(request);
                if let Some(exchange) = call.exchange {
                    let input = policy_host::contract::CallInput {
                        phase: exchange.phase(),
                        exchange,
                        shared: call.shared,
                        policy: call.policy,
                        params: call.params,
                    };
                    let _ = check_caps(&input, &InputCaps::default());
                    prop_assert!(serde_json::from_str::<serde_json::Value>(&guest_json::context_json(&input)).is_ok());
                }
            }
        }
    }
}
