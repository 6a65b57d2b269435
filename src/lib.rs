//! policy-host runs third-party Python gateway policies, each call in a
//! fresh WebAssembly sandbox.
//!
//! Layers, each with one job:
//! - [`transport`]: gRPC (the gateway's wire contract) ⇄ [`contract`] types;
//! - [`dispatch`]: the policy registry, lookup, admission onto workers;
//! - [`sandbox`]: the Wasmtime engine, pooling, limits and host imports;
//! - the guest glue (`wasm-python/guest`) and SDK (`sdk/`), built into each
//!   component by [`build`].
//!
//! [`contract`] owns the transport-neutral data of one call and the JSON
//! forms it takes across the guest boundary and the CLI; each layer has its
//! own error type (`sandbox::SandboxError`, `dispatch::CallError`) and only
//! the transport knows the wire's error names.

#![deny(missing_docs)]

pub mod bench;
pub mod build;
pub mod bundle;
pub mod cache;
pub mod cli;
pub mod contract;
pub mod dispatch;
pub mod manifest;
pub mod package;
pub mod sandbox;
pub mod transport;
