//! Chapter 6, Docker's other defaults: a session and a terminal of its own,
//! a PID 1 with the least it needs, masked paths, a clean environment, the
//! device cgroup. Each is checked from inside and, where the host can see
//! it (the terminal, its mode), from outside.

use std::os::fd::{AsFd, OwnedFd};
use std::process::Stdio;

use super::{Check, expect_code, expect_one_line};
use crate::run::{Output, Target, run_command};

/// The checks of chapter 6's defaults.
pub const CHECKS: &[Check] = &[
    Check {
        name: "defaults::own_session",
        since: 6,
        run: own_session,
    },
    Check {
        name: "defaults::host_terminal_never_enters",
        since: 6,
        run: host_terminal_never_enters,
    },
    Check {
        name: "defaults::terminal_mode_restored",
        since: 6,
        run: terminal_mode_restored,
    },
    Check {
        name: "defaults::window_size_follows",
        since: 6,
        run: window_size_follows,
    },
    Check {
        name: "defaults::pipes_pass_as_they_are",
        since: 6,
        run: pipes_pass_as_they_are,
    },
    Check {
        name: "defaults::pid1_keeps_least_privilege",
        since: 6,
        run: pid1_keeps_least_privilege,
    },
    Check {
        name: "defaults::masked_paths_read_empty",
        since: 6,
        run: masked_paths_read_empty,
    },
    Check {
        name: "defaults::clean_environment",
        since: 6,
        run: clean_environment,
    },
    Check {
        name: "defaults::env_flags",
        since: 6,
        run: env_flags,
    },
    Check {
        name: "defaults::device_cgroup_refuses_kmsg",
        since: 6,
        run: device_cgroup_refuses_kmsg,
    },
];

/// Fields 5 and 6 (process group, session) of a /proc/PID/stat line.
fn pgrp_and_session(stat: &str) -> Option<(i64, i64)> {
    let after = &stat[stat.rfind(')')? + 2..];
    let mut f = after.split(' ').skip(2);
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// The command's session and process group are inside the container: inside
/// a PID namespace a leader outside shows as 0 (and `kill(0, SIGSTOP)`
/// would stop the runtime and the caller's shell).
pub fn own_session(t: &Target) -> Result<(), String> {
    let out = t.run(&["cat", "/proc/self/stat"])?;
    expect_code(&out, 0, "cat /proc/self/stat")?;
    match pgrp_and_session(out.out()) {
        Some((pgrp, sid)) if pgrp != 0 && sid != 0 => Ok(()),
        Some((pgrp, sid)) => Err(format!(
            "the command's process group is {pgrp} and its session {sid} (0: led by a process \
             outside the container): call setsid() in the container's PID 1 and the command"
        )),
        None => Err(format!("cannot read /proc/self/stat: {:?}", out.stdout)),
    }
}

/// A pseudo-terminal of the test's own, standing in for the user's.
pub(crate) struct Pty {
    master: OwnedFd,
    slave: OwnedFd,
}

pub(crate) fn pty() -> Result<Pty, String> {
    let p = nix::pty::openpty(None, None).map_err(|e| format!("openpty: {e}"))?;
    Ok(Pty {
        master: p.master,
        slave: p.slave,
    })
}

/// `(st_dev, st_rdev)`: a terminal's identity (two devpts instances both
/// have a /dev/pts/0, with the same device number).
fn identity(fd: std::os::fd::BorrowedFd<'_>) -> Result<(u64, u64), String> {
    let st = nix::sys::stat::fstat(fd).map_err(|e| format!("fstat: {e}"))?;
    Ok((st.st_dev, st.st_rdev))
}

/// Runs `args` with stdin on the test's terminal (stdout and stderr piped).
pub(crate) fn run_on_terminal(t: &Target, pty: &Pty, args: &[&str]) -> Result<Output, String> {
    let mut cmd = t.command(args);
    let slave = pty.slave.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::from(slave));
    run_command(cmd, crate::run::RUN_LIMIT).map_err(|e| format!("`{}`: {e}", args.join(" ")))
}

