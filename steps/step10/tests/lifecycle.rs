//! The lifecycle of the OCI runtime spec, run with the real `step10` as
//! root: create, state, start, kill, delete, and the rules the spec sets
//! on each operation (start of a running container fails, delete without
//! --force refuses a running one, ...). Checked from inside (what the
//! container's command writes into its rootfs) and outside (state JSON,
//! /proc, cgroup directories, the host's mount table).

mod common;

use std::fs;
use std::time::Duration;

use common::{Ctr, assert_mounts_unchanged, cgroup_of, cgroups_named, eventually, ns_of};

/// A command that writes /ran when it runs, handles TERM by writing /term
/// and exiting, and otherwise sleeps. `wait` is interrupted by a trapped
/// signal, a foreground `sleep` would hold the trap back for a minute.
const TRAPPING: &str = "trap 'echo term > /term; exit 0' TERM; echo ran > /ran; \
                        sleep 60 & wait $!";

#[test]
fn create_start_kill_delete() {
    let mounts_before = testkit::host::mounts();
    let ctr = Ctr::new("life", &["sh", "-c", TRAPPING], &|_| {});
    let pid_file = ctr.dir.path().join("pid");
    let bundle = ctr.bundle.to_str().unwrap().to_owned();

    // create: a process exists, the command has not run.
    ctr.step10(&[
        "create",
        "--bundle",
        &bundle,
        "--pid-file",
        pid_file.to_str().unwrap(),
        &ctr.id,
    ])
    .ok();
    let state = ctr.state();
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["id"], ctr.id.as_str(), "{state}");
    assert_eq!(
        fs::canonicalize(state["bundle"].as_str().expect("state has a bundle")).unwrap(),
        fs::canonicalize(&ctr.bundle).unwrap(),
        "{state}"
    );
    assert!(state["ociVersion"].is_string(), "{state}");
    let pid = state["pid"]
        .as_u64()
        .expect("a created container has a pid") as u32;
    ctr.remember(pid);
    // --pid-file: exactly the PID, no newline (runc writes it so).
    assert_eq!(fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    assert!(testkit::host::alive(pid), "init {pid} is not alive");
    for kind in ["pid", "net", "ipc", "uts", "mnt"] {
        assert_ne!(
            ns_of(pid, kind),
            testkit::host::namespace(kind),
            "init shares the host's {kind} namespace"
        );
    }
    let cgroups = cgroups_named(&ctr.id);
    assert!(
        !cgroups.is_empty(),
        "no cgroup directory named {} under contain-rs-workshop",
        ctr.id
    );
    assert!(
        cgroup_of(pid).contains(&format!("/contain-rs-workshop/{}", ctr.id)),
        "init is not in the container's cgroup: {}",
        cgroup_of(pid)
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(!ctr.marker("ran").exists(), "the command ran before start");
    assert_eq!(ctr.status(), "created");

    // start: the command runs, in the same process.
    ctr.step10(&["start", &ctr.id]).ok();
    assert!(
        eventually(Duration::from_secs(5), || ctr.marker("ran").exists()),
        "the command did not run after start"
    );
    assert_eq!(fs::read_to_string(ctr.marker("ran")).unwrap(), "ran\n");
    let state = ctr.state();
    assert_eq!(state["status"], "running", "{state}");
    assert_eq!(state["pid"].as_u64(), Some(pid as u64), "{state}");

    // kill TERM: the command's trap handles it; then it is stopped.
    ctr.step10(&["kill", &ctr.id, "TERM"]).ok();
    assert!(
        eventually(Duration::from_secs(5), || ctr.marker("term").exists()),
        "the TERM trap did not run"
    );
    ctr.wait_status("stopped");
    assert!(
        !testkit::host::alive(pid),
        "init {pid} outlived its command"
    );
    let state = ctr.state();
    assert!(
        state.get("pid").is_none(),
        "a stopped container has no pid: {state}"
    );

    // delete: state, cgroups and mounts gone.
    ctr.step10(&["delete", &ctr.id]).ok();
    assert!(!ctr.state_dir().exists(), "the state dir is left");
    for dir in &cgroups {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
    ctr.assert_nothing_left();
    assert_mounts_unchanged(&mounts_before);
    ctr.step10(&["state", &ctr.id])
        .failed_with("does not exist");
}

#[test]
fn list_shows_the_container() {
    let ctr = Ctr::new("list", &["sleep", "60"], &|_| {});
    let pid = ctr.create();
    let out = ctr.step10(&["list"]);
    out.ok();
    let line = out
        .stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(ctr.id.as_str()))
        .unwrap_or_else(|| panic!("list does not show {}: {:?}", ctr.id, out.stdout));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[1], pid.to_string(), "{line}");
    assert_eq!(fields[2], "created", "{line}");
}

