//! An in-process store for Cranelift's incremental compilation cache.
//!
//! Every policy component carries the same CPython, libc and glue code; only
//! the snapshot data differs. With this store, compiling the second and later
//! policies in one process reuses the machine code of every function already
//! compiled (keyed by Cranelift on the function body and compiler settings),
//! which cuts a ~10 s compile to about a second. It lives as long as the engine
//! and is only enabled where many components are compiled (`build`, tests),
//! not in the server, which loads precompiled artifacts and should not hold
//! the entries in memory.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Entries the store keeps at most, in bytes of compiled output; beyond this
/// new entries are refused (compilation then simply does the work).
const MAX_STORED_BYTES: usize = 512 * 1024 * 1024;

/// Function-level compiled code shared by every compilation of one engine.
#[derive(Debug, Default)]
pub struct IncrementalCompileCache {
    entries: RwLock<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_key: HashMap<Vec<u8>, Arc<[u8]>>,
    stored_bytes: usize,
}

impl IncrementalCompileCache {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many functions are stored.
    pub fn len(&self) -> usize {
        self.read().by_key.len()
    }

    /// Whether nothing is stored yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl wasmtime::CacheStore for IncrementalCompileCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let value = self.read().by_key.get(key)?.clone();
        Some(Cow::Owned(value.to_vec()))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.stored_bytes + value.len() > MAX_STORED_BYTES {
            return false;
        }
        entries.stored_bytes += value.len();
        entries.by_key.insert(key.to_vec(), value.into());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::CacheStore;

    #[test]
    fn stores_and_returns_entries() {
        let cache = IncrementalCompileCache::new();
        assert!(cache.get(b"f").is_none());
        assert!(cache.insert(b"f", vec![1, 2, 3]));
        assert_eq!(cache.get(b"f").as_deref(), Some(&[1, 2, 3][..]));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn refuses_entries_beyond_the_budget() {
        let cache = IncrementalCompileCache::new();
        assert!(!cache.insert(b"big", vec![0; MAX_STORED_BYTES + 1]));
        assert!(cache.is_empty());
    }
}
