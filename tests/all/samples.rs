//! The four sample policies behave as the gateway's originals.

use policy_host::contract::{Action, CallOutput, Headers};
use serde_json::{Value, json};

use crate::harness::{harness, headers, params, request, request_changes, response, set_header};

fn immediate(output: &CallOutput) -> (i32, &Headers, Value) {
    match &output.action {
        Some(Action::ImmediateResponse(response)) => {
            let body =
                serde_json::from_slice(response.body.as_deref().expect("body")).expect("JSON body");
            (response.status_code, &response.headers, body)
        }
        other => panic!("expected ImmediateResponse, got {other:?}"),
    }
}

#[test]
fn add_header_sets_the_default_header() {
    let output = harness()
        .call(
            "add-python-header",
            request(Headers::new(), None, params(json!({}))),
        )
        .unwrap();
    assert_eq!(set_header(&output, "X-Python-Policy"), "hello-from-python");
    assert_eq!(request_changes(&output).headers.set_headers.len(), 1);
}

#[test]
fn add_header_uses_params() {
    let p = params(json!({"headerName": "X-Tenant", "headerValue": "acme"}));
    let output = harness()
        .call("add-python-header", request(Headers::new(), None, p))
        .unwrap();
    assert_eq!(set_header(&output, "X-Tenant"), "acme");
}

#[test]
fn add_header_passes_responses_through() {
    let output = harness()
        .call(
            "add-python-header",
            response(Some(b"{}"), params(json!({}))),
        )
        .unwrap();
    assert_eq!(output.action, None);
}

#[test]
fn response_header_sets_default_and_custom_headers() {
    let h = harness();
    let output = h
        .call(
            "add-python-response-header",
            response(None, params(json!({}))),
        )
        .unwrap();
    let Some(Action::ContinueResponse(changes)) = &output.action else {
        panic!("{output:?}")
    };
    assert_eq!(
        changes.headers.set_headers["X-Python-Response-Policy"],
        "hello-from-python-response"
    );
    assert_eq!(changes.status_code, None);
    assert_eq!(changes.body, None);

    let p = params(json!({"headerName": "X-Cache", "headerValue": "miss"}));
    let output = h
        .call("add-python-response-header", response(None, p))
        .unwrap();
    let Some(Action::ContinueResponse(changes)) = &output.action else {
        panic!("{output:?}")
    };
    assert_eq!(changes.headers.set_headers["X-Cache"], "miss");
}

#[test]
fn response_header_passes_requests_through() {
    let output = harness()
        .call(
            "add-python-response-header",
            request(Headers::new(), None, params(json!({}))),
        )
        .unwrap();
    assert_eq!(output.action, None);
}

fn schema_params(extra: Value) -> serde_json::Map<String, Value> {
    let mut p = params(json!({
        "schema": {
            "type": "object",
            "required": ["name", "age"],
            "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}
        }
    }));
    if let Value::Object(extra) = extra {
        p.extend(extra);
    }
    p
}

fn validate(body: Option<&[u8]>, p: serde_json::Map<String, Value>) -> CallOutput {
    harness()
        .call(
            "python-body-validator",
            request(headers(&[("content-type", "application/json")]), body, p),
        )
        .unwrap()
}

#[test]
fn validator_without_schema_passes_through() {
    assert_eq!(validate(Some(b"not json"), params(json!({}))).action, None);
}

