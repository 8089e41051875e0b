//! The PID namespace: the process IDs a process can see and signal.
//!
//! The first process created in a new PID namespace gets PID 1 there and
//! plays the role of init for it: orphans are re-parented to it, and when it
//! exits the kernel kills every other process of the namespace. `ps` reads
//! `/proc`, so a container also needs a `proc` filesystem mounted from inside
//! the new namespace, in a mount namespace of its own so the host's `/proc`
//! is left alone. See pid_namespaces(7), clone3(2), proc(5), mount(2).
//!
//! This step adds:
//! - [`clone3`]: a child created straight into new namespaces (unlike
//!   `unshare`, which can only put *later* children into a new PID namespace);
//! - [`SyncPipe`]: the parent holds the child back until the host side is ready;
//! - [`supervise`]: the parent waits for the container and forwards signals;
//! - [`init`]: PID 1's duties inside: start the command, forward signals to
//!   it, and reap every zombie;
//! - [`make_mounts_private`] and [`mount_proc`]: a fresh `/proc`.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe2};
use workshop::explain::{self, Role};
use workshop::{SyscallError, call, exit, io_errno};

/// Signals the runtime passes on to the command instead of dying of them.
pub const FORWARDED: [Signal; 6] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// `CLONE_INTO_CGROUP` (Linux 5.7): start the child inside a cgroup. Used from step05.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` of clone3(2), version 2 (88 bytes, with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

// ANCHOR: clone3
/// Creates a child process inside new namespaces, like `fork` does: returns
/// `Some(child)` in the parent and `None` in the child. With `cgroup`, the
/// child starts inside that cgroup (CLONE_INTO_CGROUP, step05).
///
/// The child is a copy of this single-threaded process; it must not return
/// into the parent's code paths, only run the container and `_exit`.
pub fn clone3(
    namespaces: CloneFlags,
    cgroup: Option<BorrowedFd<'_>>,
) -> Result<Option<Pid>, SyscallError> {
    let mut args = CloneArgs {
        flags: namespaces.bits() as u64,
        // SIGCHLD, as for fork: the parent is told when the child ends.
        exit_signal: Signal::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    let mut shown = format!("flags={}", flag_names(namespaces));
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
        shown.push_str(&format!("|CLONE_INTO_CGROUP, cgroup=fd {}", fd.as_raw_fd()));
    }
    shown.push_str(", exit_signal=SIGCHLD");
    // SAFETY: clone3 with no stack behaves like fork: the child gets a copy
    // of our memory and returns here with 0. `args` outlives the call and its
    // size is passed with it. We are single-threaded at this point (the
    // fetcher joins its threads before returning), so no lock can be held by
    // a thread that does not exist in the child.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if rc == 0 {
        return Ok(None); // the child: it has no role yet, so it says nothing
    }
    call("clone3", shown, || {
        Errno::result(rc).map(|pid| Some(Pid::from_raw(pid as i32)))
    })
}
// ANCHOR_END: clone3

/// `CLONE_NEWUTS|CLONE_NEWPID|...` for the narration.
pub fn flag_names(flags: CloneFlags) -> String {
    let names: Vec<&str> = [
        (CloneFlags::CLONE_NEWNS, "CLONE_NEWNS"),
        (CloneFlags::CLONE_NEWUTS, "CLONE_NEWUTS"),
        (CloneFlags::CLONE_NEWIPC, "CLONE_NEWIPC"),
        (CloneFlags::CLONE_NEWPID, "CLONE_NEWPID"),
        (CloneFlags::CLONE_NEWNET, "CLONE_NEWNET"),
        (CloneFlags::CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
        (CloneFlags::CLONE_NEWUSER, "CLONE_NEWUSER"),
    ]
    .into_iter()
    .filter(|(f, _)| flags.contains(*f))
    .map(|(_, n)| n)
    .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

// ANCHOR: sync_pipe
/// A pipe that holds the child back until the parent has finished the host
/// side of the setup (step04 creates the veth pair, step05 fills the cgroup),
/// and carries a few bytes of what the parent decided (step04's addresses).
///
/// It also closes a race: if the parent dies before the child has asked to
/// die with it (`PR_SET_PDEATHSIG`), the child reads end-of-file instead of
/// the go-ahead and exits, rather than living on unsupervised.
pub struct SyncPipe {
    read: OwnedFd,
    write: OwnedFd,
}

const GO: u8 = b'G';

impl SyncPipe {
    /// Creates the pipe, close-on-exec so it can never leak into the command.
    pub fn new() -> Result<Self, SyscallError> {
        let (read, write) = call("pipe2", "O_CLOEXEC", || pipe2(OFlag::O_CLOEXEC))?;
        Ok(SyncPipe { read, write })
    }

    /// Parent side: let the child go on, handing it `payload`.
    pub fn release(self, payload: &[u8]) -> Result<(), SyscallError> {
        drop(self.read);
        let mut message = vec![GO];
        message.extend_from_slice(payload);
        let mut file = std::fs::File::from(self.write);
        call(
            "write",
            format!("sync pipe, {} bytes", message.len()),
            || file.write_all(&message).map_err(io_errno),
        )
        // Closing the write end (dropping `file`) ends the child's read.
    }

    /// Child side: wait for the parent's go-ahead and return its payload.
    /// Exits the process if the parent went away without giving it.
    pub fn wait(self) -> Vec<u8> {
        drop(self.write);
        let mut message = Vec::new();
        let mut file = std::fs::File::from(self.read);
        let got = call("read", "sync pipe", || {
            file.read_to_end(&mut message).map_err(io_errno)
        });
        if got.is_err() || message.first() != Some(&GO) {
            exit::child_finish(Err(anyhow::anyhow!(
                "the runtime's parent process went away before the container started"
            )));
        }
        message.split_off(1)
    }
}
// ANCHOR_END: sync_pipe

/// Blocks the forwarded signals and SIGCHLD, so they queue up until
/// [`supervise`] or [`init`] waits for them with `sigwait` instead of
/// interrupting us at a random point. Call before `clone3`, so that there is
/// no moment at which a Ctrl-C kills the parent and orphans the container.
pub fn block_signals() -> Result<SigSet, SyscallError> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    for signal in FORWARDED {
        set.add(signal);
    }
    call(
        "sigprocmask",
        "SIG_BLOCK, {SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2}",
        || sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None),
    )?;
    Ok(set)
}

