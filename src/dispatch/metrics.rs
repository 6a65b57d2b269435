//! What the host counts, in Prometheus' data model (prometheus-client).
//!
//! Per-call numbers are recorded on the call's path through handles cached
//! per policy ([`PolicyMetrics`]): an atomic add per counter and a bucket
//! search per histogram, no lock and no allocation. Numbers that are a
//! state (calls queued, policies resident, breaker states, pool slots) are
//! read when `/metrics` is scraped ([`Metrics::refresh`]), so they cost the
//! call path nothing.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::breaker::{BreakerState, Transition};

mod series;

use series::{
    ErrorLabels, OutcomeLabels, ResultLabels, StateLabels, build_info, bytes, fuel_units, outcome,
    result, seconds,
};
pub use series::{PolicyLabels, PolicyMetrics};

type HistogramFamily = Family<PolicyLabels, Histogram, fn() -> Histogram>;

/// Every series the host exports, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    calls: Family<OutcomeLabels, Counter>,
    rejected: Family<ErrorLabels, Counter>,
    queue_wait: HistogramFamily,
    execution: HistogramFamily,
    fuel: HistogramFamily,
    memory: HistogramFamily,
    made_ahead: Family<ResultLabels, Counter>,
    breaker_state: Family<StateLabels, Gauge>,
    breaker_transitions: Family<StateLabels, Counter>,
    load_failures: Counter,
    reloads: Family<ResultLabels, Counter>,
    gauges: StateGauges,
}

/// Server-wide states, set at each scrape.
#[derive(Default)]
struct StateGauges {
    in_flight: Gauge,
    queued: Gauge,
    busy_workers: Gauge,
    workers: Gauge,
    policies: Gauge,
    resident: Gauge,
    pool_instances: Gauge,
    pool_memories: Gauge,
    pool_warm_memories: Gauge,
}

/// A snapshot of the server-wide states, taken at a scrape.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostState {
    /// Calls admitted and not finished.
    pub in_flight: usize,
    /// Of which waiting for a worker.
    pub queued: usize,
    /// Workers running a call.
    pub busy_workers: usize,
    /// Worker threads.
    pub workers: usize,
    /// Servable policies.
    pub policies: usize,
    /// Policies in memory.
    pub resident: usize,
    /// Pool: component instances allocated.
    pub pool_instances: u64,
    /// Pool: linear memories in use.
    pub pool_memories: usize,
    /// Pool: unused slots still holding a memory image.
    pub pool_warm_memories: u32,
}

