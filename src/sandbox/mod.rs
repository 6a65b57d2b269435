//! The sandbox: one Wasmtime engine, policies pre-linked into it, and a
//! fresh, limited store and instance for every call.
//!
//! Nothing here knows about gRPC; callers hand in a [`crate::call::CallInput`]
//! and get a [`crate::call::CallOutput`] or a [`crate::error::CallError`].

pub mod bindings;
pub mod compile;
pub mod compile_cache;
pub mod engine;
mod failure;
pub mod guest_json;
mod header_rules;
pub mod host;
pub mod limits;
pub mod policy;
pub mod shared;
pub mod split;
pub mod state;

pub use compile::{CompileError, CompileSource, load_component};
pub use engine::{EngineOptions, SandboxEngine};
pub use limits::{Ceilings, LimitOverrides, Limits};
pub use policy::{CompiledPolicy, GuestDescription, LoadError, ReadyInstance, SpentInstance};
pub use shared::{PolicyCode, load_policy_code};
