//! The policy registry: `name` + `version` → a ready-to-run policy, with the
//! major-version fallback of SPEC §1: the gateway registers every policy as
//! `name:v<major>`, so `v1`, `v1.0.0` and `v1.7.3` all reach the highest
//! loaded v1 when no version matches exactly.

use std::collections::HashMap;
use std::sync::Arc;

use super::resident::{LoadFailure, PolicyEntry, Residency};
use crate::sandbox::CompiledPolicy;

/// Servable policies by name and version, and the bound on how many of
/// the lazily loaded ones stay in memory.
pub struct PolicyRegistry {
    policies: HashMap<String, HashMap<String, Arc<PolicyEntry>>>,
    entries: Vec<Arc<PolicyEntry>>,
    residency: Arc<Residency>,
}

impl Default for PolicyRegistry {
    fn default() -> Self {
        Self::with_max_resident(usize::MAX)
    }
}

/// Two components claim the same name and version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy {name} {version} is loaded twice: remove one of the components")]
pub struct DuplicatePolicy {
    /// The name.
    pub name: String,
    /// The version.
    pub version: String,
}

/// The major-version part of a version string: `v1.2.3` → `v1`.
pub fn major_version(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

/// Orders versions like `v1.2.10` > `v1.2.9` > `v1.2`: numeric parts as
/// numbers, anything else as text, a missing part below any present one.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let mut left = version_parts(a);
    let mut right = version_parts(b);
    loop {
        match (left.next(), right.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => x.cmp(y),
                };
                if order.is_ne() {
                    return order;
                }
            }
        }
    }
}

fn version_parts(version: &str) -> impl Iterator<Item = &str> {
    version
        .trim_start_matches(['v', 'V'])
        .split(['.', '-', '+'])
}

impl PolicyRegistry {
    /// An empty registry with no bound on resident policies.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry keeping at most `max` lazily loaded policies in
    /// memory (the least recently used is unloaded past it).
    pub fn with_max_resident(max: usize) -> Self {
        PolicyRegistry {
            policies: HashMap::new(),
            entries: Vec::new(),
            residency: Arc::new(Residency::new(max)),
        }
    }

    /// An empty registry under the same resident bound and count as this
    /// one, to be filled by a reload and swapped in for it.
    pub fn successor(&self) -> PolicyRegistry {
        PolicyRegistry {
            policies: HashMap::new(),
            entries: Vec::new(),
            residency: self.residency.clone(),
        }
    }

    /// Sets the resident count to the entries of this registry in memory
    /// (after a reload: entries of the old one that were dropped no longer
    /// count).
    pub fn recount_resident(&self) {
        self.residency.recount(&self.entries);
    }

    /// `entry`'s policy, loaded now if it is not in memory.
    pub fn resolve(&self, entry: &PolicyEntry) -> Result<Arc<CompiledPolicy>, LoadFailure> {
        self.residency.get(entry, &self.entries)
    }

    /// Times this registry (or one a reload made from it, or it from) has
    /// dropped policies: unloads past the resident bound, and
    /// [`PolicyRegistry::retire`]. A change tells that some were dropped.
    pub fn drops(&self) -> u64 {
        self.residency.drops()
    }

    /// Marks this registry replaced by a reload: its policies are dropped
    /// once its last call ends.
    pub fn retire(&self) {
        self.residency.count_drop();
    }

    /// Lazily loaded policies in memory now.
    pub fn resident(&self) -> usize {
        self.residency.resident()
    }

    /// Loads policies not in memory yet, in the order registered, until the
    /// resident bound is reached (the server's background warm-up). A
    /// policy that fails is logged (once) and left out.
    pub fn preload(&self) {
        for entry in &self.entries {
            if self.resident() >= self.residency.max_resident() {
                return;
            }
            if entry.if_loaded().is_none() {
                let _ = self.resolve(entry);
            }
        }
    }

    /// Registers the loaded `policy` as `name` `version`.
    pub fn insert(
        &mut self,
        name: &str,
        version: &str,
        policy: Arc<CompiledPolicy>,
    ) -> Result<(), DuplicatePolicy> {
        self.insert_entry(name, version, PolicyEntry::loaded(policy))
    }

    /// Registers `entry` (loaded or not) as `name` `version`.
    pub fn insert_entry(
        &mut self,
        name: &str,
        version: &str,
        entry: Arc<PolicyEntry>,
    ) -> Result<(), DuplicatePolicy> {
        let versions = self.policies.entry(name.to_string()).or_default();
        if versions.contains_key(version) {
            return Err(DuplicatePolicy {
                name: name.into(),
                version: version.into(),
            });
        }
        versions.insert(version.to_string(), entry.clone());
        self.entries.push(entry);
        Ok(())
    }

    /// The policy registered exactly as `name` `version`, else the highest
    /// loaded version of `name` with `version`'s major version.
    pub fn lookup(&self, name: &str, version: &str) -> Option<&Arc<PolicyEntry>> {
        let versions = self.policies.get(name)?;
        if let Some(exact) = versions.get(version) {
            return Some(exact);
        }
        let major = major_version(version);
        versions
            .iter()
            .filter(|(loaded, _)| major_version(loaded) == major)
            .max_by(|(a, _), (b, _)| compare_versions(a, b))
            .map(|(_, policy)| policy)
    }

    /// How many policies are servable (loaded or not).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no policy is servable.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, in the order registered.
    pub fn entries(&self) -> &[Arc<PolicyEntry>] {
        &self.entries
    }

    /// Every `(name, version)` loaded, sorted.
    pub fn keys(&self) -> Vec<(String, String)> {
        let mut keys: Vec<_> = self
            .policies
            .iter()
            .flat_map(|(name, versions)| versions.keys().map(move |v| (name.clone(), v.clone())))
            .collect();
        keys.sort();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_version_takes_the_first_component() {
        assert_eq!(major_version("v1.0.0"), "v1");
        assert_eq!(major_version("v2"), "v2");
        assert_eq!(major_version(""), "");
    }

    #[test]
    fn versions_compare_by_their_numbers() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("v1.2.10", "v1.2.9"), Greater);
        assert_eq!(compare_versions("v1.2", "v1.2.0"), Less);
        assert_eq!(compare_versions("v1.0.0", "v1.0.0"), Equal);
        assert_eq!(compare_versions("v2", "v10"), Less);
    }
}
