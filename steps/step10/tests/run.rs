//! `step10 run`: create, start, wait, delete. It exits with the command's
//! status (128 + N for a signal) and leaves nothing of the container.

mod common;

use std::time::Duration;

use common::{Ctr, LIMIT, assert_mounts_unchanged, eventually};

#[test]
fn run_exits_with_the_commands_status_and_leaves_nothing() {
    let mounts_before = testkit::host::mounts();
    let ctr = Ctr::new(
        "run-3",
        &["sh", "-c", "echo out; echo err >&2; hostname; exit 3"],
        &|c| c["hostname"] = "run-three".into(),
    );
    let bundle = ctr.bundle.to_str().unwrap().to_owned();
    let out = ctr.step10(&["run", "--bundle", &bundle, &ctr.id]);
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(out.stdout, "out\nrun-three\n");
    assert_eq!(out.stderr, "err\n");
    ctr.assert_nothing_left();
    assert_mounts_unchanged(&mounts_before);
    ctr.step10(&["state", &ctr.id])
        .failed_with("does not exist");
}

#[test]
fn run_of_a_process_killed_by_a_signal_is_128_plus_n() {
    let ctr = Ctr::new(
        "run-kill",
        &["sh", "-c", "echo up > /up; sleep 60"],
        &|_| {},
    );
    let bundle = ctr.bundle.to_str().unwrap().to_owned();
    let run = ctr.spawn(&["run", "--bundle", &bundle, &ctr.id]);
    assert!(
        eventually(Duration::from_secs(10), || ctr.marker("up").exists()),
        "the command did not start"
    );
    ctr.remember(ctr.pid());
    assert_eq!(ctr.status(), "running");
    // PID 1 of a namespace cannot be killed from inside it; from the host
    // it can, with SIGKILL.
    ctr.step10(&["kill", &ctr.id, "KILL"]).ok();
    let out = run.wait(LIMIT);
    assert_eq!(out.code, 128 + 9, "{out:?}");
    ctr.assert_nothing_left();
}

#[test]
fn run_without_a_pid_namespace_reports_the_signal_the_command_sent_itself() {
    // Without a PID namespace of its own, sh is an ordinary process and
    // `kill -USR1 $$` ends it: 128 + 10.
    let ctr = Ctr::new("run-usr1", &["sh", "-c", "kill -USR1 $$; sleep 5"], &|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    let bundle = ctr.bundle.to_str().unwrap().to_owned();
    let out = ctr.step10(&["run", "--bundle", &bundle, &ctr.id]);
    assert_eq!(out.code, 128 + 10, "{out:?}");
    ctr.assert_nothing_left();
}

#[test]
fn signals_to_run_reach_the_container() {
    // The contract: SIGTERM to the runtime reaches the container's
    // process. A trap in sh (PID 1 of its namespace) proves it arrived.
    let ctr = Ctr::new(
        "run-term",
        &[
            "sh",
            "-c",
            "trap 'echo term > /term; exit 4' TERM; echo up > /up; sleep 60 & wait $!",
        ],
        &|_| {},
    );
    let bundle = ctr.bundle.to_str().unwrap().to_owned();
    let run = ctr.spawn(&["run", "--bundle", &bundle, &ctr.id]);
    assert!(
        eventually(Duration::from_secs(10), || ctr.marker("up").exists()),
        "the command did not start"
    );
    ctr.remember(ctr.pid());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.pid() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = run.wait(LIMIT);
    assert!(ctr.marker("term").exists(), "the trap did not run: {out:?}");
    assert_eq!(out.code, 4, "{out:?}");
    ctr.assert_nothing_left();
}

#[test]
fn run_detached_returns_and_the_container_runs_on() {
    let ctr = Ctr::new("run-d", &["sh", "-c", "echo up > /up; sleep 60"], &|_| {});
    let bundle = ctr.bundle.to_str().unwrap().to_owned();
    ctr.step10(&["run", "-d", "--bundle", &bundle, &ctr.id])
        .ok();
    let pid = ctr.pid();
    ctr.remember(pid);
    assert_eq!(ctr.status(), "running");
    assert!(eventually(Duration::from_secs(5), || ctr
        .marker("up")
        .exists()));
    ctr.step10(&["delete", "--force", &ctr.id]).ok();
    ctr.assert_nothing_left();
}
