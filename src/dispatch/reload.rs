//! Hot reload: the policy directory scanned again and swapped in at once.
//!
//! A reload (SIGHUP, or a change the watcher saw in `--policies`) builds a
//! new registry beside the serving one:
//! - a file whose path, size and mtime are unchanged keeps its entry (loaded
//!   or not, with its breaker and counters);
//! - a new or changed file gets a new entry, loaded now, before it takes a
//!   call; if it does not load, it is logged and counted, and the version
//!   that file held before (if any) stays in service;
//! - a removed file's entries are left out: they take no new calls.
//!
//! Then the dispatcher swaps registries in one step. A call admitted before
//! the swap holds its entry, so it finishes on the version it started on;
//! a call after it sees the new one. Reloads run one at a time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::dispatcher::Dispatcher;
use super::loader::{DirectoryOptions, LoadPolicyError, component_paths, lazy_entry, skipped};
use super::registry::PolicyRegistry;
use super::resident::{FileStamp, PolicyEntry};
use crate::cache::ArtifactCache;
use crate::sandbox::SandboxEngine;

/// What one reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Files served for the first time.
    pub added: usize,
    /// Files whose new content now serves.
    pub changed: usize,
    /// Files gone: their policies take no new calls.
    pub removed: usize,
    /// Files kept as they were.
    pub unchanged: usize,
    /// Files that failed to load (the old version, if any, still serves).
    pub failed: usize,
}

/// Reloads one directory into one dispatcher.
pub struct Reloader {
    dispatcher: Arc<Dispatcher>,
    engine: Arc<SandboxEngine>,
    cache: Arc<ArtifactCache>,
    dir: PathBuf,
    options: DirectoryOptions,
    one_at_a_time: Mutex<()>,
}

impl Reloader {
    /// A reloader of `dir` into `dispatcher`, serving with `options`.
    pub fn new(
        dispatcher: Arc<Dispatcher>,
        engine: Arc<SandboxEngine>,
        cache: Arc<ArtifactCache>,
        dir: &Path,
        options: DirectoryOptions,
    ) -> Self {
        Reloader {
            dispatcher,
            engine,
            cache,
            dir: dir.to_path_buf(),
            options,
            one_at_a_time: Mutex::new(()),
        }
    }

    /// The directory it reloads.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Scans the directory, loads what is new, swaps the registry in, and
    /// logs what changed. An unreadable directory changes nothing.
    pub fn reload(&self, why: &str) -> Result<ReloadReport, LoadPolicyError> {
        let _serialized = self.one_at_a_time.lock().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        let current = self.dispatcher.registry();
        let outcome = self.rebuild(&current);
        if let Some(metrics) = self.dispatcher.metrics() {
            metrics.reloaded(matches!(&outcome, Ok((_, report)) if report.failed == 0));
        }
        let (next, report) = outcome.inspect_err(|error| {
            tracing::error!(dir = %self.dir.display(), why, "reload failed; the policies serving stay: {error}");
        })?;
        self.dispatcher.swap_registry(next);
        tracing::info!(
            why,
            added = report.added,
            changed = report.changed,
            removed = report.removed,
            unchanged = report.unchanged,
            failed = report.failed,
            policies = self.dispatcher.policy_count(),
            ms = started.elapsed().as_millis() as u64,
            "reloaded policies"
        );
        Ok(report)
    }

    fn rebuild(
        &self,
        current: &PolicyRegistry,
    ) -> Result<(PolicyRegistry, ReloadReport), LoadPolicyError> {
        let mut by_file: HashMap<PathBuf, Vec<Arc<PolicyEntry>>> = HashMap::new();
        for entry in current.entries() {
            if let Some(stamp) = &entry.meta().file {
                by_file
                    .entry(stamp.path.clone())
                    .or_default()
                    .push(entry.clone());
            }
        }
        let mut next = current.successor();
        let mut report = ReloadReport::default();
        for path in component_paths(&self.dir)? {
            let old = by_file.remove(&path).unwrap_or_default();
            let stamp = FileStamp::of(&path).ok();
            let same =
                !old.is_empty() && old.iter().all(|e| e.meta().file.as_ref() == stamp.as_ref());
            let entries = if same {
                report.unchanged += 1;
                old
            } else {
                self.fresh(&path, old, &mut report)
            };
            for entry in entries {
                let (name, version) = entry.name_and_version();
                let (name, version) = (name.to_string(), version.to_string());
                if let Err(error) = next.insert_entry(&name, &version, entry) {
                    skipped(&path, &error.into(), &self.options);
                    report.failed += 1;
                }
            }
        }
        report.removed = by_file.len();
        next.recount_resident();
        Ok((next, report))
    }

    /// The entries for a new or changed file: its new version, loaded, or
    /// the old entries when it does not load (pinned in memory if they are
    /// loaded, so that no later unload reads the broken file).
    fn fresh(
        &self,
        path: &Path,
        old: Vec<Arc<PolicyEntry>>,
        report: &mut ReloadReport,
    ) -> Vec<Arc<PolicyEntry>> {
        // A failed load is counted by the entry's loader; a manifest or
        // limits that do not read are counted here.
        let registered =
            lazy_entry(&self.engine, &self.cache, path, &self.options).inspect_err(|_| {
                if let Some(metrics) = &self.options.metrics {
                    metrics.load_failed();
                }
            });
        let loaded = registered.and_then(|(manifest, entry)| {
            entry
                .load_now()
                .map_err(|failure| LoadPolicyError::NotLoaded {
                    path: path.display().to_string(),
                    message: failure.message,
                })?;
            Ok((manifest, entry))
        });
        match loaded {
            Ok((manifest, entry)) => {
                if old.is_empty() {
                    report.added += 1
                } else {
                    report.changed += 1
                }
                tracing::info!(policy = %manifest.label(), file = %path.display(), "new version ready");
                vec![entry]
            }
            Err(error) => {
                report.failed += 1;
                let kept = if old.is_empty() {
                    ""
                } else {
                    "; the version it held before keeps serving"
                };
                tracing::error!(file = %path.display(), "reload: the component does not load{kept}: {error}");
                old.into_iter()
                    .map(|entry| match entry.if_loaded() {
                        Some(policy) => entry.pinned(policy),
                        None => entry,
                    })
                    .collect()
            }
        }
    }
}
