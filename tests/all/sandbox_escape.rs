//! The sandbox grants nothing: files, environment, network, processes.

use crate::harness::probe_attempt;

#[test]
fn host_files_are_unreachable() {
    assert_eq!(probe_attempt("open_passwd"), "blocked:FileNotFoundError");
    assert_eq!(probe_attempt("listdir_root"), "blocked:FileNotFoundError");
}

#[test]
fn the_environment_and_arguments_are_empty() {
    assert_eq!(probe_attempt("environ"), "ok:{}");
    let argv = probe_attempt("argv");
    assert!(
        !argv.contains("policy-host") && !argv.contains("target"),
        "{argv}"
    );
}

#[test]
fn sockets_are_refused() {
    let result = probe_attempt("socket");
    assert!(result.starts_with("blocked:"), "{result}");
}

#[test]
fn processes_cannot_be_started() {
    for attempt in ["subprocess", "os_system"] {
        let result = probe_attempt(attempt);
        assert!(result.starts_with("blocked:"), "{attempt}: {result}");
    }
}
