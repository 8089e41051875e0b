//! Chapter 5: cgroup limits (v2, or v1 on hybrid and legacy hosts).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{Check, expect_code, expect_one_line};
use crate::host;
use crate::run::{Target, run_command, start_until_ready, stop};

/// The checks of chapter 5.
pub const CHECKS: &[Check] = &[
    Check {
        name: "cgroup::command_is_in_its_cgroup",
        since: 5,
        run: command_is_in_its_cgroup,
    },
    Check {
        name: "cgroup::oom_kill_is_137_with_message",
        since: 5,
        run: oom_kill_is_137_with_message,
    },
    Check {
        name: "cgroup::oom_of_another_process_keeps_the_status",
        since: 5,
        run: oom_of_another_process_keeps_the_status,
    },
    Check {
        name: "cgroup::pids_limit_stops_fork_loop",
        since: 5,
        run: pids_limit_stops_fork_loop,
    },
    Check {
        name: "cgroup::cpu_limit_holds_busy_loop",
        since: 5,
        run: cpu_limit_holds_busy_loop,
    },
    Check {
        name: "cgroup::cgroup_removed_after_run",
        since: 5,
        run: cgroup_removed_after_run,
    },
    Check {
        name: "cgroup::cgroup_removed_after_failure",
        since: 5,
        run: cgroup_removed_after_failure,
    },
    Check {
        name: "cgroup::bad_limits_are_125",
        since: 5,
        run: bad_limits_are_125,
    },
];

/// The host directories of cgroup `id`, in every hierarchy.
fn dirs_of(id: &str) -> Vec<PathBuf> {
    host::workshop_cgroups()
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == id))
        .collect()
}

/// The command is in the container's own cgroup, seen from the host (the
/// runtime's `ws-<PID>` holds a process), and inside a cgroup namespace
/// rooted there: every line of `/proc/self/cgroup` ends in `:/`. On a
/// cgroup v2 host, `/sys/fs/cgroup` inside is the container's cgroup,
/// read-only.
pub fn command_is_in_its_cgroup(t: &Target) -> Result<(), String> {
    let script = "cat /proc/self/cgroup; grep ' /sys/fs/cgroup ' /proc/self/mountinfo; \
                  echo ready; sleep 10";
    let cmd = t.command(&["--memory", "64m", "sh", "-c", script]);
    let (mut child, before) = start_until_ready(cmd)?;
    let id = format!("ws-{}", child.id());
    let dirs = dirs_of(&id);
    let populated = dirs.iter().any(|d| {
        std::fs::read_to_string(d.join("cgroup.procs")).is_ok_and(|p| !p.trim().is_empty())
    });
    stop(&mut child);
    if !populated {
        return Err(format!(
            "no cgroup {id} under contain-rs-workshop/ holds the container's processes \
             (found {dirs:?})"
        ));
    }
    let lines: Vec<&str> = before
        .lines()
        .filter(|l| l.contains(':') && !l.contains(" - "))
        .collect();
    if lines.is_empty() || lines.iter().any(|l| !l.ends_with(":/")) {
        return Err(format!(
            "/proc/self/cgroup inside should read `0::/` (a cgroup namespace rooted at the \
             container's cgroup: unshare(CLONE_NEWCGROUP) once in it), was {:?}",
            before.trim()
        ));
    }
    if host::cgroup_v2() {
        let mount = before
            .lines()
            .find(|l| l.contains(" /sys/fs/cgroup "))
            .unwrap_or("");
        let opts = mount.split(' ').nth(5).unwrap_or("");
        if !mount.contains(" - cgroup2 ") || !opts.split(',').any(|o| o == "ro") {
            return Err(format!(
                "on cgroup v2, /sys/fs/cgroup inside should be a read-only cgroup2 mount, was {mount:?}"
            ));
        }
    }
    Ok(())
}

/// When the OOM killer takes another process of the container (here the
/// shell's child `dd`) and the command lives on, the status is the
/// command's own, as with `docker run`, and one line says what happened.
pub fn oom_of_another_process_keeps_the_status(t: &Target) -> Result<(), String> {
    let out = t.run(&[
        "--memory",
        "32m",
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo survived; exit 3",
    ])?;
    expect_code(
        &out,
        3,
        "a shell whose dd child was OOM-killed, then `exit 3`",
    )?;
    if out.out() != "survived" {
        return Err(format!(
            "the shell should have lived on past its child's OOM kill and printed `survived`; stdout: {:?}",
            out.stdout
        ));
    }
    expect_one_line(
        &out,
        &[
            "OOM-killed a process of the container",
            "32 MiB",
            "exited 3",
        ],
        "the OOM kill of a process other than the command",
    )
}

/// Allocating past `--memory 32m` ends in an OOM kill: exit 137 and one line.
pub fn oom_kill_is_137_with_message(t: &Target) -> Result<(), String> {
    // dd with a 64 MiB block size allocates and fills a 64 MiB buffer.
    let out = t.run(&[
        "--memory",
        "32m",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
    ])?;
    expect_code(&out, 137, "dd of 64 MiB under --memory 32m")?;
    if out
        .stderr
        .lines()
        .any(|l| l.contains("container was OOM-killed: memory limit 32 MiB"))
    {
        Ok(())
    } else {
        Err(format!(
            "after an OOM kill stderr did not say `container was OOM-killed: memory limit 32 MiB`: {:?}",
            out.stderr.trim()
        ))
    }
}

