//! `bench observe`: what the dispatcher's bookkeeping around one call costs
//! (breaker verdict, metrics, failure log), with metrics on and off, on
//! the calling thread. The end-to-end A/B (`wasm-python/bench-metrics.sh`)
//! cannot resolve a cost this small on a shared machine; this can.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::contract::{CallOutput, CallStats};
use crate::dispatch::breaker::BreakerSettings;
use crate::dispatch::metrics::Metrics;
use crate::dispatch::observe::{CallObserver, Timing};
use crate::dispatch::{EntryMeta, LoadFailure, PolicyEntry};

/// Nanoseconds per observed call, with and without metrics.
#[derive(Debug, Clone, Copy)]
pub struct ObserveCost {
    /// Breaker and log only.
    pub without_metrics_ns: f64,
    /// Breaker, log and metrics.
    pub with_metrics_ns: f64,
}

/// Observes `calls` successful calls of one policy through each observer.
pub fn measure(calls: usize) -> ObserveCost {
    let entry = PolicyEntry::lazy(
        "bench@v1".into(),
        Box::new(|| Err(LoadFailure::lasting("never loaded"))),
        EntryMeta::default(),
    );
    let output = CallOutput {
        action: None,
        updated_metadata: Default::default(),
        stats: CallStats {
            fuel_used: 700_000,
            peak_memory_bytes: 18 << 20,
            made_ahead: true,
            ..Default::default()
        },
    };
    let cost = |observer: &CallObserver| {
        let result = Ok(output.clone());
        let timing = Timing {
            waited: Duration::from_micros(40),
            ran: Some(Duration::from_micros(300)),
        };
        let started = Instant::now();
        for _ in 0..calls {
            let pass = observer.admit(&entry, "r").expect("the breaker is closed");
            observer.finished(&entry, "r", pass, std::hint::black_box(&result), timing);
        }
        started.elapsed().as_nanos() as f64 / calls.max(1) as f64
    };
    let settings = BreakerSettings::default();
    ObserveCost {
        without_metrics_ns: cost(&CallObserver::new(settings, None)),
        with_metrics_ns: cost(&CallObserver::new(settings, Some(Arc::new(Metrics::new())))),
    }
}
