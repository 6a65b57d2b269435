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
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::breaker::{Breaker, BreakerOverrides, BreakerSettings};
use super::failure_log::LogBudget;
use super::metrics::{Metrics, PolicyMetrics};
use crate::sandbox::CompiledPolicy;

/// Loads one policy from its component (file read, machine code from the
/// cache, load-time check).
pub type Load = Box<dyn Fn() -> Result<Arc<CompiledPolicy>, LoadFailure> + Send + Sync>;

/// Why a load failed: shown to operators as is, and whether a later try
/// may succeed (the host was busy) or the component is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadFailure {
    /// What went wrong (names the file).
    pub message: String,
    /// The host, not the component, was at fault: not remembered.
    pub transient: bool,
}

impl LoadFailure {
    /// A failure of the component itself: remembered until it is replaced.
    pub fn lasting(message: impl Into<String>) -> LoadFailure {
        LoadFailure {
            message: message.into(),
            transient: false,
        }
    }
}

impl std::fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// One servable policy, loaded or not.
pub struct PolicyEntry {
    label: String,
    loaded: Mutex<Option<Arc<CompiledPolicy>>>,
    load: Option<Load>,
    /// Why loading failed, once it has for a lasting cause: later calls get
    /// the same answer at once instead of reading the component again.
    /// Held through each load, so one load of the entry runs at a time.
    failed: Mutex<Option<LoadFailure>>,
    last_used: AtomicU64,
    meta: EntryMeta,
    breaker: OnceLock<Breaker>,
    metrics: OnceLock<PolicyMetrics>,
    log_budget: LogBudget,
}

/// What an entry knows of where it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryMeta {
    /// The policy's own circuit-breaker settings.
    pub breaker: BreakerOverrides,
    /// The component file and its stamp, for a directory's entries.
    pub file: Option<FileStamp>,
}

