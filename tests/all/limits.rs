//! Each limit, obeyed and violated, and the next call after a violation.

use std::time::Duration;

use policy_host::contract::Headers;
use policy_host::sandbox::{LimitOverrides, SandboxError};
use serde_json::json;

use crate::harness::{WireType, harness, params, request, set_header};

fn probe(what: serde_json::Value) -> policy_host::contract::CallInput {
    request(Headers::new(), None, params(what))
}

fn next_call_succeeds(policy: &policy_host::sandbox::CompiledPolicy) {
    let h = harness();
    let output = policy
        .call(&h.engine, probe(json!({"do": "echo"})))
        .expect("the next call succeeds");
    assert_eq!(set_header(&output, "x-method"), "POST");
}

#[test]
fn an_infinite_loop_stops_by_fuel() {
    let h = harness();
    let policy = h.policy_with(
        "probe",
        LimitOverrides {
            fuel: Some(50_000_000),
            timeout_ms: Some(30_000),
            ..Default::default()
        },
    );
    let error = policy
        .call(&h.engine, probe(json!({"do": "loop"})))
        .unwrap_err();
    assert!(
        matches!(
            error,
            SandboxError::FuelExhausted {
                budget: 50_000_000,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.error_type(), "fuel_exhausted");
    next_call_succeeds(&policy);
}

/// A bare loop, and a loop of host calls that charge fuel (the JSON codec).
#[test]
fn an_infinite_loop_stops_by_deadline_when_fuel_is_plentiful() {
    let h = harness();
    let policy = h.policy_with(
        "probe",
        LimitOverrides {
            fuel: Some(1_000_000_000_000),
            timeout_ms: Some(200),
            ..Default::default()
        },
    );
    for what in ["loop", "codec-loop"] {
        let error = policy
            .call(&h.engine, probe(json!({ "do": what })))
            .unwrap_err();
        assert_eq!(
            error,
            SandboxError::DeadlineExceeded {
                timeout: Duration::from_millis(200)
            },
            "{what}"
        );
        assert_eq!(error.error_type(), "timeout");
        next_call_succeeds(&policy);
    }
}

#[test]
fn a_long_sleep_is_a_deadline_error_at_once() {
    let h = harness();
    let policy = h.policy_with(
        "probe",
        LimitOverrides {
            timeout_ms: Some(500),
            ..Default::default()
        },
    );
    let started = std::time::Instant::now();
    let error = policy
        .call(&h.engine, probe(json!({"do": "sleep", "seconds": 3600})))
        .unwrap_err();
    assert_eq!(error.error_type(), "timeout", "{error}");
    // Behaviour, not speed: the hour-long sleep was refused, not waited out.
    assert!(started.elapsed() < Duration::from_secs(3600));
    next_call_succeeds(&policy);
}

#[test]
fn a_short_sleep_within_the_deadline_is_allowed() {
    let h = harness();
    let policy = h.policy_with(
        "probe",
        LimitOverrides {
            timeout_ms: Some(5_000),
            ..Default::default()
        },
    );
    let output = policy
        .call(&h.engine, probe(json!({"do": "sleep", "seconds": 0.01})))
        .unwrap();
    assert_eq!(output.action, None);
}

#[test]
fn a_500_mib_allocation_hits_the_memory_limit() {
    let h = harness();
    let policy = h.policy_with(
        "probe",
        LimitOverrides {
            memory_mib: Some(64),
            ..Default::default()
        },
    );
    let error = policy
        .call(&h.engine, probe(json!({"do": "alloc", "mib": 500})))
        .unwrap_err();
    assert_eq!(
        error,
        SandboxError::MemoryLimit {
            limit_bytes: 64 * 1024 * 1024
        }
    );
    assert_eq!(error.error_type(), "memory_limit");
    next_call_succeeds(&policy);
}

#[test]
fn an_allocation_within_the_limit_succeeds() {
    let h = harness();
    let policy = h.policy_with(
        "probe",
        LimitOverrides {
            memory_mib: Some(64),
            ..Default::default()
        },
    );
    let output = policy
        .call(&h.engine, probe(json!({"do": "alloc", "mib": 8})))
        .unwrap();
    assert_eq!(
        set_header(&output, "x-allocated"),
        (8 * 1024 * 1024).to_string()
    );
    assert!(output.stats.peak_memory_bytes >= 8 * 1024 * 1024);
}

#[test]
fn a_memory_cap_below_the_snapshot_fails_cleanly() {
    let h = harness();
    let wasm = h.wasm("add-python-header");
    let result = policy_host::dispatch::load_policy(
        &h.engine,
        &h.cache,
        &wasm,
        "add-python-header",
        policy_host::sandbox::Limits::default(),
        LimitOverrides {
            memory_mib: Some(16),
            ..Default::default()
        },
    );
    // The snapshot needs ~15 MiB; 16 MiB loads, and a call that grows past it fails cleanly.
    if let Ok(loaded) = result {
        let outcome = loaded.policy.call(&h.engine, probe(json!({})));
        assert!(outcome.is_ok() || outcome.unwrap_err().error_type() == "memory_limit");
    }
}

#[test]
fn deep_recursion_is_a_python_error_not_a_crash() {
    let h = harness();
    let error = h
        .call("probe", probe(json!({"do": "recurse"})))
        .unwrap_err();
    assert!(
        matches!(&error, SandboxError::PolicyRaised { kind, .. } if kind == "RecursionError")
            || error.error_type() == "sandbox_trap",
        "{error:?}"
    );
    next_call_succeeds(&h.policy("probe"));
}

#[test]
fn stats_report_fuel_and_memory() {
    let output = harness()
        .call("probe", probe(json!({"do": "none"})))
        .unwrap();
    assert!(output.stats.fuel_used > 0);
    assert!(output.stats.peak_memory_bytes > 0);
}
