//! The SDK contract: context fields, action kinds, metadata, legacy styles.

use policy_host::contract::{Action, CallOutput, Entry, Headers};
use policy_host::sandbox::SandboxError;
use serde_json::json;

use crate::harness::{
    WireType, harness, headers, params, request, request_changes, response, set_header,
};

#[test]
fn the_context_reaches_the_policy_intact() {
    let output = harness()
        .call(
            "probe",
            request(
                headers(&[("x-a", "1"), ("X-Mixed", "Ünï")]),
                Some(b"\x00body\xff"),
                params(json!({"do": "echo", "n": 2.5})),
            ),
        )
        .unwrap();
    assert_eq!(set_header(&output, "x-path"), "/orders?id=7");
    assert_eq!(set_header(&output, "x-method"), "POST");
    assert_eq!(
        set_header(&output, "x-headers"),
        r#"{"X-Mixed": "\u00dcn\u00ef", "x-a": "1"}"#
    );
    assert_eq!(set_header(&output, "x-body"), r"b'\x00body\xff'");
    assert_eq!(set_header(&output, "x-body-eos"), "True");
    assert_eq!(
        set_header(&output, "x-params"),
        r#"{"do": "echo", "n": 2.5}"#
    );
    assert_eq!(
        set_header(&output, "x-shared"),
        r#"{"request_id": "req-1", "api_name": "orders"}"#
    );
}

#[test]
fn an_absent_body_is_none() {
    let output = harness()
        .call(
            "probe",
            request(Headers::new(), None, params(json!({"do": "echo"}))),
        )
        .unwrap();
    assert_eq!(set_header(&output, "x-body"), "None");
}

#[test]
fn returning_none_passes_through() {
    let output = harness()
        .call(
            "probe",
            request(Headers::new(), None, params(json!({"do": "none"}))),
        )
        .unwrap();
    assert_eq!(output.action, None);
}

#[test]
fn metadata_changes_come_back() {
    let mut input = request(Headers::new(), None, params(json!({"do": "metadata"})));
    input.shared.metadata = params(json!({"count": 1.0, "remove-me": true, "keep": "yes"}));
    let output = harness().call("probe", input).unwrap();
    assert_eq!(
        output.updated_metadata,
        params(json!({"count": 2.0, "keep": "yes", "added": "by-policy"}))
    );
}

#[test]
fn immediate_responses_carry_binary_bodies() {
    let output = harness()
        .call(
            "probe",
            request(Headers::new(), None, params(json!({"do": "immediate"}))),
        )
        .unwrap();
    let Some(Action::ImmediateResponse(response)) = &output.action else {
        panic!("{output:?}")
    };
    assert_eq!(response.status_code, 403);
    assert_eq!(response.headers["x-why"], "denied");
    assert_eq!(response.body.as_deref(), Some(&b"\x00\xffbinary"[..]));
}

#[test]
fn request_rewrites_keep_presence_of_empty_body_path_and_method() {
    let output = harness()
        .call(
            "probe",
            request(Headers::new(), None, params(json!({"do": "rewrite"}))),
        )
        .unwrap();
    let changes = request_changes(&output);
    assert_eq!(changes.body.as_deref(), Some(&b""[..]));
    assert_eq!(changes.path.as_deref(), Some("/new"));
    assert_eq!(changes.method.as_deref(), Some("PUT"));
    assert_eq!(changes.headers.remove_headers, ["x-a"]);
    assert_eq!(changes.headers.append_headers["x-b"], ["1", "2"]);
}

#[test]
fn async_handlers_are_awaited_and_response_bodies_are_lazy_bytes() {
    let mut input = response(Some(b"hello"), params(json!({})));
    if let policy_host::contract::Exchange::Response(view) = &mut input.exchange {
        view.request_body = Some(bytes::Bytes::from_static(b"req"));
    }
    let output = harness().call("probe", input).unwrap();
    let Some(Action::ContinueResponse(changes)) = &output.action else {
        panic!("{output:?}")
    };
    assert_eq!(changes.status_code, Some(201));
    assert_eq!(changes.body.as_deref(), Some(&b"HELLO"[..]));
    assert_eq!(changes.headers.set_headers["x-response-len"], "5");
    assert_eq!(changes.headers.set_headers["x-request-body"], "b'req'");
    assert_eq!(changes.headers.set_headers["x-status"], "200");
}