/// With a terminal on stdin the command gets a terminal, but never that one:
/// none of its fds 0-2 is the host's terminal (TIOCSTI on it would type into
/// the user's shell), and fd 0 is a terminal all the same (`-it`).
pub fn host_terminal_never_enters(t: &Target) -> Result<(), String> {
    let pty = pty()?;
    let (dev, rdev) = identity(pty.slave.as_fd())?;
    let script = "stat -L -c '%d %t %T' /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; tty";
    let out = run_on_terminal(t, &pty, &["sh", "-c", script])?;
    expect_code(&out, 0, "stat of fds 0-2 and tty, with a terminal on stdin")?;
    let host = format!("{dev} {:x} {:x}", libc::major(rdev), libc::minor(rdev));
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .collect();
    if lines.iter().take(3).any(|l| *l == host) {
        return Err(format!(
            "a descriptor of the command is the host's terminal ({host}): give the container a \
             pseudo-terminal of its own (from its devpts) and copy between the two"
        ));
    }
    if !lines.iter().any(|l| l.starts_with("/dev/pts/")) {
        return Err(format!(
            "with a terminal on stdin, the command's stdin is no terminal (`tty` said {:?}): \
             without -t or -i a terminal on stdin means -it",
            out.stdout.trim()
        ));
    }
    Ok(())
}

/// The host terminal is put back as it was (raw mode off), after a normal
/// exit, a command not found (127) and a command killed by a signal.
pub fn terminal_mode_restored(t: &Target) -> Result<(), String> {
    let pty = pty()?;
    let before = nix::sys::termios::tcgetattr(pty.slave.as_fd()).map_err(|e| e.to_string())?;
    for (args, code) in [
        (&["true"][..], 0),
        (&["no-such-command"][..], 127),
        (&["sh", "-c", "kill -TERM $$"][..], 143),
    ] {
        let out = run_on_terminal(t, &pty, args)?;
        expect_code(&out, code, &args.join(" "))?;
        let after = nix::sys::termios::tcgetattr(pty.slave.as_fd()).map_err(|e| e.to_string())?;
        if after.local_flags != before.local_flags || after.input_flags != before.input_flags {
            return Err(format!(
                "after `{}` the host terminal was left changed (local flags {:?}, were {:?}): \
                 restore its mode on every way out",
                args.join(" "),
                after.local_flags,
                before.local_flags
            ));
        }
    }
    // A SIGTERM to the runtime itself: forwarded, the command dies of it,
    // and the terminal is restored on that way out too.
    let mut cmd = t.command(&["sh", "-c", "echo ready; sleep 10"]);
    cmd.stdin(Stdio::from(
        pty.slave.try_clone().map_err(|e| e.to_string())?,
    ));
    let (mut child, _) = crate::run::start_until_ready(cmd)?;
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let status = crate::run::wait_limited(&mut child, crate::run::RUN_LIMIT)?;
    let code = crate::run::code(status);
    let after = nix::sys::termios::tcgetattr(pty.slave.as_fd()).map_err(|e| e.to_string())?;
    if code != 143 {
        return Err(format!(
            "SIGTERM to the runtime with a terminal: exit {code}, expected 143"
        ));
    }
    if after.local_flags != before.local_flags || after.input_flags != before.input_flags {
        return Err(
            "after a SIGTERM to the runtime the host terminal was left in raw mode: restore it \
             on every way out, signals included"
                .into(),
        );
    }
    drop(pty.master);
    Ok(())
}

