//! The breaker's transitions, driven by call outcomes.

use std::time::Duration;

use super::*;

fn fuel() -> Result<(), CallError> {
    Err(CallError::Sandbox(SandboxError::FuelExhausted {
        budget: 1,
        approx_ms: 0,
    }))
}

fn raised() -> Result<(), CallError> {
    Err(CallError::Sandbox(SandboxError::PolicyRaised {
        kind: "ValueError".into(),
        message: "no".into(),
        location: String::new(),
        traceback: String::new(),
    }))
}

fn settings(cooldown: Duration) -> BreakerSettings {
    BreakerSettings {
        failures: 3,
        window: Duration::from_secs(3600),
        cooldown,
        count_raises: false,
    }
}

/// Runs one admitted call with `result`; returns the transition it caused.
fn call(breaker: &Breaker, result: Result<(), CallError>) -> Option<Transition> {
    let (pass, _) = breaker.admit("p@v1").expect("admitted");
    breaker.record(pass, &result)
}

#[test]
fn failures_in_a_row_open_it_and_a_success_in_between_resets_the_count() {
    let breaker = Breaker::new(settings(Duration::from_secs(3600)));
    call(&breaker, fuel());
    call(&breaker, fuel());
    call(&breaker, Ok(()));
    call(&breaker, fuel());
    assert_eq!(call(&breaker, fuel()), None);
    let opened = call(&breaker, fuel()).expect("the third in a row opens it");
    assert_eq!(
        (opened.from, opened.to),
        (BreakerState::Closed, BreakerState::Open)
    );
    let refused = breaker.admit("p@v1").unwrap_err();
    assert_eq!(refused.kind(), "circuit_open");
    assert!(refused.to_string().contains("p@v1"), "{refused}");
}

#[test]
fn raises_do_not_trip_it_unless_asked() {
    let breaker = Breaker::new(settings(Duration::from_secs(3600)));
    for _ in 0..10 {
        call(&breaker, raised());
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
    let strict = Breaker::new(BreakerSettings {
        count_raises: true,
        ..settings(Duration::from_secs(3600))
    });
    for _ in 0..3 {
        call(&strict, raised());
    }
    assert_eq!(strict.state(), BreakerState::Open);
}

#[test]
fn after_the_cool_down_one_trial_decides() {
    let breaker = Breaker::new(settings(Duration::ZERO));
    for _ in 0..3 {
        call(&breaker, fuel());
    }
    let (pass, moved) = breaker.admit("p@v1").unwrap();
    assert_eq!(pass, Pass::Trial);
    assert_eq!(moved.map(|m| m.to), Some(BreakerState::HalfOpen));
    assert!(
        breaker.admit("p@v1").is_err(),
        "only one trial runs at a time"
    );
    let reopened = breaker.record(pass, &fuel()).unwrap();
    assert_eq!(reopened.to, BreakerState::Open);
    let (pass, _) = breaker.admit("p@v1").unwrap();
    let closed = breaker.record(pass, &Ok::<(), CallError>(())).unwrap();
    assert_eq!(
        (closed.from, closed.to),
        (BreakerState::HalfOpen, BreakerState::Closed)
    );
    assert_eq!(breaker.admit("p@v1").unwrap().0, Pass::Normal);
}

#[test]
fn failures_spread_past_the_window_do_not_open_it() {
    let breaker = Breaker::new(BreakerSettings {
        window: Duration::ZERO,
        ..settings(Duration::from_secs(3600))
    });
    for _ in 0..10 {
        call(&breaker, fuel());
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn a_policy_may_only_tighten_the_servers_settings() {
    let server = BreakerSettings::default();
    let looser = server.tightened_by(BreakerOverrides {
        failures: Some(50),
        cooldown_ms: Some(1),
    });
    assert_eq!(looser, server);
    let tighter = server.tightened_by(BreakerOverrides {
        failures: Some(2),
        cooldown_ms: Some(60_000),
    });
    assert_eq!(tighter.failures, 2);
    assert_eq!(tighter.cooldown, Duration::from_secs(60));
    let off = BreakerSettings::off().tightened_by(BreakerOverrides {
        failures: Some(2),
        ..Default::default()
    });
    assert_eq!(off.failures, 0, "an operator's off stays off");
}
