//! What the glue reports about a policy module when it is loaded: the
//! phases it defines and how it is entered (the `describe` export).

use serde::Deserialize;

use super::Phase;

/// How the policy module is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// Module-level `on_request(ctx, params)` / `on_response(ctx, params)`.
    Functions,
    /// The deprecated `get_policy(metadata, params)` factory.
    Factory,
}

/// What the guest glue reported about the policy module.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestDescription {
    /// The phases the module defines.
    pub phases: Vec<Phase>,
    /// How the module is entered.
    pub entry: Entry,
}

impl GuestDescription {
    /// Parses the `describe` export's JSON; the error quotes what the
    /// guest sent.
    pub fn from_json(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|error| format!("bad description {json:?}: {error}"))
    }

    /// Whether the module uses the deprecated `get_policy` factory.
    pub fn is_factory(&self) -> bool {
        self.entry == Entry::Factory
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_entries_parse_and_anything_else_is_refused() {
        let functions =
            GuestDescription::from_json(r#"{"phases":["on_request"],"entry":"functions"}"#)
                .unwrap();
        assert_eq!(functions.phases, [Phase::OnRequest]);
        assert!(!functions.is_factory());
        let factory = GuestDescription::from_json(
            r#"{"phases":["on_request","on_response"],"entry":"factory"}"#,
        )
        .unwrap();
        assert!(factory.is_factory());
        let error = GuestDescription::from_json(r#"{"phases":[],"entry":"class"}"#).unwrap_err();
        assert!(error.contains("class"), "{error}");
    }
}