impl Metrics {
    /// Registers every series under the `policy_host_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("policy_host");
        let metrics = Metrics {
            calls: Family::default(),
            rejected: Family::default(),
            queue_wait: Family::new_with_constructor(seconds as fn() -> Histogram),
            execution: Family::new_with_constructor(seconds as fn() -> Histogram),
            fuel: Family::new_with_constructor(fuel_units as fn() -> Histogram),
            memory: Family::new_with_constructor(bytes as fn() -> Histogram),
            made_ahead: Family::default(),
            breaker_state: Family::default(),
            breaker_transitions: Family::default(),
            load_failures: Counter::default(),
            reloads: Family::default(),
            gauges: StateGauges::default(),
            registry: Registry::default(),
        };
        metrics.register_into(&mut registry);
        Metrics {
            registry,
            ..metrics
        }
    }

    fn register_into(&self, r: &mut Registry) {
        self.register_per_call(r);
        let g = &self.gauges;
        let gauges = [
            (
                "calls_in_flight",
                "Calls admitted and not yet answered",
                &g.in_flight,
            ),
            (
                "calls_queued",
                "Calls waiting for a sandbox worker",
                &g.queued,
            ),
            (
                "busy_workers",
                "Sandbox workers running a call",
                &g.busy_workers,
            ),
            ("workers", "Sandbox worker threads", &g.workers),
            ("policies", "Servable policy versions", &g.policies),
            (
                "policies_resident",
                "Policy versions loaded in memory",
                &g.resident,
            ),
            (
                "pool_instances",
                "Component instances allocated from the pool",
                &g.pool_instances,
            ),
            (
                "pool_memories",
                "Pool memory slots in use",
                &g.pool_memories,
            ),
            (
                "pool_warm_memories",
                "Unused pool memory slots that keep an image",
                &g.pool_warm_memories,
            ),
        ];
        for (name, help, gauge) in gauges {
            r.register(name, help, gauge.clone());
        }
        r.register(
            "build_info",
            "The host's version and its Wasmtime",
            build_info(),
        );
    }

    fn register_per_call(&self, r: &mut Registry) {
        let calls = "Calls answered, by policy, version and outcome (ok or the wire error_type)";
        r.register("calls", calls, self.calls.clone());
        let rejected = "Calls that named no servable policy or phase, by error_type";
        r.register("rejected_calls", rejected, self.rejected.clone());
        let wait = "Time a call waited for a sandbox worker";
        r.register_with_unit("queue_wait", wait, Unit::Seconds, self.queue_wait.clone());
        let ran = "Time a call ran on its worker (instantiation, guest code, result)";
        r.register_with_unit("execution", ran, Unit::Seconds, self.execution.clone());
        r.register(
            "fuel_used",
            "Fuel a completed call burned",
            self.fuel.clone(),
        );
        let memory = "Largest linear memory a completed call reached";
        r.register_with_unit("peak_memory", memory, Unit::Bytes, self.memory.clone());
        let ahead =
            "Calls by whether their instance was made ahead (used) or on the call's path (missed)";
        r.register("made_ahead", ahead, self.made_ahead.clone());
        let state = "Circuit breaker state per policy: 1 for the current state";
        r.register("breaker_state", state, self.breaker_state.clone());
        let moved = "Circuit breaker changes, by the state entered";
        r.register(
            "breaker_transitions",
            moved,
            self.breaker_transitions.clone(),
        );
        let failures = "Components that could not be loaded";
        r.register("load_failures", failures, self.load_failures.clone());
        let reloads = "Policy directory reloads, by result";
        r.register("reloads", reloads, self.reloads.clone());
    }

    /// The handles one policy version's calls record into.
    pub fn policy(&self, label: &str) -> PolicyMetrics {
        let labels = PolicyLabels::of(label);
        PolicyMetrics {
            ok: self.calls.get_or_create_owned(&outcome(&labels, "ok")),
            queue_wait: self.queue_wait.get_or_create_owned(&labels),
            execution: self.execution.get_or_create_owned(&labels),
            fuel: self.fuel.get_or_create_owned(&labels),
            memory: self.memory.get_or_create_owned(&labels),
            made_ahead: self.made_ahead.get_or_create_owned(&result("used")),
            made_on_path: self.made_ahead.get_or_create_owned(&result("missed")),
            labels,
        }
    }

    /// Counts a failed call of a known policy.
    pub fn failed(&self, policy: &PolicyMetrics, error_type: &str) {
        self.calls
            .get_or_create(&outcome(&policy.labels, error_type))
            .inc();
    }

    /// Counts a call refused before any policy was found.
    pub fn rejected(&self, error_type: &str) {
        self.rejected
            .get_or_create(&ErrorLabels {
                error_type: error_type.into(),
            })
            .inc();
    }

    /// Counts a component that failed to load.
    pub fn load_failed(&self) {
        self.load_failures.inc();
    }

    /// Counts a reload of the policy directory.
    pub fn reloaded(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.reloads.get_or_create(&result(outcome)).inc();
    }

    /// Counts a breaker change of `label`'s policy.
    pub fn breaker_moved(&self, label: &str, moved: Transition) {
        let PolicyLabels { policy, version } = PolicyLabels::of(label);
        let state = moved.to.as_str().into();
        self.breaker_transitions
            .get_or_create(&StateLabels {
                policy,
                version,
                state,
            })
            .inc();
    }

    /// Sets the server-wide gauges and each policy's breaker state.
    pub fn refresh<'a>(
        &self,
        host: HostState,
        breakers: impl Iterator<Item = (&'a str, BreakerState)>,
    ) {
        let g = &self.gauges;
        let set = |gauge: &Gauge, value: u64| gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        set(&g.in_flight, host.in_flight as u64);
        set(&g.queued, host.queued as u64);
        set(&g.busy_workers, host.busy_workers as u64);
        set(&g.workers, host.workers as u64);
        set(&g.policies, host.policies as u64);
        set(&g.resident, host.resident as u64);
        set(&g.pool_instances, host.pool_instances);
        set(&g.pool_memories, host.pool_memories as u64);
        set(&g.pool_warm_memories, u64::from(host.pool_warm_memories));
        self.breaker_state.clear();
        for (label, now) in breakers {
            let PolicyLabels { policy, version } = PolicyLabels::of(label);
            for state in [
                BreakerState::Closed,
                BreakerState::Open,
                BreakerState::HalfOpen,
            ] {
                let labels = StateLabels {
                    policy: policy.clone(),
                    version: version.clone(),
                    state: state.as_str().into(),
                };
                self.breaker_state
                    .get_or_create(&labels)
                    .set(i64::from(state == now));
            }
        }
    }

    /// Every series in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::CallStats;

    #[test]
    fn labels_split_name_and_version() {
        let labels = PolicyLabels::of("add-python-header@v1.0.0");
        assert_eq!(
            (labels.policy.as_str(), labels.version.as_str()),
            ("add-python-header", "v1.0.0")
        );
    }

    #[test]
    fn recorded_calls_appear_in_the_exposition() {
        let metrics = Metrics::new();
        let policy = metrics.policy("p@v1");
        policy.waited(std::time::Duration::from_micros(30));
        policy.ran(
            std::time::Duration::from_micros(300),
            Some(&CallStats::default()),
        );
        metrics.failed(&policy, "timeout");
        metrics.rejected("policy_not_found");
        let text = metrics.encode();
        assert!(
            text.contains(r#"policy_host_calls_total{policy="p",version="v1",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"outcome="timeout"} 1"#), "{text}");
        assert!(
            text.contains(r#"policy_host_queue_wait_seconds_count{policy="p",version="v1"} 1"#),
            "{text}"
        );
        assert!(text.contains("policy_host_build_info"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
