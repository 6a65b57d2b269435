//! The `json-codec` interface: JSON text parsed and written by the host for
//! the guest's `json.loads` and `json.dumps` (the guest glue routes them
//! here and falls back to Python's own code whenever this answers none).
//!
//! Why: the text work of `json` is the bulk of a body policy's time, and
//! compiled to Wasm it runs several times slower than here, while
//! `marshal` builds and walks the same objects with less work. The result
//! is the same value or the same text, byte for byte (tests/all/json_codec.rs
//! compares both paths inside the guest). The host's work is charged to the
//! call's fuel, one unit per byte read or written, so a policy cannot use it
//! to run unmetered.

mod decode;
mod encode;
mod float_repr;
mod keys;
mod marshal;

pub use decode::json_to_marshal;
pub use encode::{Style, marshal_to_json};

use wasmtime::StoreContextMut;
use wasmtime::component::Linker;

use crate::sandbox::state::HostState;

/// Nesting beyond this is left to Python, both ways (Python's own limits
/// depend on its stack).
const MAX_DEPTH: usize = 200;

/// The interface's name as components import it.
const INTERFACE: &str = "policy-host:policy/json-codec@1.1.0";

/// Takes `bytes` fuel from the call; past its budget the fuel is left at
/// zero and the guest's next check stops the call as out of fuel.
fn charge(store: &mut StoreContextMut<'_, HostState>, bytes: usize) {
    if let Ok(fuel) = store.get_fuel() {
        let _ = store.set_fuel(fuel.saturating_sub(bytes as u64));
    }
}

fn decode(
    mut store: StoreContextMut<'_, HostState>,
    (text,): (Vec<u8>,),
) -> wasmtime::Result<(Option<Vec<u8>>,)> {
    let packed = json_to_marshal(&text);
    charge(&mut store, text.len() + packed.as_ref().map_or(0, Vec::len));
    Ok((packed,))
}

type EncodeArgs = (Vec<u8>, String, String, bool);

fn encode(
    mut store: StoreContextMut<'_, HostState>,
    (value, item_separator, key_separator, ensure_ascii): EncodeArgs,
) -> wasmtime::Result<(Option<Vec<u8>>,)> {
    let style = Style {
        item_separator: &item_separator,
        key_separator: &key_separator,
        ensure_ascii,
    };
    let text = marshal_to_json(&value, style).map(String::into_bytes);
    charge(&mut store, value.len() + text.as_ref().map_or(0, Vec::len));
    Ok((text,))
}

/// Adds the `json-codec` imports to `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let mut instance = linker.instance(INTERFACE)?;
    instance.func_wrap("decode", decode)?;
    instance.func_wrap("encode", encode)?;
    Ok(())
}

#[cfg(test)]
mod tests;
