//! The sandbox: one Wasmtime engine, policies pre-linked into it, and a
//! fresh, limited store and instance for every call.
//!
//! Nothing here knows about gRPC; callers hand in a [`crate::contract::CallInput`]
//! and get a [`crate::contract::CallOutput`] or a [`SandboxError`].

pub mod bindings;
pub mod code_keys;
pub mod compile;
pub mod compile_cache;
pub mod deadline;
pub mod engine;
pub mod error;
mod failure;
pub mod host;
#[cfg(feature = "patched-wasmtime")]
mod image_delta;
mod image_sample;
pub mod limits;
pub mod pieces;
pub mod policy;
pub mod reused;
pub mod shared;
#[cfg(feature = "patched-wasmtime")]
mod shared_image;
pub mod split;
pub mod state;

pub use compile::{CompileError, CompileSource, load_component};
pub use engine::{EngineOptions, SandboxEngine};
pub use error::SandboxError;
pub use limits::{Ceilings, LimitOverrides, Limits};
pub use policy::{CompiledPolicy, LoadError, ReadyInstance, SpentInstance};
pub use shared::{PolicyCode, load_policy_code, load_policy_code_by_keys};
