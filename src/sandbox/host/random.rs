//! `wasi:random/random.get-random-bytes` filled in one go.
//!
//! Every fresh instance reseeds Python's `random` module on its first call
//! (componentize-py does; each instance must not replay the snapshot's
//! sequence): ~2.5 KB in ten `get-random-bytes` calls. wasmtime-wasi builds
//! the result one byte at a time through a boxed generator, ~31 host
//! instructions per byte (~77 k per call, about 4 % of a fresh call,
//! measured under callgrind). This shadows that one function with a single
//! fill from the thread's cryptographically secure generator (`rand`'s
//! `ThreadRng`: ChaCha, periodically reseeded from the OS), the same
//! strength wasmtime-wasi uses. `get-random-u64` stays wasmtime-wasi's.

use rand::Rng;
use wasmtime::StoreContextMut;
use wasmtime::component::Linker;

use crate::sandbox::state::HostState;

/// The WASI random instance wasmtime-wasi registers; components importing
/// any 0.2.x version link to it.
const RANDOM: &str = "wasi:random/random@0.2.12";

/// The most one request may ask for: the bytes are allocated on the host
/// before they are copied into guest memory, so a guest-chosen size must
/// be small (GHSA-852m-cvvp-9p4w). A fresh instance asks for ~2.5 KB in
/// all, CPython's `os.urandom` for at most 256 bytes at a time; 64 KiB is
/// far beyond both. The WASI context's insecure random has the same cap.
pub const MAX_RANDOM_BYTES: u64 = 64 << 10;

/// The trap raised when a policy asks for more than [`MAX_RANDOM_BYTES`].
#[derive(Debug, thiserror::Error)]
#[error(
    "the policy asked for {requested} random bytes at once; at most {MAX_RANDOM_BYTES} are allowed"
)]
pub struct TooManyRandomBytes {
    /// What the guest asked for.
    pub requested: u64,
}

/// `len` bytes from a cryptographically secure generator.
pub fn secure_random_bytes(len: u64) -> wasmtime::Result<Vec<u8>> {
    if len > MAX_RANDOM_BYTES {
        return Err(wasmtime::Error::new(TooManyRandomBytes { requested: len }));
    }
    let mut bytes = vec![0; usize::try_from(len)?];
    rand::rng().fill_bytes(&mut bytes);
    Ok(bytes)
}

/// Replaces `get-random-bytes` of the already-linked WASI random interface.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut random = linker.instance(RANDOM)?;
    random.func_wrap(
        "get-random-bytes",
        |_store: StoreContextMut<'_, HostState>, (len,): (u64,)| Ok((secure_random_bytes(len)?,)),
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_requested_length() {
        for len in [0, 1, 31, 256, 2_496] {
            assert_eq!(secure_random_bytes(len).unwrap().len() as u64, len);
        }
    }

    #[test]
    fn two_fills_differ() {
        assert_ne!(
            secure_random_bytes(64).unwrap(),
            secure_random_bytes(64).unwrap()
        );
    }

    #[test]
    fn refuses_more_than_the_cap() {
        let error = secure_random_bytes(MAX_RANDOM_BYTES + 1).unwrap_err();
        assert!(error.downcast_ref::<TooManyRandomBytes>().is_some());
    }
}
