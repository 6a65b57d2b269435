//! The label sets, bucket layouts and per-policy handles of the host's
//! series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::contract::CallStats;

/// Labels of a per-policy series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    /// The policy's name.
    pub policy: String,
    /// Its version.
    pub version: String,
}

impl PolicyLabels {
    /// The labels of `name@version`.
    pub fn of(label: &str) -> Self {
        let (policy, version) = crate::dispatch::resident::split_label(label);
        PolicyLabels {
            policy: policy.into(),
            version: version.into(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct OutcomeLabels {
    pub(super) policy: String,
    pub(super) version: String,
    pub(super) outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct StateLabels {
    pub(super) policy: String,
    pub(super) version: String,
    pub(super) state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ErrorLabels {
    pub(super) error_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ResultLabels {
    pub(super) result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct BuildLabels {
    pub(super) version: String,
    pub(super) wasmtime: String,
    pub(super) wasmtime_build: String,
}

pub(super) fn seconds() -> Histogram {
    // 50 µs … ~1.6 s.
    Histogram::new(exponential_buckets(50e-6, 2.0, 16))
}

pub(super) fn fuel_units() -> Histogram {
    // 100 k … ~1.7 · 10^12 units.
    Histogram::new(exponential_buckets(1e5, 4.0, 13))
}

pub(super) fn bytes() -> Histogram {
    // 1 MiB … 4 GiB.
    Histogram::new(exponential_buckets(1_048_576.0, 2.0, 13))
}

/// `build_info`: 1, labelled with the host's and Wasmtime's versions and
/// whether Wasmtime carries our patches.
pub(super) fn build_info() -> Family<BuildLabels, Gauge> {
    let info: Family<BuildLabels, Gauge> = Family::default();
    let build = if cfg!(feature = "patched-wasmtime") {
        "patched"
    } else {
        "stock"
    };
    info.get_or_create(&BuildLabels {
        version: env!("CARGO_PKG_VERSION").into(),
        wasmtime: crate::sandbox::engine::wasmtime_version().into(),
        wasmtime_build: build.into(),
    })
    .set(1);
    info
}

pub(super) fn outcome(labels: &PolicyLabels, outcome: &str) -> OutcomeLabels {
    OutcomeLabels {
        policy: labels.policy.clone(),
        version: labels.version.clone(),
        outcome: outcome.into(),
    }
}

pub(super) fn result(result: &str) -> ResultLabels {
    ResultLabels {
        result: result.into(),
    }
}

/// One policy version's series, cached so a call records without lookups.
#[derive(Clone)]
pub struct PolicyMetrics {
    pub(super) labels: PolicyLabels,
    pub(super) ok: Counter,
    pub(super) queue_wait: Histogram,
    pub(super) execution: Histogram,
    pub(super) fuel: Histogram,
    pub(super) memory: Histogram,
    pub(super) made_ahead: Counter,
    pub(super) made_on_path: Counter,
}

impl PolicyMetrics {
    /// Records how long a call waited for its worker.
    pub fn waited(&self, waited: std::time::Duration) {
        self.queue_wait.observe(waited.as_secs_f64());
    }

    /// Records a call that ran for `ran`; `stats` when it completed.
    pub fn ran(&self, ran: std::time::Duration, stats: Option<&CallStats>) {
        self.execution.observe(ran.as_secs_f64());
        if let Some(stats) = stats {
            self.ok.inc();
            self.fuel.observe(stats.fuel_used as f64);
            self.memory.observe(stats.peak_memory_bytes as f64);
            let ahead = if stats.made_ahead {
                &self.made_ahead
            } else {
                &self.made_on_path
            };
            ahead.inc();
        }
    }
}
