//! Real policies run unmodified: real PyPI packages built for real
//! (jsonschema used only at call time, PyJWT, PyYAML from its sdist), the
//! policy's own files readable and nothing else, module state as import
//! left it, network attempts as Python exceptions.

use policy_host::contract::{CallOutput, Headers};
use serde_json::json;

use crate::harness::{harness, headers, params, policy_dir, request, set_header};

fn body_request(body: &[u8], params_json: serde_json::Value) -> policy_host::contract::CallInput {
    request(Headers::new(), Some(body), params(params_json))
}

fn call_ok(policy: &str, input: policy_host::contract::CallInput) -> CallOutput {
    harness()
        .call(policy, input)
        .unwrap_or_else(|error| panic!("{policy}: {error}"))
}

/// Asserts each `(header, value)` among the headers `output` sets.
fn assert_headers(output: &CallOutput, expected: &[(&str, &str)]) {
    for (header, value) in expected {
        assert_eq!(set_header(output, header), *value, "{header}");
    }
}

/// The status and body of an ImmediateResponse action.
fn immediate(output: &CallOutput) -> (i32, String) {
    let Some(policy_host::contract::Action::ImmediateResponse(response)) = &output.action else {
        panic!("expected an immediate response, got {:?}", output.action)
    };
    let body = response.body.as_deref().unwrap_or_default();
    (
        response.status_code,
        String::from_utf8_lossy(body).into_owned(),
    )
}

/// The gateway's body validator creates its Draft7Validator inside
/// on_request: jsonschema reads its bundled vocabularies at call time.
#[test]
fn jsonschema_used_only_at_call_time_validates() {
    let schema = json!({"schema": {"type": "object", "required": ["name"]}});
    let valid = call_ok(
        "gateway-body-validator",
        body_request(br#"{"name": "x"}"#, schema.clone()),
    );
    assert_eq!(valid.action, None, "a valid body passes through");
    let invalid = call_ok("gateway-body-validator", body_request(b"{}", schema));
    let (status, body) = immediate(&invalid);
    assert_eq!(status, 400);
    assert!(body.contains("'name' is a required property"), "{body}");
}

/// PyJWT 2.10 imports `ssl` at import time; HS256 tokens verify, forged
/// ones are refused.
#[test]
fn pyjwt_hs256_accepts_valid_tokens_and_refuses_forged_ones() {
    // HS256 over {"sub":"alice"} with SECRET, and over {"sub":"mallory"}
    // with another secret.
    const SECRET: &str = "a-test-secret-of-at-least-32-bytes";
    let valid = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.\
                 tmBar8Wcd5ErMPiQvbGwgT1KxzTKk58yAKZI_1huSvI";
    let forged = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtYWxsb3J5In0.\
                  ly26vnaD66a7BQ2X9gSXOAZYIPsnA0zdXayJH9I_vYA";
    let secret = json!({"secret": SECRET});
    let call = |token: &str| {
        let bearer = format!("Bearer {token}");
        call_ok(
            "jwt-hs256",
            request(
                headers(&[("authorization", &bearer)]),
                None,
                params(secret.clone()),
            ),
        )
    };
    assert_eq!(set_header(&call(valid), "x-jwt-sub"), "alice");
    let (status, body) = immediate(&call(forged));
    assert_eq!(status, 401);
    assert!(body.contains("InvalidSignatureError"), "{body}");
}

/// PyYAML ships only an sdist and native wheels: the build makes it pure.
#[test]
fn pyyaml_from_its_sdist_safe_loads() {
    let output = call_ok(
        "yaml-body",
        body_request(b"name: x\nitems: [1, 2]\n", json!({})),
    );
    let changes = crate::harness::request_changes(&output);
    assert_eq!(
        changes.body.as_deref(),
        Some(&br#"{"items": [1, 2], "name": "x"}"#[..])
    );
    assert_eq!(set_header(&output, "x-yaml-libyaml"), "False");
}

/// A package that is native only is still refused, by name.
#[test]
fn a_native_only_package_is_refused_by_name() {
    let error = harness()
        .try_build(&policy_dir("native-only"))
        .expect_err("pydantic-core cannot be bundled")
        .to_string();
    assert!(
        error.contains("pydantic") && error.contains("native extension"),
        "{error}"
    );
}

/// Module state is exactly as import left it on every call: no trace of
/// the build-time warm-up, in policy.py or in its own helper module.
#[test]
fn every_call_sees_module_state_as_import_left_it() {
    for path in ["/a", "/b", "/c"] {
        let mut input = request(Headers::new(), None, params(json!({})));
        if let policy_host::contract::Exchange::Request(view) = &mut input.exchange {
            view.path = path.into();
        }
        let output = call_ok("module-state", input);
        assert_eq!(set_header(&output, "x-counter"), "1");
        assert_eq!(set_header(&output, "x-seen"), path);
        assert_eq!(set_header(&output, "x-helper"), "1");
    }
}

/// At call time a policy reads its own bundle (package files and the
/// requirements' data and metadata) every usual way, read-only, and
/// nothing outside it.
#[test]
fn a_policy_reads_its_own_files_and_nothing_else() {
    let output = call_ok(
        "bundle-files",
        request(Headers::new(), None, params(json!({}))),
    );
    let expected = [
        ("x-resources", "7"),
        ("x-pkgutil", "7"),
        ("x-open", "hello from the bundle"),
        ("x-metadata", "4.17.3"),
        ("x-write", "PermissionError"),
        ("x-etc-passwd", "FileNotFoundError"),
        ("x-parent", "PermissionError"),
    ];
    assert_headers(&output, &expected);
}

/// Every way to the network raises an OSError the policy catches, and the
/// call goes on; `ssl` imports with its names, and TLS raises.
#[test]
fn network_attempts_raise_and_the_call_goes_on() {
    let output = call_ok(
        "network-attempts",
        request(Headers::new(), None, params(json!({}))),
    );
    let expected = [
        ("x-create-connection", "NameLookupUnavailableError:True"),
        ("x-getaddrinfo", "NameLookupUnavailableError:True"),
        ("x-gethostbyname", "NameLookupUnavailableError:True"),
        ("x-socket-connect", "NetworkUnavailableError:True"),
        ("x-raw-socket", "NetworkUnavailableError:True"),
        ("x-urlopen", "URLError:True"),
        ("x-http-client", "NameLookupUnavailableError:True"),
        ("x-https", "NameLookupUnavailableError:True"),
        ("x-tls-wrap", "TLSUnavailableError:True"),
        ("x-tls-certs", "TLSUnavailableError:True"),
        ("x-ssl-names", "True,True,True,True,True"),
        ("x-after", "still-running"),
    ];
    assert_headers(&output, &expected);
}
