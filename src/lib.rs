//! policy-host runs third-party Python gateway policies, each call in a
//! fresh WebAssembly sandbox.
//!
//! Layers, each with one job:
//! - [`transport`]: gRPC (the gateway's wire contract) ⇄ [`call`] types;
//! - [`dispatch`]: the policy registry, lookup, admission onto workers;
//! - [`sandbox`]: the Wasmtime engine, pooling, limits and host imports;
//! - the guest glue (`wasm-python/guest`) and SDK (`sdk/`), built into each
//!   component by [`build`].
//!
//! [`call`] holds the transport-neutral data of one call and [`error`] the
//! one error type a call can end with.

#![deny(missing_docs)]

pub mod bench;
pub mod build;
pub mod bundle;
pub mod cache;
pub mod call;
pub mod cli;
pub mod dispatch;
pub mod manifest;
pub mod package;
pub mod sandbox;
pub mod transport;
