//! The policy registry: `name` + `version` → a ready-to-run policy, with the
//! major-version fallback of SPEC §1: the gateway registers every policy as
//! `name:v<major>`, so `v1`, `v1.0.0` and `v1.7.3` all reach the highest
//! loaded v1 when no version matches exactly.

use std::collections::HashMap;
use std::sync::Arc;

use crate::sandbox::CompiledPolicy;

/// Loaded policies by name and version.
#[derive(Default)]
pub struct PolicyRegistry {
    policies: HashMap<String, HashMap<String, Arc<CompiledPolicy>>>,
    count: usize,
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
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `policy` as `name` `version`.
    pub fn insert(
        &mut self,
        name: &str,
        version: &str,
        policy: Arc<CompiledPolicy>,
    ) -> Result<(), DuplicatePolicy> {
        let versions = self.policies.entry(name.to_string()).or_default();
        if versions.contains_key(version) {
            return Err(DuplicatePolicy {
                name: name.into(),
                version: version.into(),
            });
        }
        versions.insert(version.to_string(), policy);
        self.count += 1;
        Ok(())
    }

    /// The policy registered exactly as `name` `version`, else the highest
    /// loaded version of `name` with `version`'s major version.
    pub fn lookup(&self, name: &str, version: &str) -> Option<&Arc<CompiledPolicy>> {
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

    /// How many policies are loaded.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no policy is loaded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
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
