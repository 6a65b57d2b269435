//! Policies loaded on first use, and unloaded under a bound.
//!
//! A [`PolicyEntry`] is a servable policy: either loaded once and kept
//! (tests, `run`), or known only by its component file until a call (or the
//! background preloader) needs it. [`Residency`] bounds how many lazily
//! loaded policies stay in memory: loading one past the bound unloads the
//! least recently used other. Unloading only drops the registry's handle;
//! calls already holding the policy finish on it, and the next call loads
//! it again, so no call ever fails because its policy was cold.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::sandbox::CompiledPolicy;

/// Loads one policy from its component (file read, machine code from the
/// cache, load-time check); the error is shown to operators as is.
pub type Load = Box<dyn Fn() -> Result<Arc<CompiledPolicy>, String> + Send + Sync>;

/// One servable policy, loaded or not.
pub struct PolicyEntry {
    label: String,
    loaded: Mutex<Option<Arc<CompiledPolicy>>>,
    load: Option<Load>,
    /// Why loading failed, once it has: later calls get the same answer at
    /// once instead of reading the component again.
    failed: Mutex<Option<String>>,
    last_used: AtomicU64,
}

impl PolicyEntry {
    /// An entry for a policy already loaded, never unloaded.
    pub fn loaded(policy: Arc<CompiledPolicy>) -> Arc<PolicyEntry> {
        Arc::new(PolicyEntry {
            label: policy.label().to_string(),
            loaded: Mutex::new(Some(policy)),
            load: None,
            failed: Mutex::new(None),
            last_used: AtomicU64::new(0),
        })
    }

    /// An entry that `load`s its policy when first needed.
    pub fn lazy(label: String, load: Load) -> Arc<PolicyEntry> {
        Arc::new(PolicyEntry {
            label,
            loaded: Mutex::new(None),
            load: Some(load),
            failed: Mutex::new(None),
            last_used: AtomicU64::new(0),
        })
    }

    /// `name@version`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The policy if it is in memory now.
    pub fn if_loaded(&self) -> Option<Arc<CompiledPolicy>> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Option<Arc<CompiledPolicy>>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The bound on lazily loaded policies, and the clock that orders them.
pub struct Residency {
    max_resident: usize,
    resident: AtomicUsize,
    clock: AtomicU64,
    /// Serializes unloading, so two loads never pick the same victim.
    evicting: Mutex<()>,
}

impl Residency {
    /// Keeps at most `max_resident` lazily loaded policies (at least one).
    pub fn new(max_resident: usize) -> Residency {
        Residency {
            max_resident: max_resident.max(1),
            resident: AtomicUsize::new(0),
            clock: AtomicU64::new(1),
            evicting: Mutex::new(()),
        }
    }

    /// Lazily loaded policies in memory now.
    pub fn resident(&self) -> usize {
        self.resident.load(Ordering::SeqCst)
    }

    /// The most lazily loaded policies kept in memory.
    pub fn max_resident(&self) -> usize {
        self.max_resident
    }

    /// `entry`'s policy, loading it first if it is not in memory (and then
    /// unloading the least recently used of `all` past the bound). Calls for
    /// the same cold policy wait for one load.
    pub fn get(
        &self,
        entry: &PolicyEntry,
        all: &[Arc<PolicyEntry>],
    ) -> Result<Arc<CompiledPolicy>, String> {
        entry.last_used.store(
            self.clock.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        let mut slot = entry.lock();
        if let Some(policy) = slot.as_ref() {
            return Ok(policy.clone());
        }
        let load = entry
            .load
            .as_ref()
            .ok_or_else(|| format!("{} was unloaded and cannot be loaded again", entry.label))?;
        if let Some(error) = entry
            .failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Err(error);
        }
        let started = std::time::Instant::now();
        let policy = load().inspect_err(|error| {
            tracing::error!(
                policy = entry.label,
                "the policy failed to load; its calls fail until a restart: {error}"
            );
            *entry.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.clone());
        })?;
        *slot = Some(policy.clone());
        drop(slot);
        let resident = self.resident.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::debug!(
            policy = entry.label,
            load_ms = started.elapsed().as_millis() as u64,
            resident,
            "loaded policy on demand"
        );
        if resident > self.max_resident {
            self.unload_least_recent(entry, all);
        }
        Ok(policy)
    }

    fn unload_least_recent(&self, keep: &PolicyEntry, all: &[Arc<PolicyEntry>]) {
        let _one_at_a_time = self.evicting.lock().unwrap_or_else(|e| e.into_inner());
        while self.resident() > self.max_resident {
            let victim = all
                .iter()
                .filter(|e| e.load.is_some() && !std::ptr::eq(&***e, keep))
                .filter(|e| e.lock().is_some())
                .min_by_key(|e| e.last_used.load(Ordering::Relaxed));
            let Some(victim) = victim else { return };
            if victim.lock().take().is_some() {
                self.resident.fetch_sub(1, Ordering::SeqCst);
                tracing::debug!(
                    policy = victim.label,
                    "unloaded the least recently used policy"
                );
            }
        }
    }
}
