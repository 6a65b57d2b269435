//! Instances made ahead (instantiated before their call, while a worker is
//! idle) are as fresh as instances made on the call's path: nothing of an
//! earlier call, their own random seed, and the call's full deadline counted
//! from when the call begins.

use std::time::Duration;

use policy_host::contract::{CallInput, CallOutput};
use policy_host::dispatch::CallError;
use policy_host::dispatch::{Dispatcher, InputCaps, Invocation, PolicyRegistry, WorkerOptions};
use policy_host::sandbox::{CompiledPolicy, ReadyInstance, SandboxEngine};
use serde_json::json;

use crate::harness::{
    assert_unseen, counter_request, harness, params, random_request, request, set_header,
};

fn invocation(policy: &str, version: &str, input: CallInput) -> Invocation {
    Invocation::of("made-ahead", policy, version, input)
}

/// Runs `input` on `ready` and drops the spent instance.
fn call_on(
    engine: &SandboxEngine,
    policy: &CompiledPolicy,
    ready: ReadyInstance,
    input: CallInput,
) -> Result<CallOutput, policy_host::sandbox::SandboxError> {
    let (result, spent) = policy.call_ready(engine, ready, input);
    drop(spent);
    result
}

#[test]
fn a_ready_instance_waits_without_using_the_calls_deadline() {
    let h = harness();
    let probe = h.policy("probe");
    let ready = probe.prepare(&h.engine).unwrap();
    // Longer than the probe's whole 500 ms deadline.
    std::thread::sleep(probe.limits().timeout + Duration::from_millis(200));
    let input = request(
        Default::default(),
        None,
        params(json!({"do": "sleep", "seconds": 0.05})),
    );
    let output =
        call_on(&h.engine, &probe, ready, input).expect("the deadline starts when the call does");
    assert!(output.action.is_none());
}

#[test]
fn ready_instances_draw_their_own_random_numbers() {
    // Instances made ahead have already run componentize-py's first-export
    // setup (which reseeds `random`): each must still have its own seed,
    // however long it waited and however many were made before it.
    let h = harness();
    let probe = h.policy("probe");
    let ready: Vec<_> = (0..3).map(|_| probe.prepare(&h.engine).unwrap()).collect();
    let mut seen = std::collections::HashSet::new();
    for instance in ready {
        let output = call_on(&h.engine, &probe, instance, random_request()).unwrap();
        assert_unseen(&mut seen, &output, "x-random");
    }
}

#[test]
fn a_ready_instance_starts_from_the_snapshot() {
    let h = harness();
    let probe = h.policy("probe");
    for secret in ["tenant-a", "tenant-b"] {
        let ready = probe.prepare(&h.engine).unwrap();
        let output = call_on(&h.engine, &probe, ready, counter_request(secret)).unwrap();
        assert_eq!(set_header(&output, "x-counter"), "1");
        assert_eq!(set_header(&output, "x-seen"), format!("[\"{secret}\"]"));
    }
}

#[test]
#[should_panic(expected = "was handed to")]
fn a_ready_instance_serves_only_its_own_policy() {
    let h = harness();
    let ready = h.policy("probe").prepare(&h.engine).unwrap();
    let other = h.policy("request-only");
    let _ = other.call_ready(&h.engine, ready, counter_request("x"));
}

/// Calls through a dispatcher, pausing between calls so the workers are
/// idle (and make the next instances ahead).
struct Workers {
    dispatcher: Dispatcher,
    runtime: tokio::runtime::Runtime,
}

impl Workers {
    fn new(count: usize) -> Self {
        let h = harness();
        let mut registry = PolicyRegistry::new();
        registry.insert("probe", "v1", h.policy("probe")).unwrap();
        registry
            .insert("request-only", "v1", h.policy("request-only"))
            .unwrap();
        Workers {
            dispatcher: Dispatcher::new(
                h.engine.clone(),
                registry,
                WorkerOptions::new(count),
                InputCaps::default(),
            ),
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
        }
    }

    fn call_after_a_pause(&self, policy: &str, input: CallInput) -> Result<CallOutput, CallError> {
        std::thread::sleep(Duration::from_millis(20));
        self.runtime
            .block_on(self.dispatcher.execute(invocation(policy, "v1", input)))
    }

    /// A probe call for `secret` that must find a fresh instance: the
    /// module's counter at 1 and only `secret` seen.
    fn fresh_probe_call(&self, secret: &str) -> CallOutput {
        let output = self
            .call_after_a_pause("probe", counter_request(secret))
            .unwrap();
        assert_eq!(set_header(&output, "x-counter"), "1", "{secret}");
        assert_eq!(set_header(&output, "x-seen"), format!("[\"{secret}\"]"));
        output
    }
}

#[test]
fn an_idle_worker_makes_the_next_instance_ahead_and_it_is_fresh() {
    let worker = Workers::new(1);
    let mut made_ahead = 0;
    for round in 0..40 {
        let output = worker.fresh_probe_call(&format!("tenant-{round}"));
        if output.stats.made_ahead {
            assert_eq!(output.stats.instantiate_us, 0);
            made_ahead += 1;
        }
        if made_ahead >= 3 {
            return;
        }
    }
    panic!("an idle worker never made an instance ahead ({made_ahead} in 40 calls)");
}

#[test]
fn a_call_of_another_policy_gets_its_own_instance() {
    let worker = Workers::new(1);
    for _ in 0..6 {
        let output = worker
            .call_after_a_pause("probe", counter_request("a"))
            .unwrap();
        assert_eq!(set_header(&output, "x-counter"), "1");
    }
    // The worker made a probe instance ahead; this call must not run on it.
    let other = worker
        .call_after_a_pause("request-only", counter_request("b"))
        .unwrap();
    assert!(!other.stats.made_ahead);
    assert_eq!(set_header(&other, "x-request-only"), "yes");
}

#[test]
fn policies_called_in_turn_find_their_instances_made_ahead() {
    // A route's chain at light load: each call's policy is the one after
    // the last, and an idle worker makes that one ahead; with several
    // workers, the call goes to the one that holds it.
    for count in [1, 3] {
        calls_in_turn_are_made_ahead(Workers::new(count));
    }
}

fn calls_in_turn_are_made_ahead(worker: Workers) {
    let mut made_ahead = [0; 2];
    for round in 0..12 {
        let secret = format!("tenant-{round}");
        let probe = worker.fresh_probe_call(&secret);
        let other = worker
            .call_after_a_pause("request-only", counter_request(&secret))
            .unwrap();
        assert_eq!(set_header(&other, "x-request-only"), "yes");
        if round >= 2 {
            made_ahead[0] += usize::from(probe.stats.made_ahead);
            made_ahead[1] += usize::from(other.stats.made_ahead);
        }
    }
    // Ten rounds after the first two: made ahead in most (a wake-up of
    // the busy machine may come before the worker is done making one).
    assert!(made_ahead[0] >= 5 && made_ahead[1] >= 5, "{made_ahead:?}");
}
