//! `step10 exec`: one more process in a running container, in each of its
//! namespaces and its cgroup, with the command's exit status.

mod common;

use std::time::Duration;

use common::{Ctr, LIMIT, cgroup_of, eventually, ns_of};

fn running(tag: &str) -> (Ctr, u32) {
    let ctr = Ctr::new(tag, &["sleep", "60"], &|c| {
        c["hostname"] = format!("h-{tag}").into();
    });
    let pid = ctr.create_started();
    ctr.wait_status("running");
    (ctr, pid)
}

#[test]
fn exec_sees_the_configs_hostname() {
    let (ctr, _) = running("exec-host");
    let out = ctr.step10(&["exec", &ctr.id, "hostname"]);
    out.ok();
    assert_eq!(out.stdout, "h-exec-host\n");
    assert_ne!(testkit::host::hostname(), "h-exec-host");
}

#[test]
fn exec_is_in_each_of_inits_namespaces() {
    let (ctr, pid) = running("exec-ns");
    for kind in ["pid", "net", "ipc", "uts", "mnt", "cgroup"] {
        let out = ctr.step10(&[
            "exec",
            &ctr.id,
            "sh",
            "-c",
            &format!("readlink /proc/self/ns/{kind}"),
        ]);
        out.ok();
        let outside = ns_of(pid, kind);
        assert_eq!(out.stdout.trim(), outside, "{kind} namespace");
        assert_ne!(
            outside,
            testkit::host::namespace(kind),
            "init is in the host's {kind} namespace"
        );
    }
    // In the PID namespace for real: init is PID 1 there, and the exec'd
    // shell sees it.
    let out = ctr.step10(&["exec", &ctr.id, "cat", "/proc/1/cmdline"]);
    out.ok();
    assert_eq!(out.stdout, "sleep\u{0}60\u{0}");
}

#[test]
fn exec_is_in_the_containers_cgroup() {
    let (ctr, pid) = running("exec-cg");
    let exec = ctr.spawn(&["exec", &ctr.id, "sleep", "30"]);
    // The exec'd command is step10 exec's child (it forks after setns).
    let exec_pid = exec.pid();
    let mut child = None;
    let found = eventually(Duration::from_secs(5), || {
        child = testkit::host::children_of(exec_pid).into_iter().find(|c| {
            std::fs::read_to_string(format!("/proc/{c}/cmdline"))
                .is_ok_and(|cmd| cmd == "sleep\u{0}30\u{0}")
        });
        child.is_some()
    });
    assert!(found, "no `sleep 30` below step10 exec ({exec_pid})");
    let child = child.unwrap();
    let init_cgroup = cgroup_of(pid);
    assert!(
        init_cgroup.contains(&format!("/contain-rs-workshop/{}", ctr.id)),
        "init is not in the container's cgroup: {init_cgroup}"
    );
    assert_eq!(
        cgroup_of(child),
        init_cgroup,
        "exec'd {child} vs init {pid}"
    );
    for kind in ["pid", "net", "ipc", "uts", "mnt", "cgroup"] {
        assert_eq!(ns_of(child, kind), ns_of(pid, kind), "{kind}");
    }
    // Inside, it sees the same cgroup as init (through the cgroup namespace).
    let inside = ctr.step10(&["exec", &ctr.id, "cat", "/proc/self/cgroup"]);
    inside.ok();
    let init_inside = ctr.step10(&["exec", &ctr.id, "cat", "/proc/1/cgroup"]);
    init_inside.ok();
    assert_eq!(inside.stdout, init_inside.stdout);
    // Killed by a signal: exec says 128 + N.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let out = exec.wait(LIMIT);
    assert_eq!(out.code, 128 + 9, "{out:?}");
    assert_eq!(ctr.status(), "running");
}

#[test]
fn exec_exits_with_the_commands_status() {
    let (ctr, _) = running("exec-code");
    let out = ctr.step10(&[
        "exec",
        &ctr.id,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(out.code, 7, "{out:?}");
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
    assert_eq!(ctr.status(), "running", "exec's end ended the container");
}

#[test]
fn exec_takes_env_and_cwd() {
    let (ctr, _) = running("exec-env");
    let out = ctr.step10(&[
        "exec",
        "-e",
        "GREETING=hi",
        "--cwd",
        "/etc",
        &ctr.id,
        "sh",
        "-c",
        "echo $GREETING; pwd; echo $PATH",
    ]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "hi");
    assert_eq!(lines[1], "/etc");
    // The config's environment is kept.
    assert_eq!(
        lines[2],
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
}

#[test]
fn exec_of_a_missing_program_is_127() {
    let (ctr, _) = running("exec-127");
    let out = ctr.step10(&["exec", &ctr.id, "/no/such/program"]);
    assert_eq!(out.code, 127, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("/no/such/program"), "{out:?}");
    assert_eq!(ctr.status(), "running");
}

#[test]
fn exec_into_a_stopped_container_fails() {
    let ctr = Ctr::new("exec-stopped", &["true"], &|_| {});
    ctr.create_started();
    ctr.wait_status("stopped");
    ctr.step10(&["exec", &ctr.id, "true"])
        .failed_with("stopped");
}

#[test]
fn exec_into_a_created_container_fails() {
    let ctr = Ctr::new("exec-created", &["sh", "-c", "echo ran > /ran"], &|_| {});
    ctr.create();
    ctr.step10(&["exec", &ctr.id, "true"])
        .failed_with("created");
    assert_eq!(ctr.status(), "created");
    assert!(!ctr.marker("ran").exists());
}
