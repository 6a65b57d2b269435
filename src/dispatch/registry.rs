//! The policy registry: `name` + `version` → a ready-to-run policy, with the
//! major-version fallback of SPEC §1 (`v1.0.0` falls back to `v1`).

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

    /// The policy registered exactly as `name` `version`, else the one
    /// registered under `version`'s major version.
    pub fn lookup(&self, name: &str, version: &str) -> Option<&Arc<CompiledPolicy>> {
        let versions = self.policies.get(name)?;
        versions
            .get(version)
            .or_else(|| versions.get(major_version(version)))
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
}
