//! Round-trip properties of the codec: what the client encodes, the server
//! decodes to the same contract values, and what the server encodes, the
//! client decodes back. Inputs are canonical for the wire: numbers are
//! floats (a Struct has no integers), a response-phase request body and an
//! immediate response's body are always present (the wire has no flag).

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{Number, Value};

use super::*;
use crate::contract::{
    Action, CallInput, CallOutput, CallStats, Exchange, HeaderChanges, ImmediateResponse, Phase,
    PolicyMetadata, RequestChanges, RequestView, ResponseChanges, ResponseView, SharedContext,
};
use crate::dispatch::Invocation;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![".{0,12}", "[a-z-]{1,8}"]
}

fn headers() -> impl Strategy<Value = Headers> {
    proptest::collection::btree_map(text(), text(), 0..4)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1e12f64..1e12).prop_map(|n| Value::Number(Number::from_f64(n).unwrap())),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(text(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = JsonObject> {
    proptest::collection::btree_map(text(), json_value(), 0..4)
        .prop_map(|map| map.into_iter().collect())
}

fn bytes() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

fn shared() -> impl Strategy<Value = SharedContext> {
    (
        (text(), text(), object(), text(), text()),
        (text(), text(), text(), text(), headers()),
    )
        .prop_map(
            |((project_id, request_id, metadata, api_id, api_name), rest)| {
                let (api_version, api_kind, api_context, operation_path, auth_context) = rest;
                SharedContext {
                    project_id,
                    request_id,
                    metadata,
                    api_id,
                    api_name,
                    api_version,
                    api_kind,
                    api_context,
                    operation_path,
                    auth_context,
                }
            },
        )
}

fn policy_metadata() -> impl Strategy<Value = PolicyMetadata> {
    (text(), text(), text(), text(), text()).prop_map(
        |(route_name, api_id, api_name, api_version, attached_to)| PolicyMetadata {
            route_name,
            api_id,
            api_name,
            api_version,
            attached_to,
        },
    )
}

fn exchange() -> impl Strategy<Value = Exchange> {
    let request = (
        headers(),
        proptest::option::of(bytes()),
        any::<bool>(),
        (text(), text(), text(), text()),
    )
        .prop_map(
            |(headers, body, end_of_stream, (path, method, authority, scheme))| {
                Exchange::Request(RequestView {
                    headers,
                    body,
                    end_of_stream,
                    path,
                    method,
                    authority,
                    scheme,
                })
            },
        );
    let response = (
        (headers(), bytes(), text(), text()),
        (headers(), proptest::option::of(bytes()), any::<i32>()),
    )
        .prop_map(|(request, response)| {
            let (request_headers, request_body, request_path, request_method) = request;
            let (response_headers, response_body, response_status) = response;
            Exchange::Response(ResponseView {
                request_headers,
                request_body: Some(request_body),
                request_path,
                request_method,
                response_headers,
                response_body,
                response_status,
            })
        });
    prop_oneof![request, response]
}

fn call_input() -> impl Strategy<Value = CallInput> {
    (exchange(), shared(), policy_metadata(), object()).prop_map(
        |(exchange, shared, policy, params)| CallInput {
            phase: exchange.phase(),
            exchange,
            shared,
            policy,
            params,
        },
    )
}

fn header_changes() -> impl Strategy<Value = HeaderChanges> {
    let append =
        proptest::collection::btree_map(text(), proptest::collection::vec(text(), 0..3), 0..3);
    (
        headers(),
        proptest::collection::vec(text(), 0..3),
        append,
        object(),
    )
        .prop_map(
            |(set_headers, remove_headers, append_headers, analytics_metadata)| HeaderChanges {
                set_headers,
                remove_headers,
                append_headers,
                analytics_metadata,
            },
        )
}

fn request_action() -> impl Strategy<Value = Option<Action>> {
    let changes = (
        header_changes(),
        proptest::option::of(bytes()),
        proptest::option::of(text()),
        proptest::option::of(text()),
    )
        .prop_map(|(headers, body, path, method)| {
            Action::ContinueRequest(RequestChanges {
                headers,
                body,
                path,
                method,
            })
        });
    let immediate = (any::<i32>(), headers(), bytes(), object()).prop_map(
        |(status_code, headers, body, analytics_metadata)| {
            Action::ImmediateResponse(ImmediateResponse {
                status_code,
                headers,
                body: Some(body),
                analytics_metadata,
            })
        },
    );
    proptest::option::of(prop_oneof![changes, immediate])
}

fn response_action() -> impl Strategy<Value = Option<Action>> {
    let changes = (
        header_changes(),
        proptest::option::of(bytes()),
        proptest::option::of(any::<i32>()),
    )
        .prop_map(|(headers, body, status_code)| {
            Action::ContinueResponse(ResponseChanges {
                headers,
                body,
                status_code,
            })
        });
    proptest::option::of(changes)
}

fn phase_and_action() -> impl Strategy<Value = (Phase, Option<Action>)> {
    prop_oneof![
        request_action().prop_map(|action| (Phase::OnRequest, action)),
        response_action().prop_map(|action| (Phase::OnResponse, action)),
    ]
}

proptest! {
    #[test]
    fn a_request_the_client_encodes_the_server_decodes_unchanged(input in call_input()) {
        let wire = request_to_proto("id-1", "policy", "v1", &input);
        prop_assert_eq!(invocation(wire), Invocation::of("id-1", "policy", "v1", input));
    }

    #[test]
    fn a_result_the_server_encodes_the_client_decodes_unchanged(
        (phase, action) in phase_and_action(),
        updated_metadata in object(),
    ) {
        let output = CallOutput { action: action.clone(), updated_metadata: updated_metadata.clone(), stats: CallStats::default() };
        let wire = success("id-2".into(), phase, output).unwrap();
        prop_assert_eq!(wire.request_id.as_str(), "id-2");
        prop_assert_eq!(decode_response(wire), WireOutcome::Done { action, updated_metadata });
    }
}