/// A component file as a reload compares it: path, size and mtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    /// The file.
    pub path: std::path::PathBuf,
    /// Its size in bytes.
    pub len: u64,
    /// Its modification time.
    pub modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    /// The stamp of `path` now.
    pub fn of(path: &std::path::Path) -> std::io::Result<FileStamp> {
        let metadata = std::fs::metadata(path)?;
        Ok(FileStamp {
            path: path.to_path_buf(),
            len: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }
}

impl PolicyEntry {
    /// An entry for a policy already loaded, never unloaded.
    pub fn loaded(policy: Arc<CompiledPolicy>) -> Arc<PolicyEntry> {
        Self::new(
            policy.label().to_string(),
            Some(policy),
            None,
            EntryMeta::default(),
        )
    }

    /// An entry that `load`s its policy when first needed.
    pub fn lazy(label: String, load: Load, meta: EntryMeta) -> Arc<PolicyEntry> {
        Self::new(label, None, Some(load), meta)
    }

    /// This entry with `policy` loaded and pinned: never unloaded (a
    /// reload keeps a version in service this way when its file was
    /// replaced by one that does not load).
    pub fn pinned(&self, policy: Arc<CompiledPolicy>) -> Arc<PolicyEntry> {
        Self::new(self.label.clone(), Some(policy), None, self.meta.clone())
    }

    fn new(
        label: String,
        loaded: Option<Arc<CompiledPolicy>>,
        load: Option<Load>,
        meta: EntryMeta,
    ) -> Arc<PolicyEntry> {
        Arc::new(PolicyEntry {
            label,
            loaded: Mutex::new(loaded),
            load,
            failed: Mutex::new(None),
            last_used: AtomicU64::new(0),
            meta,
            breaker: OnceLock::new(),
            metrics: OnceLock::new(),
            log_budget: LogBudget::default(),
        })
    }

    /// Loads the policy now, outside any resident bound: a reload loads a
    /// new version before it takes calls. A failure is the caller's to
    /// report (a reload then drops this entry and keeps the old one).
    pub fn load_now(&self) -> Result<Arc<CompiledPolicy>, LoadFailure> {
        let load = self
            .load
            .as_ref()
            .ok_or_else(|| LoadFailure::lasting(format!("{} cannot be loaded", self.label)))?;
        let policy = load()?;
        *self.lock() = Some(policy.clone());
        Ok(policy)
    }

    /// The policy's name and version, from its `name@version` label
    /// (names and versions cannot hold an `@`).
    pub fn name_and_version(&self) -> (&str, &str) {
        split_label(&self.label)
    }

    /// The policy, loaded now if it is not in memory; whether it loaded
    /// now. `loading` runs just before a policy loaded now is published.
    /// Loads of one entry run one at a time (a caller that finds one
    /// running waits for it, then takes its result), and the policy's
    /// handle is locked only to read or swap it, never during a load: a
    /// look at the entry ([`Self::if_loaded`], an eviction scan) does not
    /// wait for a load of tens of milliseconds. A failed load is logged;
    /// unless the host was only busy it is remembered, and answers every
    /// later try at once.
    fn load_once(
        &self,
        loading: impl FnOnce(),
    ) -> Result<(Arc<CompiledPolicy>, bool), LoadFailure> {
        if let Some(policy) = self.if_loaded() {
            return Ok((policy, false));
        }
        let load = self.load.as_ref().ok_or_else(|| {
            LoadFailure::lasting(format!(
                "{} was unloaded and cannot be loaded again",
                self.label
            ))
        })?;
        // Held through the load: the one load of this entry at a time.
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(policy) = self.if_loaded() {
            return Ok((policy, false));
        }
        if let Some(error) = failed.clone() {
            return Err(error);
        }
        let policy = load().inspect_err(|error| {
            if error.transient {
                tracing::warn!(policy = self.label, "the policy could not load now; its next call tries again: {error}");
            } else {
                tracing::error!(
                    policy = self.label,
                    "the policy failed to load; its calls fail until its component is replaced: {error}"
                );
                *failed = Some(error.clone());
            }
        })?;
        loading();
        *self.lock() = Some(policy.clone());
        Ok((policy, true))
    }

    /// Where the entry came from.
    pub fn meta(&self) -> &EntryMeta {
        &self.meta
    }

    /// The entry's breaker, made on first use from the server's `settings`
    /// tightened by the policy's own.
    pub fn breaker(&self, settings: BreakerSettings) -> &Breaker {
        self.breaker
            .get_or_init(|| Breaker::new(settings.tightened_by(self.meta.breaker)))
    }

    /// The breaker if a call has made it.
    pub fn breaker_if_made(&self) -> Option<&Breaker> {
        self.breaker.get()
    }

    /// The entry's metric handles in `metrics`, made on first use.
    pub fn metrics(&self, metrics: &Metrics) -> &PolicyMetrics {
        self.metrics.get_or_init(|| metrics.policy(&self.label))
    }

    /// The entry's failure-log budget.
    pub fn log_budget(&self) -> &LogBudget {
        &self.log_budget
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

/// `name@version` split into its name and version (all of it is the name
/// when there is no `@`).
pub fn split_label(label: &str) -> (&str, &str) {
    label.rsplit_once('@').unwrap_or((label, ""))
}

/// The bound on lazily loaded policies, and the clock that orders them.
pub struct Residency {
    max_resident: usize,
    resident: AtomicUsize,
    clock: AtomicU64,
    /// Times a registry under this bound dropped policies: each unload,
    /// and each reload that retired one.
    drops: AtomicU64,
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
            drops: AtomicU64::new(0),
            evicting: Mutex::new(()),
        }
    }

    /// Times policies were dropped so far: a change tells that some were.
    pub fn drops(&self) -> u64 {
        self.drops.load(Ordering::Relaxed)
    }

    /// Counts a drop that is not an unload (a reload retiring a registry).
    pub fn count_drop(&self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }

    /// Lazily loaded policies in memory now.
    pub fn resident(&self) -> usize {
        self.resident.load(Ordering::SeqCst)
    }

    /// Counts the lazily loaded entries of `all` in memory as resident.
    pub fn recount(&self, all: &[Arc<PolicyEntry>]) {
        let resident = all
            .iter()
            .filter(|e| e.load.is_some() && e.lock().is_some())
            .count();
        self.resident.store(resident, Ordering::SeqCst);
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
    ) -> Result<Arc<CompiledPolicy>, LoadFailure> {
        entry.last_used.store(
            self.clock.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        let started = std::time::Instant::now();
        // Counted before it is published, so that an eviction running
        // meanwhile never counts it out before it was counted in.
        let count_in = || {
            self.resident.fetch_add(1, Ordering::SeqCst);
        };
        let (policy, loaded_now) = entry.load_once(count_in)?;
        if !loaded_now {
            return Ok(policy);
        }
        let resident = self.resident();
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
                self.count_drop();
                tracing::debug!(
                    policy = victim.label,
                    "unloaded the least recently used policy"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