#[test]
fn validator_accepts_a_valid_body() {
    assert_eq!(
        validate(Some(br#"{"name":"a","age":3}"#), schema_params(json!({}))).action,
        None
    );
}

#[test]
fn validator_rejects_missing_empty_and_non_json_bodies() {
    for body in [None, Some(&b""[..]), Some(&b"{nope"[..])] {
        let output = validate(body, schema_params(json!({})));
        let (status, headers, json) = immediate(&output);
        assert_eq!(status, 400, "{body:?}");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(json["error"]["code"], "INVALID_REQUEST_BODY", "{body:?}");
        assert!(json["error"]["message"].as_str().unwrap().len() > 5);
    }
}

#[test]
fn validator_lets_missing_bodies_through_when_told_to() {
    for body in [None, Some(&b""[..]), Some(&b"{nope"[..])] {
        let output = validate(body, schema_params(json!({"rejectOnMissingBody": false})));
        assert_eq!(output.action, None, "{body:?}");
    }
}

#[test]
fn validator_reports_schema_errors() {
    let output = validate(Some(br#"{"age":"old"}"#), schema_params(json!({})));
    let (status, headers, json) = immediate(&output);
    assert_eq!(status, 400);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(json["error"]["code"], "SCHEMA_VALIDATION_FAILED");
    assert_eq!(
        json["error"]["message"],
        "Request body failed schema validation. 2 error(s) found."
    );
    let details = json["error"]["details"].as_str().unwrap();
    assert!(
        details == "[$] 'name' is a required property"
            || details == "[$.age] 'old' is not of type 'integer'",
        "{details}"
    );
}

#[test]
fn validator_passes_responses_through() {
    let output = harness()
        .call(
            "python-body-validator",
            response(Some(b"x"), schema_params(json!({}))),
        )
        .unwrap();
    assert_eq!(output.action, None);
}

#[test]
fn transform_injects_fields_as_compact_json() {
    let p = params(json!({"injectFields": {"source": "gateway", "city": "Zürich"}}));
    let output = harness()
        .call(
            "python-json-body-transform",
            request(Headers::new(), Some(br#"{"a": 1, "source": "client"}"#), p),
        )
        .unwrap();
    let changes = request_changes(&output);
    assert_eq!(
        std::str::from_utf8(changes.body.as_deref().unwrap()).unwrap(),
        r#"{"a":1,"source":"gateway","city":"Zürich"}"#
    );
    assert_eq!(
        changes.headers.set_headers["content-type"],
        "application/json"
    );
}

#[test]
fn transform_passes_through_when_there_is_nothing_to_do() {
    let h = harness();
    let inject = params(json!({"injectFields": {"x": 1}}));
    for body in [
        None,
        Some(&b""[..]),
        Some(&b"not json"[..]),
        Some(&b"[1,2]"[..]),
    ] {
        let output = h
            .call(
                "python-json-body-transform",
                request(Headers::new(), body, inject.clone()),
            )
            .unwrap();
        assert_eq!(output.action, None, "{body:?}");
    }
    let output = h
        .call(
            "python-json-body-transform",
            request(Headers::new(), Some(b"{}"), params(json!({}))),
        )
        .unwrap();
    assert_eq!(output.action, None);
}

#[test]
fn transform_masks_response_fields() {
    let h = harness();
    let body = br#"{"user":"ann","ssn":"123","card":"4111","note":"ok"}"#;
    let output = h
        .call(
            "python-json-body-transform",
            response(
                Some(body),
                params(json!({"maskFields": ["ssn", "card", "absent"]})),
            ),
        )
        .unwrap();
    let Some(Action::ContinueResponse(changes)) = &output.action else {
        panic!("{output:?}")
    };
    assert_eq!(
        std::str::from_utf8(changes.body.as_deref().unwrap()).unwrap(),
        r#"{"user":"ann","ssn":"****","card":"****","note":"ok"}"#
    );
    assert_eq!(
        changes.headers.set_headers["content-type"],
        "application/json"
    );

    let output = h
        .call(
            "python-json-body-transform",
            response(
                Some(body),
                params(json!({"maskFields": ["ssn"], "maskValue": "[hidden]"})),
            ),
        )
        .unwrap();
    let Some(Action::ContinueResponse(changes)) = &output.action else {
        panic!("{output:?}")
    };
    assert!(
        std::str::from_utf8(changes.body.as_deref().unwrap())
            .unwrap()
            .contains(r#""ssn":"[hidden]""#)
    );

    let output = h
        .call(
            "python-json-body-transform",
            response(Some(body), params(json!({"maskFields": ["zzz"]}))),
        )
        .unwrap();
    assert_eq!(output.action, None);
}
