//! Build failures name what the author must fix.

use crate::harness::{harness, policy_dir};

fn build_error(name: &str) -> String {
    match harness().try_build(&policy_dir(name)) {
        Ok(_) => panic!("{name} should not build"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn a_syntax_error_is_reported_as_file_and_line() {
    let message = build_error("bad-syntax");
    assert!(message.starts_with("policy.py:3: "), "{message}");
}

#[test]
fn a_module_without_entry_points_is_rejected() {
    let message = build_error("no-entry");
    assert!(message.contains("neither on_request"), "{message}");
}

#[test]
fn a_native_extension_requirement_is_named() {
    let message = build_error("native-dep");
    assert!(
        message.contains("rpds-py") && message.contains("native extension"),
        "{message}"
    );
}

#[test]
fn requirement_paths_and_options_are_refused() {
    let message = build_error("bad-requirement");
    assert!(
        message.contains("requirements.txt line 1") && message.contains("-e ../../../etc"),
        "{message}"
    );
}