/// The container's terminal has the host terminal's size, and follows it:
/// after a SIGWINCH to the runtime the command sees the new size.
pub fn window_size_follows(t: &Target) -> Result<(), String> {
    let pty = pty()?;
    let set = |rows: u16, cols: u16| {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from the pointer, which is valid.
        unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&pty.master),
                libc::TIOCSWINSZ,
                &size,
            )
        }
    };
    set(40, 100);
    let script = "trap 'stty size; exit 0' WINCH; stty size; echo ready; \
                  i=0; while [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; exit 3";
    let mut cmd = t.command(&["sh", "-c", script]);
    cmd.stdin(Stdio::from(
        pty.slave.try_clone().map_err(|e| e.to_string())?,
    ));
    let (mut child, before) = crate::run::start_until_ready(cmd)?;
    set(30, 90);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGWINCH);
    let status = crate::run::wait_limited(&mut child, crate::run::RUN_LIMIT)?;
    if before.trim_end_matches(['\r', '\n']).trim() != "40 100" {
        return Err(format!(
            "the container's terminal should start at the host terminal's size 40 100, `stty size` said {:?}",
            before.trim()
        ));
    }
    if crate::run::code(status) != 0 {
        return Err(
            "after a SIGWINCH to the runtime the command got no SIGWINCH of its own: copy the \
             new size to the container's terminal (TIOCSWINSZ on the master)"
                .into(),
        );
    }
    Ok(())
}

