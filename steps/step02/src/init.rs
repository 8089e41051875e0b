//! PID 1 of the container: the small init that starts the command, forwards
//! signals to it and reaps every zombie, and the hooks through which later
//! steps add to its life. See pid_namespaces(7), signal(7), waitpid(2).
//!
//! [`crate::pid`] re-exports what is here, so `pid::init` is the name the
//! runtime uses.

use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use workshop::explain::{self, Role};
use workshop::{call, exit};

use crate::pid::SyncPipe;

// ANCHOR: hooks
/// What a later step does at the two points of PID 1's life that chapter 2
/// leaves empty: in the command's own process just before `execvp`, and in
/// PID 1 once the command has started. Both do nothing unless a step says
/// otherwise. `()` is no hooks; a pair `(a, b)` runs `a`'s, then `b`'s, so a
/// step can append its work to the previous step's.
pub trait InitHooks {
    /// In the command's process (PID 2), after `fork`, just before `execvp`.
    /// An error ends that process with status 125; the command never runs.
    fn before_exec(&self) -> anyhow::Result<()> {
        Ok(())
    }

    /// In PID 1, once the command's process exists. The command waits for
    /// this hook to finish before `before_exec`, so it never sees PID 1 half
    /// set up. An error kills the command, and PID 1 exits with status 125.
    fn after_start(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

impl InitHooks for () {}

impl<A: InitHooks, B: InitHooks> InitHooks for (A, B) {
    fn before_exec(&self) -> anyhow::Result<()> {
        self.0.before_exec()?;
        self.1.before_exec()
    }

    fn after_start(&self) -> anyhow::Result<()> {
        self.0.after_start()?;
        self.1.after_start()
    }
}
// ANCHOR_END: hooks

// ANCHOR: init
/// PID 1 of the container: starts the command, then forwards signals to it
/// and reaps zombies until it ends. Returns the exit status for PID 1 to
/// exit with: the command's own, or 128+N if a signal N killed it.
///
/// Why not simply `exec` the command as PID 1?
/// - Zombies: a process whose parent dies is re-parented to PID 1, and only
///   `wait` by PID 1 frees its entry. A shell or a server that never expected
///   to be init never calls it, and the container fills up with zombies
///   until `fork` fails.
/// - Signals: the kernel protects a namespace's init. A signal sent to it
///   from inside its namespace, or any signal for which it has no handler,
///   is dropped when its action is the default one. `kill PID` or Ctrl-C
///   does nothing to a command that never installed a SIGTERM handler.
///
/// So PID 1 is this small loop, and the command runs as PID 2.
pub fn init(argv: &[String], signals: &SigSet) -> i32 {
    init_with(argv, signals, &())
}

/// [`init`], with a later step's [`InitHooks`] run in the command's process
/// and in PID 1.
pub fn init_with(argv: &[String], signals: &SigSet, hooks: &impl InitHooks) -> i32 {
    // The command waits on this pipe until PID 1 is done with `after_start`,
    // so it can never observe PID 1 half set up (say, before PID 1's own
    // seccomp filter is on).
    let hold = match SyncPipe::new() {
        Ok(hold) => hold,
        Err(err) => {
            eprintln!("{}: {err}", explain::program());
            return exit::RUNTIME_FAILED;
        }
    };
    // SAFETY: PID 1 is single-threaded; the child only sets itself up and execs.
    let forked = match unsafe { fork() } {
        Ok(ForkResult::Child) => Ok(0),
        Ok(ForkResult::Parent { child }) => call("fork", "", || Ok(child.as_raw())),
        Err(errno) => call("fork", "", || Err(errno)),
    };
    let command = match forked {
        Ok(0) => {
            explain::set_role(Role::Command);
            hold.wait();
            if let Err(err) = hooks.before_exec() {
                exit::child_finish(Err(err));
            }
            workshop::exec::exec_command(argv)
        }
        Ok(pid) => Pid::from_raw(pid),
        Err(err) => {
            eprintln!("{}: {err}", explain::program());
            return exit::RUNTIME_FAILED;
        }
    };
    let started = hooks.after_start().and_then(|()| Ok(hold.release(&[])?));
    if let Err(err) = started {
        eprintln!("{}: {err:#}", explain::program());
        let _ = kill(command, Signal::SIGKILL);
        let _ = waitpid(command, None);
        return exit::RUNTIME_FAILED;
    }
    loop {
        let signal = match call("sigwait", "", || signals.wait()) {
            Ok(signal) => signal,
            Err(err) => {
                eprintln!("{}: {err}", explain::program());
                return exit::RUNTIME_FAILED;
            }
        };
        if signal != Signal::SIGCHLD {
            let _ = call("kill", format!("{command}, {signal}"), || {
                kill(command, signal)
            });
            continue;
        }
        // One SIGCHLD can stand for several ended children: reap them all,
        // the command and any orphan that was re-parented to us.
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
// ANCHOR_END: init

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pid::block_signals;
    use std::cell::RefCell;

    struct Log<'a>(&'a RefCell<Vec<String>>, &'static str);

    impl InitHooks for Log<'_> {
        fn before_exec(&self) -> anyhow::Result<()> {
            self.0.borrow_mut().push(format!("{} before_exec", self.1));
            Ok(())
        }
        fn after_start(&self) -> anyhow::Result<()> {
            self.0.borrow_mut().push(format!("{} after_start", self.1));
            Ok(())
        }
    }

    struct Fails;

    impl InitHooks for Fails {
        fn before_exec(&self) -> anyhow::Result<()> {
            anyhow::bail!("no")
        }
    }

    #[test]
    fn a_later_steps_hooks_run_after_the_earlier_ones() {
        let log = RefCell::new(Vec::new());
        let hooks = (Log(&log, "step06"), Log(&log, "step07"));
        hooks.before_exec().unwrap();
        hooks.after_start().unwrap();
        assert_eq!(
            *log.borrow(),
            [
                "step06 before_exec",
                "step07 before_exec",
                "step06 after_start",
                "step07 after_start"
            ]
        );
        // A failing hook stops the ones after it.
        log.borrow_mut().clear();
        assert!((Fails, Log(&log, "later")).before_exec().is_err());
        assert!(log.borrow().is_empty());
        // No hooks at all: nothing to do, nothing fails.
        assert!(().before_exec().is_ok() && ().after_start().is_ok());
    }

    /// PID 1's hook takes its time and leaves a mark; the command's hook
    /// fails unless the mark is there already.
    struct Slow(std::path::PathBuf);

    impl InitHooks for Slow {
        fn before_exec(&self) -> anyhow::Result<()> {
            anyhow::ensure!(self.0.exists(), "the command ran before PID 1's hook ended");
            Ok(())
        }
        fn after_start(&self) -> anyhow::Result<()> {
            std::thread::sleep(std::time::Duration::from_millis(200));
            std::fs::write(&self.0, "done")?;
            Ok(())
        }
    }

    #[test]
    fn the_command_waits_for_pid_1s_hook() {
        let mark = std::env::temp_dir().join(format!("step02-hold-{}", std::process::id()));
        let _ = std::fs::remove_file(&mark);
        // SAFETY: the child runs init_with (fork, pipe, sigwait) and _exits.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let code = match block_signals() {
                    Ok(signals) => init_with(&["true".into()], &signals, &Slow(mark.clone())),
                    Err(_) => 99,
                };
                // SAFETY: _exit ends the child; nothing of the harness runs.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                let status = waitpid(child, None).unwrap();
                let _ = std::fs::remove_file(&mark);
                assert_eq!(
                    status,
                    WaitStatus::Exited(child, 0),
                    "125 means the command's hook ran before PID 1's had finished"
                );
            }
        }
    }
}
