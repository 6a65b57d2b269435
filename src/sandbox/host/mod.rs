//! Host-side implementations of the WIT imports, one file per interface.

pub mod call_input;
pub mod clocks;
pub mod json_codec;
pub mod random;
