use std::sync::Arc;

use super::LikelyNext;

/// A policy, as far as choosing is concerned: a name behind an `Arc`.
type Name = String;

fn policies(names: &[&str]) -> Vec<Arc<Name>> {
    names
        .iter()
        .map(|name| Arc::new(name.to_string()))
        .collect()
}

/// Worker 0 starts `calls` (indices into `all`) in order.
fn run(likely: &LikelyNext<Name>, all: &[Arc<Name>], calls: &[usize]) {
    for &call in calls {
        likely.started(0, &all[call]);
    }
}

fn chosen(likely: &LikelyNext<Name>, worker: usize) -> Option<Name> {
    likely.choose(worker).map(|policy| policy.to_string())
}

#[test]
fn nothing_is_chosen_before_any_call() {
    let likely = LikelyNext::<Name>::default();
    assert_eq!(chosen(&likely, 0), None);
}

#[test]
fn one_policy_in_a_loop_is_chosen_again_by_every_idle_worker() {
    let all = policies(&["a"]);
    let likely = LikelyNext::default();
    run(&likely, &all, &[0; 10]);
    assert_eq!(chosen(&likely, 0), Some("a".into()));
    assert_eq!(chosen(&likely, 1), Some("a".into()));
}

#[test]
fn policies_called_in_turn_are_chosen_in_their_turn() {
    let all = policies(&["a", "b", "c"]);
    let likely = LikelyNext::default();
    // Every length of the window, full or not, so that the policies'
    // counts differ by one in some.
    for calls in 6..=70 {
        let sequence: Vec<usize> = (0..calls).map(|i| i % 3).collect();
        let likely_now = LikelyNext::default();
        run(&likely_now, &all, &sequence);
        let next = ["a", "b", "c"][calls % 3];
        assert_eq!(
            chosen(&likely_now, 0).as_deref(),
            Some(next),
            "after {calls} calls"
        );
    }
    // Seen once each: the one seen longest ago comes first.
    run(&likely, &all, &[0, 1, 2]);
    assert_eq!(chosen(&likely, 0), Some("a".into()));
}

#[test]
fn a_hot_policy_wins_over_cold_ones_seen_long_ago() {
    let all = policies(&["hot", "x", "y", "z"]);
    let likely = LikelyNext::default();
    run(&likely, &all, &[1, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]);
    assert_eq!(chosen(&likely, 0), Some("hot".into()));
}

#[test]
fn workers_idle_together_spread_over_the_policies_likely_next() {
    let all = policies(&["a", "b"]);
    let likely = LikelyNext::default();
    run(&likely, &all, &[0, 1, 0, 1, 0]);
    assert_eq!(chosen(&likely, 0), Some("b".into()));
    assert_eq!(chosen(&likely, 1), Some("a".into()));
    // Worker 0's instance was used: its hold ends, so b is due again.
    likely.started(0, &all[1]);
    likely.released(1);
    assert_eq!(chosen(&likely, 1), Some("a".into()));
}

#[test]
fn a_dropped_policy_is_never_chosen() {
    let mut all = policies(&["gone", "kept"]);
    let likely = LikelyNext::default();
    run(&likely, &all, &[1, 0, 0, 0]);
    all.remove(0);
    assert_eq!(chosen(&likely, 0), Some("kept".into()));
}

#[test]
fn a_policy_seen_once_is_made_ahead_by_one_worker_only() {
    let all = policies(&["once"]);
    let likely = LikelyNext::default();
    run(&likely, &all, &[0]);
    assert_eq!(chosen(&likely, 0), Some("once".into()));
    assert_eq!(chosen(&likely, 1), None);
}

#[test]
fn the_holder_of_a_policy_is_the_worker_that_chose_it() {
    let all = policies(&["a", "b"]);
    let likely = LikelyNext::default();
    run(&likely, &all, &[0, 1, 0, 1]);
    assert_eq!(chosen(&likely, 2), Some("a".into()));
    assert_eq!(chosen(&likely, 0), Some("b".into()));
    assert_eq!(likely.holders(&all[0]), [2]);
    assert_eq!(likely.holders(&all[1]), [0]);
    likely.started(2, &all[0]);
    assert!(likely.holders(&all[0]).is_empty());
}
