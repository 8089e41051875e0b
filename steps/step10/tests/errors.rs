//! Bad input to `create` and `run`: each fails with exit 125 and one line
//! that names the cause, and leaves nothing behind: no entry in --root, no
//! cgroup, no mount on the host, no process. A command missing from the
//! rootfs is the command's failure: 127.

mod common;

use std::fs;

use common::{Ctr, assert_mounts_unchanged};
use serde_json::json;

/// Runs `create` (and then `run`) of `ctr`'s bundle, expects both to fail
/// naming `needle`, and checks that nothing is left.
#[track_caller]
fn refused(ctr: &Ctr, bundle: &str, needle: &str) {
    let mounts_before = testkit::host::mounts();
    for cmd in ["create", "run"] {
        ctr.step10(&[cmd, "--bundle", bundle, &ctr.id])
            .failed_with(needle);
        ctr.assert_nothing_left();
        let entries: Vec<_> = fs::read_dir(&ctr.root)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(entries.is_empty(), "{cmd}: --root holds {entries:?}");
        let list = ctr.step10(&["list"]);
        list.ok();
        assert!(
            !list.stdout.contains(&ctr.id),
            "{cmd}: list shows it: {list:?}"
        );
    }
    assert_mounts_unchanged(&mounts_before);
}

#[test]
fn a_missing_bundle() {
    let ctr = Ctr::new("err-nobundle", &["true"], &|_| {});
    let missing = ctr.dir.path().join("no-such-bundle");
    refused(&ctr, missing.to_str().unwrap(), "config.json");
}

#[test]
fn a_bundle_without_rootfs() {
    let ctr = Ctr::new("err-norootfs", &["true"], &|c| {
        c["root"]["path"] = "no-such-rootfs".into();
    });
    refused(&ctr, ctr.bundle.to_str().unwrap(), "no-such-rootfs");
}

#[test]
fn config_json_that_is_not_json() {
    let ctr = Ctr::new("err-json", &["true"], &|_| {});
    fs::write(
        ctr.config_path(),
        "{\"ociVersion\": \"1.0.2\", \"process\": {",
    )
    .unwrap();
    // The cause is where the JSON breaks: serde_json says "line 1 column 36".
    refused(&ctr, ctr.bundle.to_str().unwrap(), "line 1");
}

#[test]
fn an_unknown_capability() {
    let ctr = Ctr::new("err-cap", &["true"], &|c| {
        let caps = &mut c["process"]["capabilities"];
        for set in ["bounding", "effective", "permitted"] {
            caps[set]
                .as_array_mut()
                .unwrap()
                .push("CAP_NO_SUCH_THING".into());
        }
    });
    refused(&ctr, ctr.bundle.to_str().unwrap(), "CAP_NO_SUCH_THING");
}

#[test]
fn an_unsupported_field() {
    let ctr = Ctr::new("err-rdt", &["true"], &|c| {
        c["linux"]["intelRdt"] = json!({"closID": "step10-test", "l3CacheSchema": "L3:0=f"});
    });
    refused(&ctr, ctr.bundle.to_str().unwrap(), "linux.intelRdt");
}

/// A command the container does not have is not the runtime's failure but
/// the command's: `run` exits 127, as a shell (and `docker run`) does, with
/// one line naming it, and leaves nothing behind. (The lookup happens after
/// `start`, in the container's own PATH, so `create` succeeds.)
#[track_caller]
fn not_found(ctr: &Ctr, needle: &str) {
    let mounts_before = testkit::host::mounts();
    let out = ctr.step10(&["run", "--bundle", ctr.bundle.to_str().unwrap(), &ctr.id]);
    assert_eq!(
        out.code, 127,
        "a missing command: expected exit 127, got {out:?}"
    );
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got {out:?}");
    assert!(
        lines[0].contains(needle),
        "the line does not name {needle:?}: {out:?}"
    );
    ctr.assert_nothing_left();
    assert_mounts_unchanged(&mounts_before);
}

#[test]
fn a_program_not_in_the_rootfs() {
    let ctr = Ctr::new("err-noprog", &["/no/such/program", "arg"], &|_| {});
    not_found(&ctr, "/no/such/program");
}

#[test]
fn a_program_not_on_path() {
    let ctr = Ctr::new("err-nopath", &["no-such-program"], &|_| {});
    not_found(&ctr, "no-such-program");
}

#[test]
fn a_relative_cwd() {
    let ctr = Ctr::new("err-cwd", &["true"], &|c| {
        c["process"]["cwd"] = "relative/dir".into();
    });
    refused(&ctr, ctr.bundle.to_str().unwrap(), "cwd");
}

#[test]
fn a_namespace_path_that_does_not_exist() {
    let ctr = Ctr::new("err-nspath", &["true"], &|c| {
        c["linux"]["namespaces"] = json!([
            {"type": "pid"}, {"type": "mount"},
            {"type": "network", "path": "/proc/no-such-pid/ns/net"}
        ]);
    });
    refused(
        &ctr,
        ctr.bundle.to_str().unwrap(),
        "/proc/no-such-pid/ns/net",
    );
}

#[test]
fn an_invalid_id() {
    let ctr = Ctr::new("err-id", &["true"], &|_| {});
    let bundle = ctr.bundle.to_str().unwrap();
    for bad in ["../escape", "a/b", "with space"] {
        ctr.step10(&["create", "--bundle", bundle, bad])
            .failed_with("not valid");
    }
    assert!(!ctr.dir.path().join("escape").exists());
    let entries: Vec<_> = fs::read_dir(&ctr.root)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(entries.is_empty(), "--root holds {entries:?}");
}
