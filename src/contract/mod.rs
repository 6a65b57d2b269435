//! The guest contract: the data one policy call takes and gives, and the
//! JSON forms it crosses the WIT boundary and the CLI in.
//!
//! This module owns the schema. The gRPC layer translates its messages into
//! these types, the sandbox hands them to the guest as [`guest_json`], and
//! the `run`/`call` subcommands read and print them as [`sdk_json`]. Field
//! names follow the Python SDK (`sdk/policy.py`). The golden fixtures in
//! `tests/fixtures/contract.json` pin every form: this module's tests read
//! them, and so does a probe policy running the real glue and SDK in
//! Wasmtime (`tests/all/contract.rs`). A new context field touches this
//! module, the glue (`policy_host_inputs.py`), the SDK and the fixtures;
//! a field that comes from the gateway also needs its proto mapping in the
//! transport.

mod action;
mod context;
mod description;
pub mod guest_json;
mod header_rules;
mod output;
pub mod sdk_json;

pub use action::{Action, HeaderChanges, ImmediateResponse, RequestChanges, ResponseChanges};
pub use context::{
    Body, CallInput, Exchange, Headers, JsonObject, Phase, PolicyMetadata, RequestView,
    ResponseView, SharedContext, UnknownPhase,
};
pub use description::{Entry, GuestDescription};
pub(crate) use output::micros;
pub use output::{CallOutput, CallStats};

#[cfg(test)]
mod fixtures;