/// Child side, first thing after `clone3`: die when the parent dies, so a
/// `kill -9` of the runtime takes the whole container down with it (PID 1
/// exiting kills the rest of the namespace).
pub fn die_with_parent() -> Result<(), SyscallError> {
    call("prctl", "PR_SET_PDEATHSIG, SIGKILL", || {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
    })
}

/// Parent side, when the host side of the setup failed after `clone3`:
/// kill the waiting child and reap it, so that nothing of it outlives the
/// error we are about to report.
pub fn abort(child: Pid) {
    let _ = call("kill", format!("{child}, SIGKILL"), || {
        kill(child, Signal::SIGKILL)
    });
    let _ = call("waitpid", format!("{child}, 0"), || waitpid(child, None));
}

// ANCHOR: supervise
/// Parent side: wait until the container's PID 1 ends, passing on the
/// signals the runtime receives. Returns the exit status to exit with.
pub fn supervise(child: Pid, signals: &SigSet) -> Result<i32, SyscallError> {
    loop {
        let signal = call("sigwait", "", || signals.wait())?;
        if signal != Signal::SIGCHLD {
            // Ctrl-C, `kill`, a closing terminal: the container decides what
            // to do about it, and we go on waiting for it to end.
            let _ = call("kill", format!("{child}, {signal}"), || kill(child, signal));
            continue;
        }
        let status = call("waitpid", format!("{child}, WNOHANG"), || {
            waitpid(child, Some(WaitPidFlag::WNOHANG))
        })?;
        if let Some(code) = exit::code_of(status) {
            return Ok(code);
        }
    }
}
// ANCHOR_END: supervise

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
/// `before_exec` runs in the command's process just before `execvp`
/// (step06 drops capabilities there).
pub fn init(
    argv: &[String],
    signals: &SigSet,
    before_exec: impl FnOnce() -> anyhow::Result<()>,
) -> i32 {
    init_then(argv, signals, before_exec, || Ok(()))
}

/// [`init`], with `after_start` run by PID 1 itself once the command has
/// started: step06 gives up PID 1's own privileges there, which it could
/// not do earlier (the command's process, forked from it, still needs them
/// to set itself up). If `after_start` fails, the command is killed.
pub fn init_then(
    argv: &[String],
    signals: &SigSet,
    before_exec: impl FnOnce() -> anyhow::Result<()>,
    after_start: impl FnOnce() -> anyhow::Result<()>,
) -> i32 {
    // SAFETY: PID 1 is single-threaded; the child only sets itself up and execs.
    let forked = match unsafe { fork() } {
        Ok(ForkResult::Child) => Ok(0),
        Ok(ForkResult::Parent { child }) => call("fork", "", || Ok(child.as_raw())),
        Err(errno) => call("fork", "", || Err(errno)),
    };
    let command = match forked {
        Ok(0) => {
            explain::set_role(Role::Command);
            if let Err(err) = before_exec() {
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
    if let Err(err) = after_start() {
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

// ANCHOR: proc
/// Stops mount events from travelling between the host and the container.
///
/// A new mount namespace starts with copies of the host's mounts, and on
/// systemd machines `/` is *shared*: every mount made below it in one
/// namespace is propagated to its peers in the others. Without this call
/// the `/proc` we mount next would appear on the host too.
pub fn make_mounts_private() -> Result<(), SyscallError> {
    call("mount", "NULL, \"/\", NULL, MS_REC|MS_PRIVATE", || {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
    })
}

/// Mounts a `proc` filesystem for the PID namespace we are in on `/proc`.
///
/// A proc filesystem shows the PID namespace of the process that mounted
/// it, so this must run in the container's PID 1, not in the parent.
pub fn mount_proc() -> Result<(), SyscallError> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    call(
        "mount",
        "\"proc\", \"/proc\", \"proc\", MS_NOSUID|MS_NODEV|MS_NOEXEC",
        || mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>),
    )
}
// ANCHOR_END: proc