#[test]
fn start_of_a_running_container_fails() {
    let ctr = Ctr::new("start2", &["sleep", "60"], &|_| {});
    let pid = ctr.create_started();
    ctr.wait_status("running");
    ctr.step10(&["start", &ctr.id]).failed_with("running");
    assert_eq!(ctr.status(), "running");
    assert!(testkit::host::alive(pid));
}

#[test]
fn delete_of_a_running_container_needs_force() {
    let ctr = Ctr::new("delrun", &["sleep", "60"], &|_| {});
    let pid = ctr.create_started();
    ctr.step10(&["delete", &ctr.id]).failed_with("running");
    assert_eq!(ctr.status(), "running");
    assert!(testkit::host::alive(pid), "delete without --force ended it");
    assert!(!cgroups_named(&ctr.id).is_empty(), "its cgroup went");
    // With --force it goes, whole.
    ctr.step10(&["delete", "--force", &ctr.id]).ok();
    ctr.assert_nothing_left();
}

#[test]
fn delete_of_a_created_container_needs_force() {
    let ctr = Ctr::new("delcreated", &["sleep", "60"], &|_| {});
    let pid = ctr.create();
    ctr.step10(&["delete", &ctr.id]).failed_with("created");
    assert_eq!(ctr.status(), "created");
    assert!(testkit::host::alive(pid));
    ctr.step10(&["delete", "--force", &ctr.id]).ok();
    ctr.assert_nothing_left();
    assert!(!ctr.marker("ran").exists());
}

#[test]
fn kill_of_a_stopped_container_fails() {
    let ctr = Ctr::new("killstopped", &["true"], &|_| {});
    ctr.create_started();
    ctr.wait_status("stopped");
    ctr.step10(&["kill", &ctr.id, "KILL"])
        .failed_with("stopped");
    assert_eq!(ctr.status(), "stopped");
}

#[test]
fn kill_with_a_bad_signal_fails_and_changes_nothing() {
    let ctr = Ctr::new("badsig", &["sleep", "60"], &|_| {});
    let pid = ctr.create_started();
    ctr.step10(&["kill", &ctr.id, "NOSUCHSIG"])
        .failed_with("NOSUCHSIG");
    assert_eq!(ctr.status(), "running");
    assert!(testkit::host::alive(pid));
}

#[test]
fn a_created_container_is_killed_by_kill_kill() {
    let ctr = Ctr::new("killcreated", &["sh", "-c", "echo ran > /ran"], &|_| {});
    let pid = ctr.create();
    ctr.step10(&["kill", &ctr.id, "KILL"]).ok();
    ctr.wait_status("stopped");
    assert!(!testkit::host::alive(pid));
    assert!(!ctr.marker("ran").exists(), "the command ran without start");
    ctr.step10(&["start", &ctr.id]).failed_with("stopped");
    ctr.step10(&["delete", &ctr.id]).ok();
    ctr.assert_nothing_left();
}

#[test]
fn create_of_an_existing_id_fails_and_leaves_the_first() {
    let ctr = Ctr::new("dup", &["sleep", "60"], &|_| {});
    let pid = ctr.create();
    let cgroups = cgroups_named(&ctr.id);
    let bundle = ctr.bundle.to_str().unwrap().to_owned();
    ctr.step10(&["create", "--bundle", &bundle, &ctr.id])
        .failed_with("exists");
    let state = ctr.state();
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["pid"].as_u64(), Some(pid as u64), "{state}");
    assert!(testkit::host::alive(pid));
    assert_eq!(cgroups_named(&ctr.id), cgroups, "the cgroup changed");
    // Still startable, and it runs.
    ctr.step10(&["start", &ctr.id]).ok();
    assert_eq!(ctr.status(), "running");
}

#[test]
fn commands_on_a_missing_id_fail() {
    let ctr = Ctr::new("missing", &["true"], &|_| {});
    for cmd in [
        vec!["state", ctr.id.as_str()],
        vec!["start", ctr.id.as_str()],
        vec!["kill", ctr.id.as_str()],
        vec!["delete", ctr.id.as_str()],
        vec!["exec", ctr.id.as_str(), "true"],
    ] {
        ctr.step10(&cmd).failed_with("does not exist");
    }
}
