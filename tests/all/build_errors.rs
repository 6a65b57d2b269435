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

/// An import failure deep in the policy's own files names the file and
/// line that raised it and the missing module.
#[test]
fn an_import_error_names_its_file_line_and_module() {
    let message = build_error("import-error");
    assert!(
        message.starts_with("helper.py:3: No module named '_policy_host_missing_native'"),
        "{message}"
    );
}

/// The build's guest sees none of the host's Python packages: the host's
/// site-packages is neither importable nor writable while a policy builds.
#[test]
fn the_build_exposes_no_host_site_packages() {
    let host_site = std::process::Command::new("python3")
        .args(["-c", "import site; print(site.getsitepackages()[0])"])
        .output()
        .expect("python3");
    let host_site = String::from_utf8(host_site.stdout)
        .unwrap()
        .trim()
        .to_string();
    let marker = "policy_host_build_escape_marker.txt";
    let (_dir, package) = hostile_package(|p| {
        std::fs::write(
            p.join("policy.py"),
            format!(
                "import os, sys\n\
                 REACHED = []\n\
                 for entry in sys.path:\n\
                 \x20   try:\n\
                 \x20       open(os.path.join(entry, {marker:?}), 'w').close()\n\
                 \x20   except OSError:\n\
                 \x20       pass\n\
                 \x20   if os.path.isdir(os.path.join(entry, 'pip')):\n\
                 \x20       REACHED.append(entry)\n\
                 if REACHED:\n\
                 \x20   raise RuntimeError('host packages on the path: %r' % REACHED)\n\
                 def on_request(ctx, params):\n\
                 \x20   return None\n"
            ),
        )
        .unwrap();
    });
    let built = harness().try_build(&package);
    let written = std::path::Path::new(&host_site).join(marker);
    let escaped = written.exists();
    let _ = std::fs::remove_file(&written);
    assert!(!escaped, "a policy wrote into the host's {host_site}");
    built.unwrap_or_else(|error| panic!("{error}"));
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

/// A package in a temporary directory holding a trivial policy, with a
/// secret planted beside it (outside the package).
fn hostile_package(
    tweak: impl FnOnce(&std::path::Path),
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.txt"), "host-secret").unwrap();
    let package = dir.path().join("package");
    std::fs::create_dir(&package).unwrap();
    std::fs::write(
        package.join("policy.py"),
        "def on_request(ctx, params):\n    return None\n",
    )
    .unwrap();
    std::fs::write(
        package.join("policy-definition.yaml"),
        "name: hostile-package\nversion: v1\nruntime: python\n",
    )
    .unwrap();
    tweak(&package);
    (dir, package)
}

fn hostile_build_error(tweak: impl FnOnce(&std::path::Path)) -> String {
    let (_dir, package) = hostile_package(tweak);
    match harness().try_build(&package) {
        Ok(_) => panic!("a hostile package built"),
        Err(error) => error.to_string(),
    }
}

/// What a hostile package case does to the package directory.
type Tweak = Box<dyn FnOnce(&std::path::Path)>;

#[test]
fn hostile_packages_fail_before_anything_outside_is_read() {
    for (what, tweak, expected) in symlink_cases().into_iter().chain(other_hostile_cases()) {
        let message = hostile_build_error(tweak);
        assert!(message.contains(expected), "{what}: {message}");
        assert!(!message.contains("host-secret"), "{what}: {message}");
    }
}

/// A hostile case: what it is, how it changes a good package, and what
/// the build error must say.
type HostileCase = (&'static str, Tweak, &'static str);

/// Symlinks out of the package, in every place a build reads.
fn symlink_cases() -> Vec<HostileCase> {
    use std::os::unix::fs::symlink;
    vec![
        (
            "a symlink to a host file",
            Box::new(|p| symlink("/etc/passwd", p.join("data.txt")).unwrap()),
            "data.txt: symlinks are not allowed",
        ),
        (
            "a symlink to the parent directory",
            Box::new(|p| symlink("..", p.join("up")).unwrap()),
            "up: symlinks are not allowed",
        ),
        (
            "a symlink to a file beside the package via ..",
            Box::new(|p| symlink("../secret.txt", p.join("secret.txt")).unwrap()),
            "secret.txt: symlinks are not allowed",
        ),
        (
            "policy.py itself a symlink",
            Box::new(|p| {
                std::fs::remove_file(p.join("policy.py")).unwrap();
                symlink("../secret.txt", p.join("policy.py")).unwrap();
            }),
            "policy.py: symlinks are not allowed",
        ),
    ]
}

/// Requirements that point outside the registries, and a file too big.
fn other_hostile_cases() -> Vec<HostileCase> {
    vec![
        (
            "a requirement that is a URL",
            Box::new(|p| {
                std::fs::write(
                    p.join("requirements.txt"),
                    "https://evil.test/x-1.0-py3-none-any.whl\n",
                )
                .unwrap()
            }),
            "requirements.txt line 1",
        ),
        (
            "a requirement that is a local path",
            Box::new(|p| std::fs::write(p.join("requirements.txt"), "../../../etc\n").unwrap()),
            "requirements.txt line 1",
        ),
        (
            "a direct reference to a local file",
            Box::new(|p| {
                std::fs::write(p.join("requirements.txt"), "thing @ file:///etc/passwd\n").unwrap()
            }),
            "requirements.txt line 1",
        ),
        (
            "a huge file",
            Box::new(|p| {
                let file = std::fs::File::create(p.join("huge.bin")).unwrap();
                file.set_len(64 * 1024 * 1024).unwrap();
            }),
            "huge.bin: 67108864 bytes is over",
        ),
    ]
}
