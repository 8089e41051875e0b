//! # Exercise 2: PID 1's duties (the PID namespace)
//!
//! Read first: chapter 2 of the book, `book/src/ch02-pid.md`.
//!
//! The container's first process is PID 1 of its new PID namespace, and the
//! kernel treats PID 1 as the namespace's init:
//!
//! - every orphan (a process whose parent exited) is re-parented to it, and
//!   only its `wait` frees the orphan's entry when it ends: without that the
//!   orphan stays a zombie;
//! - a signal for which it has no handler is dropped: `kill PID` or Ctrl-C
//!   would do nothing to a command that ran as PID 1.
//!
//! So PID 1 is a small loop of ours and the command runs as its child, PID 2.
//! The runtime around it is given (`container.rs`: `clone3`, `/proc`, the
//! hostname), and so is the start of [`init`]: it forks the command. The loop
//! that follows is yours. The signals PID 1 cares about (SIGCHLD and the
//! ones in `crate::pid::FORWARDED`) are *blocked*, so they queue up until
//! you ask for the next one with `signals.wait()` (`sigwait(3)`):
//!
//! 1. Wait for the next signal.
//! 2. Anything but SIGCHLD: forward it to the command (`kill(2)`), then wait
//!    again.
//! 3. SIGCHLD: one SIGCHLD can stand for several children that ended, so
//!    reap them all: `waitpid(-1, WNOHANG)` (`waitpid(2)`) until it reports
//!    `StillAlive` (none left that ended). An orphan: nothing more to do. The
//!    command: return its status the shell's way, with
//!    `workshop::exit::code_of` (its exit code, or 128+N if signal N killed it).
//!
//! Make every syscall through `workshop::call(name, args, || nix_call)`, so
//! `-x` narrates it and a failure names it.
//!
//! Done when `cargo test -p ex02` passes: the same checks as step02 (an
//! orphan is reaped, SIGTERM and SIGINT reach the command, 128+N, ...).
//! Stuck? `exercises/hints.toml` has hints, each more specific than the last.
//!
//! SOLUTION: this is the instructor's copy; the filled gaps are marked
//! `// SOLUTION:`. It is the loop of step02's `init::init_with`.

use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use workshop::explain::{self, Role};
use workshop::{call, exit};

/// PID 1 of the container: starts the command, then forwards signals to it
/// and reaps zombies until it ends. Returns the exit status for PID 1 to
/// exit with: the command's own, or 128+N if signal N killed it.
pub fn init(argv: &[String], signals: &SigSet) -> i32 {
    // Given: fork the command (PID 2). Only PID 1 comes back here.
    let command = match start_command(argv) {
        Ok(pid) => pid,
        Err(code) => return code,
    };

    // SOLUTION: the loop. PID 1 lives until the command ends.
    loop {
        let signal = match call("sigwait", "", || signals.wait()) {
            Ok(signal) => signal,
            Err(err) => {
                eprintln!("{}: {err}", explain::program());
                return exit::RUNTIME_FAILED;
            }
        };
        // SOLUTION: a signal for the container goes to the command: the
        // kernel would drop it for PID 1, and the command decides what it means.
        if signal != Signal::SIGCHLD {
            let _ = call("kill", format!("{command}, {signal}"), || {
                kill(command, signal)
            });
            continue;
        }
        // SOLUTION: one SIGCHLD can stand for several ended children: reap
        // them all, the command and any orphan that was re-parented to us.
        loop {
            match call("waitpid", "-1, WNOHANG", || {
                waitpid(None, Some(WaitPidFlag::WNOHANG))
            }) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(status) if status.pid() == Some(command) => {
                    return exit::code_of(status).unwrap_or(exit::RUNTIME_FAILED);
                }
                Ok(_orphan) => continue,
            }
        }
    }
}

/// Forks: the child becomes the command (and never returns), the parent gets
/// its PID. `Err(status)` if the fork failed.
fn start_command(argv: &[String]) -> Result<Pid, i32> {
    // SAFETY: PID 1 is single-threaded; the child only sets itself up and execs.
    let forked = match unsafe { fork() } {
        Ok(ForkResult::Child) => Ok(0),
        Ok(ForkResult::Parent { child }) => call("fork", "", || Ok(child.as_raw())),
        Err(errno) => call("fork", "", || Err(errno)),
    };
    match forked {
        Ok(0) => {
            explain::set_role(Role::Command);
            workshop::exec::exec_command(argv)
        }
        Ok(pid) => Ok(Pid::from_raw(pid)),
        Err(err) => {
            eprintln!("{}: {err}", explain::program());
            Err(exit::RUNTIME_FAILED)
        }
    }
}
