//! `policy-host bench`: what a call costs, measured, never asserted.
//!
//! - `inproc`: per sample policy, the fresh-instance path as shipped, a
//!   reused instance (the floor) and native CPython (the reference), at 1
//!   and 2 threads: latency p50/p99, CPU per call, calls/s, page faults.
//! - `load`: end to end over the Unix socket against a running server, at
//!   several concurrencies: throughput and latency percentiles.
//! - `observe`: the dispatcher's bookkeeping per call, metrics on and off.

pub mod inproc;
pub mod load;
pub mod mix;
pub mod native;
pub mod observe_cost;
pub mod stats;
pub mod workloads;