#[test]
fn exceptions_carry_type_and_message() {
    let error = harness()
        .call(
            "probe",
            request(Headers::new(), None, params(json!({"do": "raise"}))),
        )
        .unwrap_err();
    let SandboxError::PolicyRaised {
        kind,
        message,
        location,
        traceback,
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(kind, "KeyError");
    assert_eq!(message, "'missing-thing'");
    assert!(location.starts_with("policy.py:"), "{location}");
    assert!(traceback.contains("policy.py"), "{traceback}");
    assert!(
        traceback.starts_with("Traceback (most recent call last)"),
        "{traceback}"
    );
    let line = error.to_string();
    assert!(
        line.ends_with(&format!("({location})")) && !line.contains('\n'),
        "{line}"
    );
    assert_eq!(error.error_type(), "execution_error");
}

#[test]
fn a_wrong_return_type_is_an_invalid_result() {
    let error = harness()
        .call(
            "probe",
            request(Headers::new(), None, params(json!({"do": "bad-action"}))),
        )
        .unwrap_err();
    assert_eq!(error.error_type(), "invalid_result", "{error}");
    assert!(error.to_string().contains("returned dict"), "{error}");
}

fn odd_metadata(kind: &str) -> Result<CallOutput, SandboxError> {
    harness().call(
        "probe",
        request(
            Headers::new(),
            None,
            params(json!({"do": "odd-metadata", "kind": kind})),
        ),
    )
}

#[test]
fn results_json_cannot_carry_are_invalid_results() {
    for (kind, what, why) in [
        ("nan", "ctx.shared.metadata", "Out of range float"),
        ("circular", "ctx.shared.metadata", "Circular reference"),
        ("nan-in-action", "the action", "Out of range float"),
    ] {
        let error = odd_metadata(kind).unwrap_err();
        assert_eq!(error.error_type(), "invalid_result", "{kind}: {error}");
        let message = error.to_string();
        assert!(message.contains(what), "{kind}: {message}");
        assert!(message.contains(why), "{kind}: {message}");
    }
}

#[test]
fn metadata_of_other_python_types_is_converted() {
    let output = odd_metadata("objects").unwrap();
    assert_eq!(
        output.updated_metadata,
        params(json!({
            "raw": "bytes",
            "tags": ["only"],
            "pair": [1, 2],
            "nested": {"n": [null, true, 1.5]},
        }))
    );
}

#[test]
fn print_stderr_and_logging_do_not_break_calls() {
    let output = harness()
        .call(
            "probe",
            request(
                Headers::new(),
                None,
                params(json!({"do": "log", "lines": 1000})),
            ),
        )
        .unwrap();
    assert_eq!(output.action, None);
    // 200 lines forwarded (the guest's per-call budget) plus one "dropped" notice.
    assert_eq!(output.stats.log_lines, 201);
}

#[test]
fn legacy_class_based_policies_still_run() {
    let h = harness();
    let policy = h.policy("legacy-class");
    assert_eq!(policy.description().entry, Entry::Factory);
    let output = policy
        .call(
            &h.engine,
            request(Headers::new(), None, params(json!({"value": "old-style"}))),
        )
        .unwrap();
    assert_eq!(set_header(&output, "x-legacy"), "old-style");
    assert_eq!(set_header(&output, "x-route"), "route-1");
    // The base class's on_response passes through.
    assert_eq!(
        policy
            .call(&h.engine, response(None, params(json!({}))))
            .unwrap()
            .action,
        None
    );
}

#[test]
fn module_level_phases_are_reported() {
    let policy = harness().policy("add-python-header");
    assert_eq!(policy.description().entry, Entry::Functions);
    assert!(policy.implements(policy_host::contract::Phase::OnRequest));
    assert!(policy.implements(policy_host::contract::Phase::OnResponse));
}

/// Calls the probe's `fields` action on `input` and returns its headers.
fn fields_seen(input: policy_host::contract::CallInput) -> Headers {
    let output = harness().call("probe", input).unwrap();
    request_changes(&output).headers.set_headers.clone()
}

#[test]
fn empty_context_fields_reach_the_policy_as_sdk_defaults() {
    let mut input = request(Headers::new(), None, params(json!({"do": "fields"})));
    input.shared = policy_host::contract::SharedContext::default();
    if let policy_host::contract::Exchange::Request(view) = &mut input.exchange {
        view.path.clear();
        view.method.clear();
        view.authority.clear();
        view.scheme.clear();
        view.end_of_stream = false;
    }
    let seen = fields_seen(input);
    assert_eq!(
        seen["x-shared"],
        r#"{"project_id": "", "request_id": "", "metadata": {}, "api_id": "", "api_name": "", "api_version": "", "api_kind": "", "api_context": "", "operation_path": "", "auth_context": {}}"#
    );
    assert_eq!(
        seen["x-request"],
        r#"{"headers": {}, "path": "", "method": "", "authority": "", "scheme": ""}"#
    );
    assert_eq!(seen["x-body"], "None");
    assert_eq!(seen["x-equal"], "True");
    assert_eq!(seen["x-fresh-dicts"], "True");
}

#[test]
fn filled_context_fields_reach_the_policy_in_sdk_field_order() {
    let mut input = request(
        headers(&[("x-a", "1")]),
        Some(b""),
        params(json!({"do": "fields"})),
    );
    input.shared = policy_host::contract::SharedContext {
        project_id: "p".into(),
        request_id: "r".into(),
        metadata: params(json!({"k": [1]})),
        api_id: "i".into(),
        api_name: "n".into(),
        api_version: "v".into(),
        api_kind: "REST".into(),
        api_context: "/c".into(),
        operation_path: "/o".into(),
        auth_context: headers(&[("sub", "u")]),
    };
    let seen = fields_seen(input);
    assert_eq!(
        seen["x-shared"],
        r#"{"project_id": "p", "request_id": "r", "metadata": {"k": [1]}, "api_id": "i", "api_name": "n", "api_version": "v", "api_kind": "REST", "api_context": "/c", "operation_path": "/o", "auth_context": {"sub": "u"}}"#
    );
    assert_eq!(
        seen["x-shared-attributes"],
        r#"["project_id", "request_id", "metadata", "api_id", "api_name", "api_version", "api_kind", "api_context", "operation_path", "auth_context"]"#
    );
    assert_eq!(
        seen["x-request"],
        r#"{"headers": {"x-a": "1"}, "path": "/orders?id=7", "method": "POST", "authority": "api.example.test", "scheme": "https"}"#
    );
    assert_eq!(
        seen["x-body"],
        "Body(content=b'', end_of_stream=True, present=True)"
    );
    assert_eq!(seen["x-equal"], "True");
}

#[test]
fn falsy_values_of_the_wrong_type_are_still_invalid_results() {
    for (field, value, why) in [
        (
            "set_headers",
            json!(""),
            "set_headers must be a dict, got str",
        ),
        (
            "remove_headers",
            json!(""),
            "remove_headers must be a list of strings, got str",
        ),
        (
            "append_headers",
            json!([]),
            "append_headers must be a dict, got list",
        ),
        ("path", json!(0), "path must be a str or None, got int"),
    ] {
        let error = harness()
            .call(
                "probe",
                request(
                    Headers::new(),
                    None,
                    params(json!({"do": "bad-field", "field": field, "value": value})),
                ),
            )
            .unwrap_err();
        assert_eq!(error.error_type(), "invalid_result", "{field}: {error}");
        assert!(error.to_string().contains(why), "{field}: {error}");
    }
}
