//! `policy-definition.yaml`: the policy's identity and optional limits.

use serde::Deserialize;

use crate::dispatch::breaker::BreakerOverrides;
use crate::sandbox::limits::{LimitError, LimitOverrides};

/// The parts of `policy-definition.yaml` the host uses; the gateway's other
/// fields (processingMode, parameters, systemParameters) are accepted and
/// ignored here.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PolicyDefinition {
    /// Policy name, e.g. `add-python-header`.
    pub name: String,
    /// Policy version, e.g. `v1.0.0`.
    pub version: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// Must be `python` when given.
    #[serde(default)]
    pub runtime: Option<String>,
    /// Overrides of the host's default limits.
    #[serde(default)]
    pub limits: Option<LimitsBlock>,
}

/// The `limits:` block; camelCase like the rest of the file, snake_case accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsBlock {
    /// Memory cap in MiB.
    #[serde(default, alias = "memory_mib", alias = "memoryMiB")]
    pub memory_mib: Option<u64>,
    /// Fuel budget.
    #[serde(default)]
    pub fuel: Option<u64>,
    /// Deadline in milliseconds.
    #[serde(default, alias = "timeout_ms", alias = "timeoutMs")]
    pub timeout_ms: Option<u64>,
    /// Sandbox-limit failures in a row that open the circuit breaker (only
    /// lower than the server's takes effect).
    #[serde(default, alias = "breaker_failures", alias = "breakerFailures")]
    pub breaker_failures: Option<u32>,
    /// The breaker's cool-down in milliseconds (only longer than the
    /// server's takes effect).
    #[serde(default, alias = "breaker_cooldown_ms", alias = "breakerCooldownMs")]
    pub breaker_cooldown_ms: Option<u64>,
}

/// Why a definition was rejected.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// Not valid YAML, or fields of the wrong type.
    #[error("policy-definition.yaml: {0}")]
    Yaml(#[from] serde_norway::Error),
    /// A name or version that cannot name a component file.
    #[error(
        "policy-definition.yaml: {field} {value:?} must be 1-128 characters of letters, digits, '.', '_', '-' or '+', starting with a letter or digit"
    )]
    BadIdentifier {
        /// `name` or `version`.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// A runtime other than python.
    #[error(
        "policy-definition.yaml: runtime {0:?} is not supported by policy-host (expected \"python\")"
    )]
    Runtime(String),
    /// A limit out of range.
    #[error("policy-definition.yaml: {0}")]
    Limit(#[from] LimitError),
}

fn check_identifier(field: &'static str, value: &str) -> Result<(), DefinitionError> {
    let ok = (1..=128).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(DefinitionError::BadIdentifier {
            field,
            value: value.into(),
        })
    }
}

impl PolicyDefinition {
    /// Parses and validates the YAML text.
    pub fn parse(text: &str) -> Result<Self, DefinitionError> {
        let definition: PolicyDefinition = serde_norway::from_str(text)?;
        check_identifier("name", &definition.name)?;
        check_identifier("version", &definition.version)?;
        if let Some(runtime) = &definition.runtime
            && runtime != "python"
        {
            return Err(DefinitionError::Runtime(runtime.clone()));
        }
        definition.limit_overrides().validate()?;
        Ok(definition)
    }

    /// The `limits:` block as host limit overrides.
    pub fn limit_overrides(&self) -> LimitOverrides {
        let block = self.limits.unwrap_or_default();
        LimitOverrides {
            memory_mib: block.memory_mib,
            fuel: block.fuel,
            timeout_ms: block.timeout_ms,
        }
    }

    /// The `limits:` block's circuit-breaker settings.
    pub fn breaker_overrides(&self) -> BreakerOverrides {
        let block = self.limits.unwrap_or_default();
        BreakerOverrides {
            failures: block.breaker_failures,
            cooldown_ms: block.breaker_cooldown_ms,
        }
    }

    /// The component file name: `<name>-<version>.wasm`.
    pub fn component_file_name(&self) -> String {
        format!("{}-{}.wasm", self.name, self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_identity_and_camel_case_limits() {
        let definition = PolicyDefinition::parse(
            "name: p\nversion: v1.0.0\nruntime: python\nprocessingMode: {requestHeaderMode: PROCESS}\n\
             limits:\n  memoryMiB: 32\n  timeoutMs: 100\n",
        )
        .unwrap();
        assert_eq!(definition.component_file_name(), "p-v1.0.0.wasm");
        let limits = definition.limit_overrides();
        assert_eq!(limits.memory_mib, Some(32));
        assert_eq!(limits.timeout_ms, Some(100));
        assert_eq!(limits.fuel, None);
        assert!(definition.breaker_overrides().is_empty());
        let strict = PolicyDefinition::parse(
            "name: p\nversion: v1\nlimits:\n  breakerFailures: 2\n  breakerCooldownMs: 60000\n",
        )
        .unwrap();
        assert_eq!(strict.breaker_overrides().failures, Some(2));
        assert_eq!(strict.breaker_overrides().cooldown_ms, Some(60_000));
    }

    #[test]
    fn rejects_bad_names_runtimes_and_limits() {
        let bad = |text: &str| PolicyDefinition::parse(text).unwrap_err().to_string();
        assert!(bad("name: ../x\nversion: v1\n").contains("name \"../x\""));
        assert!(bad("name: p\nversion: v1\nruntime: go\n").contains("runtime \"go\""));
        assert!(bad("name: p\nversion: v1\nlimits: {fuel: 1}\n").contains("limits.fuel"));
        assert!(bad("name: p\nversion: v1\nlimits: {cpu: 1}\n").contains("unknown field"));
        assert!(bad("version: v1\n").contains("missing field `name`"));
    }
}
