//! The JSON the `run` and `call` subcommands print for a failed call. The
//! context they read and the action they print are the contract's
//! ([`crate::contract::sdk_json`], re-exported here).

use serde_json::{Value, json};

pub use crate::contract::sdk_json::{ContextFile, action_json, bytes_json, output_json};
use crate::dispatch::CallError;
use crate::sandbox::SandboxError;
use crate::transport::status;

/// What `run` prints for a failed call.
pub fn error_json(error_type: &str, message: &str) -> Value {
    json!({ "error": { "type": error_type, "message": message } })
}

/// [`error_json`] for a call error; a policy's exception also carries its
/// location and its whole Python traceback.
pub fn call_error_json(error: &CallError) -> Value {
    let mut value = error_json(status::error_type(error), &error.to_string());
    if let Some(SandboxError::PolicyRaised {
        kind,
        location,
        traceback,
        ..
    }) = error.sandbox()
    {
        let fields = &mut value["error"];
        fields["exception"] = json!(kind);
        fields["location"] = json!(location);
        fields["traceback"] = json!(traceback);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_exception_prints_with_its_traceback() {
        let error = CallError::from(SandboxError::PolicyRaised {
            kind: "KeyError".into(),
            message: "'x'".into(),
            location: "policy.py:3".into(),
            traceback: "Traceback (most recent call last):\n  ...\nKeyError: 'x'\n".into(),
        });
        let value = call_error_json(&error);
        assert_eq!(value["error"]["type"], "execution_error");
        assert_eq!(
            value["error"]["message"],
            "policy raised KeyError: 'x' (policy.py:3)"
        );
        assert_eq!(value["error"]["location"], "policy.py:3");
        assert!(
            value["error"]["traceback"]
                .as_str()
                .unwrap()
                .ends_with("KeyError: 'x'\n")
        );
        let other = call_error_json(&CallError::InvalidInput("bad".into()));
        assert_eq!(other["error"].get("traceback"), None);
    }
}
