//! Integration tests: real components, built from `sample-policies/` and
//! `tests/policies/`, run in real Wasmtime. One binary, shared harness.

mod bodies;
mod build_errors;
mod cache_cli;
mod contract;
mod deadline_checks;
mod deploy;
mod dropped_policies;
mod engine_features;
mod escape;
mod escape_cases;
mod gateway_contract;
mod grpc;
mod grpc_streams;
mod harness;
mod hostile_inputs;
#[cfg(feature = "patched-wasmtime")]
mod image_delta;
mod immortal_snapshot;
mod isolation;
mod json_codec;
mod lifecycle;
mod limits;
mod link_plans;
#[cfg(feature = "patched-wasmtime")]
mod load_records;
mod made_ahead;
mod memory_reset;
mod operating;
#[cfg(feature = "patched-wasmtime")]
mod patch_paths;
mod pool_capacity;
mod real_policies;
mod reload;
mod samples;
mod sandbox_escape;
mod sdk;
mod sdk_package;
mod served;
mod server;
mod shared_runtime;
#[cfg(feature = "patched-wasmtime")]
mod slot_affinity;
mod startup_funcrefs;
mod stream_abuse;
mod swapped_pages;
mod table_reset;
