//! Rust bindings generated from `wasm-python/wit/policy.wit`.
//!
//! The WIT file is the single source of truth for the host/guest contract
//! (and documents every item); nothing outside the sandbox sees these types.

#[allow(missing_docs)]
mod generated {
    wasmtime::component::bindgen!({
        path: "wasm-python/wit",
        world: "policy",
    });
}

pub use generated::exports::policy_host::policy::handler::{Failure, Outcome, RaisedException};
pub use generated::policy_host::policy::call_input::{BodyKind, Host as CallInputHost, LogLevel};
pub use generated::{Policy, PolicyPre};

/// Adds the `call-input` imports, implemented by the value `get` returns.
pub use generated::policy_host::policy::call_input::add_to_linker as add_call_input_to_linker;

/// The WIT package this host implements; components record it at build time.
pub const WIT_PACKAGE: &str = "policy-host:policy@1.1.0";
