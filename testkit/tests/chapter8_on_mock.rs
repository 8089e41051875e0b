//! Chapter 8's checks run against `mock-runtime.sh`, a shell stand-in that
//! keeps the step08 contract (overlay per run, skopeo pulls into the store):
//! every check must pass on it, and the overlay checks must fail on its
//! broken copies. Needs root, skopeo, jq, attr (setfattr), openssl and apt
//! lists for the registry.

use std::path::{Path, PathBuf};

use testkit::Target;
use testkit::checks::{Check, all};

fn mock() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mock-runtime.sh")
}

fn chapter8() -> Vec<Check> {
    all().into_iter().filter(|c| c.since == 8).collect()
}

/// Runs `checks` on `bin` two at a time; the failures, by name.
fn failures(bin: &Path, checks: Vec<Check>) -> Vec<(String, String)> {
    let target = Target::new(bin, 8).expect("the busybox rootfs");
    let mut failed = Vec::new();
    for pair in checks.chunks(2) {
        let handles: Vec<_> = pair
            .iter()
            .map(|c| {
                let (t, c) = (target.clone(), *c);
                std::thread::spawn(move || (c.name, (c.run)(&t)))
            })
            .collect();
        for h in handles {
            let (name, result) = h.join().expect("a check panicked");
            if let Err(why) = result {
                failed.push((name.to_owned(), why));
            }
        }
    }
    failed
}

#[test]
fn every_chapter8_check_passes_on_the_mock() {
    testkit::run::require_root().unwrap();
    let failed = failures(&mock(), chapter8());
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn checks_fail_on_broken_mocks() {
    testkit::run::require_root().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (kind, must_fail) in [
        (
            "no-overlay",
            &[
                "overlay::root_is_an_overlay",
                "overlay::writes_end_with_the_run",
                "overlay::base_rootfs_unchanged",
                "overlay::concurrent_runs_see_own_writes",
            ][..],
        ),
        (
            "keep-dir",
            &[
                "overlay::container_dir_used_then_emptied",
                "overlay::container_dir_emptied_after_failure",
                "overlay::writes_end_with_the_run",
                "overlay::container_dir_emptied_after_sigterm",
            ][..],
        ),
        ("no-whiteouts", &["images::layers_whiteouts_and_links"][..]),
        (
            "no-entrypoint",
            &["images::command_replaces_cmd_keeps_entrypoint"][..],
        ),
        ("no-env", &["images::config_is_honoured"][..]),
        (
            "dirty-store",
            &[
                "images::unknown_tag_is_125",
                "images::blob_digest_mismatch_is_125",
                "images::truncated_blob_is_125",
                "images::dotdot_layer_is_125",
            ][..],
        ),
        (
            "always-pulls-missing",
            &[
                "images::pull_policies",
                "images::pull_never_with_empty_store_is_125",
            ][..],
        ),
    ] {
        let copy = dir.path().join(format!("mock-runtime-{kind}.sh"));
        std::fs::copy(mock(), &copy).unwrap();
        let checks: Vec<Check> = chapter8()
            .into_iter()
            .filter(|c| must_fail.contains(&c.name))
            .collect();
        let failed: Vec<String> = failures(&copy, checks).into_iter().map(|f| f.0).collect();
        for name in must_fail {
            assert!(
                failed.iter().any(|f| f == name),
                "{name} passed on the {kind} mock"
            );
        }
    }
}
