//! `policy-host cache info` and `cache prune`, run as the binary.

use std::process::Command;

fn policy_host(cache: &std::path::Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_policy-host"))
        .args(args)
        .arg("--cache-dir")
        .arg(cache)
        .env_remove("POLICY_HOST_CACHE_MAX_MIB")
        .output()
        .expect("running policy-host");
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn info_reports_and_prune_removes_the_least_recently_used_first() {
    let cache = tempfile::tempdir().unwrap();
    let components = cache.path().join("components");
    std::fs::create_dir_all(&components).unwrap();
    std::fs::write(components.join("old.wasm"), vec![0; 3 << 20]).unwrap();
    std::fs::write(components.join("new.wasm"), vec![0; 2 << 20]).unwrap();
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(components.join("old.wasm"))
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();

    let info = policy_host(cache.path(), &["cache", "info"]);
    assert!(info.contains("limit: 10240.0 MiB"), "{info}");
    assert!(info.contains("components: 2 file(s), 5.0 MiB"), "{info}");

    let pruned = policy_host(cache.path(), &["cache", "prune", "--max-mib", "3"]);
    assert!(pruned.contains("removed 1 file(s), 3.0 MiB"), "{pruned}");
    assert!(!components.join("old.wasm").exists());
    assert!(components.join("new.wasm").exists());

    policy_host(cache.path(), &["cache", "prune", "--max-mib", "0"]);
    let info = policy_host(cache.path(), &["cache", "info"]);
    assert!(info.contains("components: 0 file(s)"), "{info}");
}

#[test]
fn info_names_the_mix_benchmarks_files_once_per_hard_link() {
    let cache = tempfile::tempdir().unwrap();
    let info = policy_host(cache.path(), &["cache", "info"]);
    assert!(!info.contains("not counted"), "{info}");

    let built = cache.path().join("bench-mix/built");
    let served = cache.path().join("bench-mix/serve-1");
    std::fs::create_dir_all(&built).unwrap();
    std::fs::create_dir_all(&served).unwrap();
    std::fs::write(built.join("mix-0000-v1.0.0.wasm"), vec![1; 2 << 20]).unwrap();
    std::fs::hard_link(
        built.join("mix-0000-v1.0.0.wasm"),
        served.join("mix-0000-v1.0.0.wasm"),
    )
    .unwrap();
    std::fs::write(served.join("sample.wasm"), vec![1; 1 << 20]).unwrap();

    let info = policy_host(cache.path(), &["cache", "info"]);
    assert!(info.contains("not counted against the limit"), "{info}");
    assert!(info.contains("(2 file(s), 3.0 MiB)"), "{info}");
    assert!(info.contains("total: 0.0 MiB"), "{info}");
}
