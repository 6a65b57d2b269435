//! What a policy may put in the headers it returns.
//!
//! The gateway copies header changes into HTTP messages, so a name or value
//! that HTTP cannot carry (a CR/LF that would split the header block, a NUL,
//! a space in a name) is refused here, with the header named, instead of
//! being passed to Envoy. The glue runs inside the sandbox and cannot be
//! trusted to check this.

use crate::contract::{Action, HeaderChanges};

/// Checks every header name and value in `action`.
pub fn check_action_headers(action: &Action) -> Result<(), String> {
    match action {
        Action::ContinueRequest(changes) => check_changes(&changes.headers),
        Action::ContinueResponse(changes) => check_changes(&changes.headers),
        Action::ImmediateResponse(response) => response
            .headers
            .iter()
            .try_for_each(|(name, value)| check_field("headers", name, value)),
    }
}

fn check_changes(changes: &HeaderChanges) -> Result<(), String> {
    for (name, value) in &changes.set_headers {
        check_field("set_headers", name, value)?;
    }
    for (name, values) in &changes.append_headers {
        for value in values {
            check_field("append_headers", name, value)?;
        }
    }
    changes
        .remove_headers
        .iter()
        .try_for_each(|name| check_name("remove_headers", name))
}

fn check_field(field: &str, name: &str, value: &str) -> Result<(), String> {
    check_name(field, name)?;
    match value.chars().find(|&c| !is_value_char(c)) {
        None => Ok(()),
        Some(bad) => Err(format!(
            "{field}: the value of header {} contains {bad:?}, which HTTP header values cannot carry",
            shown(name)
        )),
    }
}

fn check_name(field: &str, name: &str) -> Result<(), String> {
    // HTTP/2 pseudo-header names start with ':'; the rest is an RFC 9110 token.
    let token = name.strip_prefix(':').unwrap_or(name);
    if !token.is_empty() && token.chars().all(is_token_char) {
        return Ok(());
    }
    Err(format!(
        "{field}: {} is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)",
        shown(name)
    ))
}

/// RFC 9110 `tchar`.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// RFC 9110 field-value characters: visible ASCII, space, tab, and any
/// non-ASCII character (obs-text, as UTF-8).
fn is_value_char(c: char) -> bool {
    c == '\t' || c == ' ' || c.is_ascii_graphic() || !c.is_ascii()
}

/// A name for an error message: quoted, escaped, and cut short.
fn shown(name: &str) -> String {
    let short: String = name.chars().take(64).collect();
    format!("{short:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{ImmediateResponse, RequestChanges};

    fn setting(name: &str, value: &str) -> Action {
        let mut changes = RequestChanges::default();
        changes
            .headers
            .set_headers
            .insert(name.to_string(), value.to_string());
        Action::ContinueRequest(changes)
    }

    #[test]
    fn ordinary_headers_pass() {
        assert!(check_action_headers(&setting("x-trace", "a b\tc; q=0.5 é")).is_ok());
        assert!(check_action_headers(&setting(":authority", "example.test")).is_ok());
    }

    #[test]
    fn header_splitting_and_control_characters_are_refused() {
        let error = check_action_headers(&setting("x-a", "1\r\nx-injected: 2")).unwrap_err();
        assert!(
            error.contains("\"x-a\"") && error.contains("'\\r'"),
            "{error}"
        );
        assert!(check_action_headers(&setting("x-a", "nul\0")).is_err());
        assert!(check_action_headers(&setting("x-a", "del\u{7f}")).is_err());
    }

    #[test]
    fn bad_names_are_refused_everywhere() {
        assert!(check_action_headers(&setting("x a", "1")).is_err());
        assert!(check_action_headers(&setting("", "1")).is_err());
        assert!(check_action_headers(&setting(":", "1")).is_err());
        let mut changes = RequestChanges::default();
        changes.headers.remove_headers.push("bad\nname".into());
        assert!(check_action_headers(&Action::ContinueRequest(changes)).is_err());
        let mut response = ImmediateResponse::default();
        response.headers.insert("x-ok".into(), "v\n".into());
        assert!(check_action_headers(&Action::ImmediateResponse(response)).is_err());
    }
}