/// Without a terminal, stdin and stdout stay pipes: what is piped in comes out.
pub fn pipes_pass_as_they_are(t: &Target) -> Result<(), String> {
    use std::io::Write;
    let mut cmd = t.command(&["sh", "-c", "cat; test -t 0 || echo not-a-terminal"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"through the pipe\n");
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout != "through the pipe\nnot-a-terminal\n" {
        return Err(format!(
            "piped stdin should reach the command as a pipe and come back unchanged, got {stdout:?} \
             (stderr {:?})",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

fn status_field<'a>(status: &'a str, field: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// PID 1 holds no capability but CAP_KILL, has the command's bounding set
/// and no_new_privs, and is not dumpable (`/proc/1/exe` does not open).
pub fn pid1_keeps_least_privilege(t: &Target) -> Result<(), String> {
    let out = t.run(&[
        "sh",
        "-c",
        "cat /proc/1/status; echo ---; cat /proc/self/status",
    ])?;
    expect_code(&out, 0, "cat /proc/1/status")?;
    let (init, own) = out.stdout.split_once("---").ok_or("no separator")?;
    for (field, want) in [
        ("CapEff", "0000000000000020"),
        ("CapPrm", "0000000000000020"),
        ("CapInh", "0000000000000000"),
        ("CapAmb", "0000000000000000"),
        ("NoNewPrivs", "1"),
    ] {
        let got = status_field(init, field);
        if got != Some(want) {
            return Err(format!(
                "PID 1's {field} was {got:?}, expected {want:?}: after starting the command, PID 1 \
                 needs only CAP_KILL (to signal it), with no_new_privs"
            ));
        }
    }
    if status_field(init, "CapBnd") != status_field(own, "CapBnd") {
        return Err(format!(
            "PID 1's bounding set {:?} is not the command's {:?}",
            status_field(init, "CapBnd"),
            status_field(own, "CapBnd")
        ));
    }
    let out = t.run(&["sh", "-c", "head -c 4 /proc/1/exe"])?;
    if out.code == 0 {
        return Err(
            "/proc/1/exe (the runtime's binary on the host) opened from inside: make PID 1 \
             non-dumpable (PR_SET_DUMPABLE 0)"
                .into(),
        );
    }
    Ok(())
}

/// /proc/keys, /proc/timer_list read empty and /sys/firmware is empty; the
/// read-only paths stay read-only.
pub fn masked_paths_read_empty(t: &Target) -> Result<(), String> {
    let script = "cat /proc/keys /proc/timer_list | wc -c; ls -A /sys/firmware | wc -l; \
                  umount /proc/keys 2>&1 | head -1";
    let out = t.run(&["sh", "-c", script])?;
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    if lines.first() != Some(&"0") || lines.get(1) != Some(&"0") {
        return Err(format!(
            "masked paths are readable: {} bytes of /proc/keys and /proc/timer_list, {} entries in \
             /sys/firmware: bind /dev/null over masked files, an empty read-only tmpfs over directories",
            lines.first().unwrap_or(&"?"),
            lines.get(1).unwrap_or(&"?")
        ));
    }
    Ok(())
}

/// The command sees PATH, HOSTNAME and HOME and nothing of the runtime's
/// environment.
pub fn clean_environment(t: &Target) -> Result<(), String> {
    let mut cmd = t.command(&["--hostname", "envbox", "env"]);
    cmd.env("TESTKIT_HOST_SECRET", "from-the-host");
    let out = run_command(cmd, crate::run::RUN_LIMIT)?;
    expect_code(&out, 0, "env")?;
    let mut names: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    names.sort_unstable();
    if names != ["HOME", "HOSTNAME", "PATH"] {
        return Err(format!(
            "the command's environment should be PATH, HOSTNAME and HOME (Docker's), was {names:?}: \
             exec the command with an environment of its own, not the runtime's"
        ));
    }
    if !out.stdout.contains("HOSTNAME=envbox") || !out.stdout.contains("HOME=/root") {
        return Err(format!("HOSTNAME or HOME wrong: {:?}", out.stdout));
    }
    Ok(())
}

/// `-e KEY=VALUE`, `-e KEY` (the host's value), `--env-file` (comments
/// skipped, `-e` wins), and a bad `-e` is 125 with one line.
pub fn env_flags(t: &Target) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("env");
    std::fs::write(&file, "# a comment\n\nFROM_FILE=f\nBOTH=file\n").map_err(|e| e.to_string())?;
    let file = file.to_string_lossy().into_owned();
    let mut cmd = t.command(&[
        "-e",
        "A=1",
        "-e",
        "BOTH=flag",
        "-e",
        "TESTKIT_PASSED",
        "--env-file",
        &file,
        "env",
    ]);
    cmd.env("TESTKIT_PASSED", "p");
    let out = run_command(cmd, crate::run::RUN_LIMIT)?;
    expect_code(&out, 0, "env with -e and --env-file")?;
    for want in ["A=1", "BOTH=flag", "TESTKIT_PASSED=p", "FROM_FILE=f"] {
        if !out.stdout.lines().any(|l| l == want) {
            return Err(format!(
                "{want} missing from the environment: {:?}",
                out.stdout
            ));
        }
    }
    let out = t.run(&["-e", "=oops", "true"])?;
    expect_code(&out, 125, "-e =oops")?;
    expect_one_line(&out, &["=oops"], "-e =oops")
}

/// Even a container that may mount (`--cap-add SYS_ADMIN`) and make nodes
/// on a `-o dev` tmpfs cannot open /dev/kmsg (c 1:11) there; /dev/null
/// (c 1:3) made the same way opens. The device cgroup says so.
pub fn device_cgroup_refuses_kmsg(t: &Target) -> Result<(), String> {
    let script = "mkdir -p /tmp/devtest && mount -t tmpfs -o dev none /tmp/devtest && \
                  mknod /tmp/devtest/null c 1 3 && mknod /tmp/devtest/kmsg c 1 11 && \
                  { (: < /tmp/devtest/null); echo null=$?; (: < /tmp/devtest/kmsg); echo kmsg=$?; }; \
                  umount /tmp/devtest; rmdir /tmp/devtest";
    let out = t.run(&["--cap-add", "SYS_ADMIN", "sh", "-c", script])?;
    let says = |s: &str| out.stdout.lines().any(|l| l == s);
    if !says("null=0") {
        return Err(format!(
            "the setup of the device check failed (a dev tmpfs with a null node): {:?} {:?}",
            out.stdout.trim(),
            out.stderr.trim()
        ));
    }
    if says("kmsg=0") || !out.stdout.contains("kmsg=") {
        return Err(format!(
            "/dev/kmsg (c 1:11) made on a dev tmpfs opened inside the container: set the device \
             cgroup (v1 devices.deny a + devices.allow, v2 a BPF_PROG_TYPE_CGROUP_DEVICE program): {:?}",
            out.stdout.trim()
        ));
    }
    if !out.stderr.contains("Operation not permitted") {
        return Err(format!(
            "the open of c 1:11 failed, but not with EPERM from the device cgroup: {:?}",
            out.stderr.trim()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_pgrp_and_session() {
        let line = "2 (cat) R 1 2 2 34816 2 4194304 0 0";
        assert_eq!(pgrp_and_session(line), Some((2, 2)));
        let line = "7 (a b) S 1 0 0 0 -1";
        assert_eq!(pgrp_and_session(line), Some((0, 0)));
    }
}
