//! Chapter 2: the PID namespace, a fresh /proc, and PID 1's duties.

use std::process::Child;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::uts::namespace_differs;
use super::{Check, expect_code};
use crate::host;
use crate::run::{Target, code, wait_limited};

/// The checks of chapter 2.
pub const CHECKS: &[Check] = &[
    Check {
        name: "pid::command_is_pid_2_under_init",
        since: 2,
        run: command_is_pid_2_under_init,
    },
    Check {
        name: "pid::ps_shows_only_the_container",
        since: 2,
        run: ps_shows_only_the_container,
    },
    Check {
        name: "pid::pid_namespace_differs",
        since: 2,
        run: pid_namespace_differs,
    },
    Check {
        name: "pid::orphans_are_reaped",
        since: 2,
        run: orphans_are_reaped,
    },
    Check {
        name: "pid::sigterm_reaches_the_command",
        since: 2,
        run: sigterm_reaches_the_command,
    },
    Check {
        name: "pid::sigint_reaches_the_command",
        since: 2,
        run: sigint_reaches_the_command,
    },
    Check {
        name: "pid::kill_9_of_runtime_kills_container",
        since: 2,
        run: kill_9_of_runtime_kills_container,
    },
    Check {
        name: "pid::host_proc_untouched",
        since: 2,
        run: host_proc_untouched,
    },
];

/// The runtime's init is PID 1 and the command runs as its child, PID 2.
pub fn command_is_pid_2_under_init(t: &Target) -> Result<(), String> {
    let out = t.run(&["sh", "-c", "echo $$ $PPID"])?;
    expect_code(&out, 0, "sh -c 'echo $$ $PPID'")?;
    match out.out() {
        "2 1" => Ok(()),
        "1 0" => Err(
            "the command is PID 1 itself: it must run as PID 2 under the runtime's init, \
                      which reaps orphans and forwards signals"
                .into(),
        ),
        other => Err(format!(
            "the command's PID and parent PID were {other:?}, expected \"2 1\": \
             PID 1 (the runtime's init) should fork the command in a new PID namespace"
        )),
    }
}

/// `ps` inside lists the init and itself, nothing of the host.
pub fn ps_shows_only_the_container(t: &Target) -> Result<(), String> {
    let out = t.run(&["ps"])?;
    expect_code(&out, 0, "ps")?;
    let pids: Vec<&str> = out
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if pids == ["1", "2"] {
        Ok(())
    } else {
        Err(format!(
            "ps inside the container listed PIDs {pids:?}, expected [\"1\", \"2\"] (init and ps): \
             is /proc a fresh mount made inside the new PID namespace?"
        ))
    }
}

/// `/proc/self/ns/pid` inside is not the host's.
pub fn pid_namespace_differs(t: &Target) -> Result<(), String> {
    namespace_differs(t, "pid")
}

/// An orphan that exits is reaped by PID 1 and does not stay a zombie.
pub fn orphans_are_reaped(t: &Target) -> Result<(), String> {
    // The subshell starts `sleep` in the background and exits at once, so
    // the sleep is re-parented to PID 1. When it ends, only PID 1 can reap it.
    let script = "(sleep 0.2 &); sleep 1; cat /proc/[0-9]*/stat";
    let out = t.run(&["sh", "-c", script])?;
    expect_code(&out, 0, "the orphan script")?;
    let zombies: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.rfind(')').and_then(|i| l.get(i + 2..i + 3)) == Some("Z"))
        .collect();
    if zombies.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "an orphan was left a zombie: {zombies:?}. PID 1 must wait() for every child, \
             not only for the command"
        ))
    }
}

/// SIGTERM to the runtime kills the command, and the runtime exits 143.
pub fn sigterm_reaches_the_command(t: &Target) -> Result<(), String> {
    signal_reaches(t, Signal::SIGTERM)
}

/// SIGINT (Ctrl-C) to the runtime kills the command, and the runtime exits 130.
pub fn sigint_reaches_the_command(t: &Target) -> Result<(), String> {
    signal_reaches(t, Signal::SIGINT)
}

/// A shell starts background jobs with SIGINT ignored, and ignored signals
/// survive execve: the command must still start with SIGINT's default action.
pub fn sigint_works_when_caller_ignores_it(t: &Target) -> Result<(), String> {
    signal_reaches_with(t, Signal::SIGINT, true).map_err(|e| {
        format!("{e} (the runtime was started with SIGINT ignored, as `step &` in a shell does: reset every signal to SIG_DFL before exec)")
    })
}

fn signal_reaches(t: &Target, signal: Signal) -> Result<(), String> {
    signal_reaches_with(t, signal, false)
}

fn signal_reaches_with(t: &Target, signal: Signal, caller_ignores: bool) -> Result<(), String> {
    let mut child = start_ready_with(t, caller_ignores)?;
    let runtime = Pid::from_raw(child.id() as i32);
    kill(runtime, signal).map_err(|e| format!("kill: {e}"))?;
    let status = wait_limited(&mut child, Duration::from_secs(10))
        .map_err(|e| format!("after {signal} to the runtime, the container {e}"))?;
    let want = 128 + signal as i32;
    if code(status) == want {
        Ok(())
    } else {
        Err(format!(
            "after {signal} to the runtime it exited {}, expected {want}: \
             the signal must be forwarded to the command",
            code(status)
        ))
    }
}

/// `kill -9` of the runtime takes the container down with it.
pub fn kill_9_of_runtime_kills_container(t: &Target) -> Result<(), String> {
    let mut child = start_ready(t)?;
    let runtime = child.id();
    let container = host::children_of(runtime);
    let _ = child.kill();
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(3);
    while container.iter().any(|p| host::alive(*p)) {
        if Instant::now() > deadline {
            for pid in &container {
                let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
            }
            return Err(format!(
                "3 s after SIGKILL to the runtime its container (PIDs {container:?}) still ran: \
                 set PR_SET_PDEATHSIG in the child"
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if container.is_empty() {
        return Err("the runtime had no child process to run the container in".into());
    }
    Ok(())
}

/// The host's mount table (and so its /proc) is the same after a run.
pub fn host_proc_untouched(t: &Target) -> Result<(), String> {
    let before = host::mounts();
    let out = t.run(&["cat", "/proc/self/stat"])?;
    expect_code(&out, 0, "cat /proc/self/stat")?;
    let after = host::mounts();
    super::mount::same_mounts(&before, &after, "after a run")
}

/// Starts `sh -c 'echo ready; exec sleep 30'` and returns once it printed ready.
pub fn start_ready(t: &Target) -> Result<Child, String> {
    start_ready_with(t, false)
}

fn start_ready_with(t: &Target, ignore_sigint: bool) -> Result<Child, String> {
    let mut cmd = t.command(&["sh", "-c", "echo ready; exec sleep 30"]);
    if ignore_sigint {
        use std::os::unix::process::CommandExt;
        // SAFETY: between fork and exec this only calls sigaction, which is
        // async-signal-safe, and touches no memory of the parent's.
        unsafe {
            cmd.pre_exec(|| {
                let ignore = nix::sys::signal::SigAction::new(
                    nix::sys::signal::SigHandler::SigIgn,
                    nix::sys::signal::SaFlags::empty(),
                    nix::sys::signal::SigSet::empty(),
                );
                nix::sys::signal::sigaction(Signal::SIGINT, &ignore)
                    .map(drop)
                    .map_err(std::io::Error::from)
            });
        }
    }
    crate::run::start_until_ready(cmd).map(|(child, _)| child)
}
