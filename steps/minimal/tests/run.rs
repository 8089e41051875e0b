//! Black-box checks of the one-page runtime, run as root on the busybox test
//! rootfs: what the command sees inside, its exit status outside, and the
//! host's mount table untouched. Not root: every test fails and says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::run::Output;

/// The busybox rootfs, or a failed test that says why (not root, most often).
fn rootfs() -> PathBuf {
    if let Err(why) = testkit::run::require_root() {
        panic!("{why}");
    }
    testkit::rootfs::busybox_rootfs().unwrap_or_else(|e| panic!("the busybox test rootfs: {e:#}"))
}

/// `minimal ROOTFS ARGS...`: what it printed and how it ended.
fn minimal(rootfs: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_minimal"));
    cmd.arg(rootfs).args(args);
    testkit::run::run_command(cmd, testkit::run::RUN_LIMIT)
        .unwrap_or_else(|e| panic!("minimal {args:?}: {e}"))
}

/// `minimal ROOTFS sh -c SCRIPT`: its stdout and exit code; nothing on stderr.
fn sh(rootfs: &Path, script: &str) -> (String, i32) {
    let out = minimal(rootfs, &["sh", "-c", script]);
    assert!(
        out.stderr.is_empty(),
        "minimal sh -c {script:?} wrote to stderr:\n{}",
        out.stderr
    );
    (out.stdout, out.code)
}

#[test]
fn the_container_has_its_hostname_its_pids_and_its_rootfs() {
    let rootfs = rootfs();
    let script = "hostname; echo $$; ls /proc | grep -c '^[0-9]'; grep ^ID= /etc/os-release";
    let (out, code) = sh(&rootfs, script);
    assert_eq!(code, 0, "the script failed inside the container:\n{out}");
    let lines: Vec<&str> = out.lines().collect();
    let [hostname, pid, processes, os] = lines[..] else {
        panic!("expected four lines (hostname, $$, the count of /proc/PID, ID=), got:\n{out}");
    };
    assert_eq!(hostname, "minimal", "the hostname inside is sethostname's");
    assert_eq!(pid, "1", "the command is PID 1 of a new PID namespace");
    let processes: u32 = processes.parse().expect("a count of processes");
    assert!(
        processes <= 4,
        "/proc inside shows {processes} processes: it is the host's, not a fresh one of the new PID namespace"
    );
    assert_eq!(
        os, "ID=workshop-busybox",
        "/ inside is the busybox rootfs (its /etc/os-release), not the host's /"
    );
    assert_ne!(
        testkit::host::hostname(),
        "minimal",
        "the host kept its hostname"
    );
}

#[test]
fn the_exit_status_of_the_command_is_the_runtimes() {
    let rootfs = rootfs();
    assert_eq!(sh(&rootfs, "exit 3").1, 3, "`sh -c 'exit 3'` exits 3");
    let out = minimal(&rootfs, &["no-such-command"]);
    assert_eq!(out.code, 127, "a command not found exits 127: {out:?}");
    assert!(
        out.stderr.contains("execvp"),
        "the error names execvp: {out:?}"
    );
    let out = minimal(Path::new("/no/such/rootfs"), &["true"]);
    assert_eq!(out.code, 125, "a runtime failure exits 125: {out:?}");
    assert!(
        out.stderr.contains("mount --bind"),
        "the error names the call: {out:?}"
    );
}

#[test]
fn the_hosts_mount_table_is_unchanged_after_a_run() {
    let rootfs = rootfs();
    let mountinfo = || std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    let before = mountinfo();
    let (out, code) = sh(&rootfs, "grep -c . /proc/self/mountinfo");
    assert_eq!(code, 0, "grep mountinfo inside:\n{out}");
    let after = mountinfo();
    // Whole lines: a mount left behind, or `/` made private on the host
    // (its `shared:N` gone), both show here.
    let gone: Vec<&str> = before.lines().filter(|l| !after.contains(l)).collect();
    let new: Vec<&str> = after.lines().filter(|l| !before.contains(l)).collect();
    assert!(
        gone.is_empty() && new.is_empty(),
        "the host's /proc/self/mountinfo changed during the run:\ngone: {gone:#?}\nnew: {new:#?}"
    );
}