/// `--pids 10` stops a fork loop, and the container goes on.
pub fn pids_limit_stops_fork_loop(t: &Target) -> Result<(), String> {
    // The loop runs in a subshell: when fork fails, busybox sh gives up on
    // the subshell only, and the outer shell reports that it survived.
    let script = "(for i in $(seq 30); do sleep 3 & done; wait) 2>&1; echo survived";
    let out = t.run(&["--pids", "10", "sh", "-c", script])?;
    if !out.stdout.contains("can't fork")
        && !out.stdout.contains("Resource temporarily unavailable")
    {
        return Err(format!(
            "30 background processes under --pids 10 saw no fork failure: {:?}",
            out.stdout.trim()
        ));
    }
    if !out.stdout.contains("survived") {
        return Err(format!(
            "the container did not survive the fork loop: {:?}",
            out.stdout.trim()
        ));
    }
    Ok(())
}

/// `--cpus 0.2` holds a busy loop near 20 % of one core, measured from the
/// cgroup's own counters on the host.
pub fn cpu_limit_holds_busy_loop(t: &Target) -> Result<(), String> {
    let script = "echo ready; while :; do :; done";
    let (mut child, _) = start_until_ready(t.command(&["--cpus", "0.2", "sh", "-c", script]))?;
    // The cgroup is named after the runtime's PID (a cgroup namespace hides
    // the name from inside).
    let measured = measure_cpu(&format!("ws-{}", child.id()), Duration::from_secs(2));
    stop(&mut child);
    let cores = measured?;
    if (0.1..=0.3).contains(&cores) {
        Ok(())
    } else {
        Err(format!(
            "a busy loop under --cpus 0.2 used {cores:.2} of a core over 2 s, expected 0.2 (0.1 to 0.3)"
        ))
    }
}

/// CPU time used by cgroup `id` over `window`, in cores.
fn measure_cpu(id: &str, window: Duration) -> Result<f64, String> {
    let usage = || -> Result<f64, String> {
        for dir in dirs_of(id) {
            // v2: cpu.stat usage_usec; v1: cpuacct.usage in nanoseconds.
            if let Ok(stat) = std::fs::read_to_string(dir.join("cpu.stat")) {
                if let Some(us) = stat.lines().find_map(|l| l.strip_prefix("usage_usec ")) {
                    return us
                        .trim()
                        .parse::<f64>()
                        .map(|v| v / 1e6)
                        .map_err(|e| e.to_string());
                }
            }
            if let Ok(ns) = std::fs::read_to_string(dir.join("cpuacct.usage")) {
                return ns
                    .trim()
                    .parse::<f64>()
                    .map(|v| v / 1e9)
                    .map_err(|e| e.to_string());
            }
        }
        Err(format!(
            "no CPU usage counter (cpu.stat usage_usec or cpuacct.usage) for cgroup {id}"
        ))
    };
    let (t0, u0) = (Instant::now(), usage()?);
    std::thread::sleep(window);
    let (t1, u1) = (Instant::now(), usage()?);
    Ok((u1 - u0) / (t1 - t0).as_secs_f64())
}

/// After a run, the container's cgroup directories are gone.
pub fn cgroup_removed_after_run(t: &Target) -> Result<(), String> {
    let mut cmd = t.command(&["--memory", "32m", "--pids", "20", "--cpus", "0.5", "true"]);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let id = format!("ws-{}", child.id());
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.code() != Some(0) {
        return Err(format!(
            "`true` with limits failed: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let left = dirs_of(&id);
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("after the run its cgroup is still there: {left:?}"))
    }
}

/// A run that fails halfway removes its cgroup too.
pub fn cgroup_removed_after_failure(t: &Target) -> Result<(), String> {
    let broken = crate::run::rootfs_that_fails_halfway()?;
    let mut cmd =
        t.command_with_rootfs(broken.path(), &["--memory", "32m", "--pids", "20", "true"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let id = format!("ws-{}", child.id());
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.code() != Some(125) {
        return Err(format!(
            "a rootfs without /proc should fail with 125, got {:?}",
            out.status
        ));
    }
    let left = dirs_of(&id);
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "a run that failed halfway left its cgroup behind: {left:?}"
        ))
    }
}

/// Bad limit values: 125, one line naming the flag, and no cgroup made.
pub fn bad_limits_are_125(t: &Target) -> Result<(), String> {
    for (flag, value) in [
        ("--memory", "0"),
        ("--memory", "10zz"),
        ("--cpus", "-1"),
        ("--pids", "0"),
    ] {
        let mut cmd = t.command(&[flag, value, "true"]);
        cmd.stdin(Stdio::null());
        let out = run_command(cmd, crate::run::RUN_LIMIT)?;
        let what = format!("{flag} {value}");
        expect_code(&out, 125, &what)?;
        expect_one_line(&out, &[flag], &what)?;
    }
    Ok(())
}
