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
//! - [`make_mounts_private`] and [`mount_proc`]: a fresh `/proc`;
//! - [`CloneExtra`] and [`InitHooks`]: the places where later steps add to
//!   `clone3` and to PID 1's life, so that each step's change is its own
//!   chapter and nothing else.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{Pid, pipe2};
use workshop::explain;
use workshop::{SyscallError, call, exit, io_errno};

/// PID 1's own life is the `init` module's (`init`, `init_with`,
/// `InitHooks`): re-exported here, where `container.rs` and the later steps
/// look for it. A glob, so that exercise 2, whose `init` module is the
/// learner's and holds `init` alone, compiles this file as it is.
pub use crate::init::*;

/// Signals the runtime passes on to the command instead of dying of them.
pub const FORWARDED: [Signal; 6] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// `struct clone_args` of clone3(2), as the kernel lays it out (version 2,
/// 88 bytes). This step fills `flags` and `exit_signal`; a later step fills
/// more through a [`CloneExtra`].
#[repr(C)]
#[derive(Debug, Default)]
pub struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}

/// What a later step asks of `clone3` beyond the namespaces: more flags,
/// and the fields of [`CloneArgs`] those flags read. `()` asks for nothing
/// more, and so does `None`.
pub trait CloneExtra {
    /// Sets what it adds in `args`, and says what that is for the
    /// narration: the names of the flags it added (`"CLONE_FOO"`), and the
    /// other fields it set (`"foo=1"`); empty for none.
    fn add_to(&self, args: &mut CloneArgs) -> (&'static str, String);
}

impl CloneExtra for () {
    fn add_to(&self, _args: &mut CloneArgs) -> (&'static str, String) {
        ("", String::new())
    }
}

impl<T: CloneExtra> CloneExtra for Option<T> {
    fn add_to(&self, args: &mut CloneArgs) -> (&'static str, String) {
        match self {
            Some(extra) => extra.add_to(args),
            None => ("", String::new()),
        }
    }
}

// ANCHOR: clone3
/// Creates a child process inside new namespaces, like `fork` does: returns
/// `Some(child)` in the parent and `None` in the child. `extra` is what a
/// later step adds to the call (`()` here).
///
/// The child is a copy of this single-threaded process; it must not return
/// into the parent's code paths, only run the container and `_exit`.
pub fn clone3(namespaces: CloneFlags, extra: impl CloneExtra) -> anyhow::Result<Option<Pid>> {
    let mut args = CloneArgs {
        flags: namespaces.bits() as u64,
        // SIGCHLD, as for fork: the parent is told when the child ends.
        exit_signal: Signal::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    let (more_flags, fields) = extra.add_to(&mut args);
    let mut shown = format!("flags={}", explain::clone_flags(namespaces));
    if !more_flags.is_empty() {
        shown.push_str(&format!("|{more_flags}"));
    }
    if !fields.is_empty() {
        shown.push_str(&format!(", {fields}"));
    }
    shown.push_str(", exit_signal=SIGCHLD");
    // The child gets a copy of this thread only. A lock that another thread
    // held at that moment (the allocator's, stdout's) stays locked in the
    // child for ever, so we must be the only thread: checked, not assumed.
    single_threaded()?;
    // SAFETY: clone3 with no stack behaves like fork: the child gets a copy
    // of our memory and returns here with 0. `args` outlives the call and its
    // size is passed with it. We are the process's only thread (checked just
    // above), so no lock can be held by a thread that does not exist in the
    // child.
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
    Ok(call("clone3", shown, || {
        Errno::result(rc).map(|pid| Some(Pid::from_raw(pid as i32)))
    })?)
}
// ANCHOR_END: clone3

/// Fails unless the calling process has exactly one thread, as `fork` and
/// `clone3` need (see [`clone3`]): one entry in `/proc/self/task`.
pub fn single_threaded() -> anyhow::Result<()> {
    let threads = std::fs::read_dir("/proc/self/task")
        .map_err(|err| {
            anyhow::anyhow!("cannot count this process's threads in /proc/self/task: {err}")
        })?
        .count();
    if threads != 1 {
        anyhow::bail!(
            "the runtime has {threads} threads (/proc/self/task) where clone3 needs exactly one: \
             the child would be a copy of this thread alone, and a lock another thread holds \
             would stay locked in it; this is a bug in the runtime, please report it"
        );
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::WaitStatus;
    use nix::unistd::{ForkResult, fork};

    /// A second thread, parked until the guard is dropped.
    fn another_thread() -> impl Drop {
        struct Parked(
            Option<std::thread::JoinHandle<()>>,
            std::sync::mpsc::Sender<()>,
        );
        impl Drop for Parked {
            fn drop(&mut self) {
                let _ = self.1.send(());
                if let Some(handle) = self.0.take() {
                    let _ = handle.join();
                }
            }
        }
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let parked = std::thread::spawn(move || {
            let _ = rx.recv();
        });
        Parked(Some(parked), tx)
    }

    #[test]
    fn clone3_refuses_a_process_with_other_threads() {
        // The test harness has threads of its own; one more makes sure.
        let _parked = another_thread();
        let err = single_threaded().unwrap_err().to_string();
        assert!(err.contains("threads (/proc/self/task)"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
        match clone3(CloneFlags::empty(), ()) {
            Err(err) => assert!(
                err.to_string().contains("clone3 needs exactly one"),
                "{err}"
            ),
            Ok(None) => {
                // The check let a copy of this thread through: end it here.
                // SAFETY: _exit ends the copy; nothing of the harness runs.
                unsafe { libc::_exit(99) }
            }
            Ok(Some(child)) => {
                let _ = waitpid(child, None);
                panic!("clone3 made a child from a process with other threads");
            }
        }
    }

    #[test]
    fn a_process_of_one_thread_passes_the_check() {
        // A forked child is a process of one thread: the one that forked.
        // SAFETY: the child only reads /proc and calls _exit.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let code = if single_threaded().is_ok() { 0 } else { 1 };
                // SAFETY: _exit ends the child; nothing of the harness runs.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                let status = waitpid(child, None).unwrap();
                assert_eq!(
                    status,
                    WaitStatus::Exited(child, 0),
                    "one thread, one task entry"
                );
            }
        }
    }

    struct Extra;

    impl CloneExtra for Extra {
        fn add_to(&self, args: &mut CloneArgs) -> (&'static str, String) {
            args.flags |= 1 << 40;
            args.set_tid_size = 7;
            ("CLONE_TEST", "set_tid_size=7".into())
        }
    }

    #[test]
    fn clone_extras_add_to_the_arguments() {
        let mut args = CloneArgs::default();
        assert_eq!(().add_to(&mut args), ("", String::new()));
        assert_eq!(None::<Extra>.add_to(&mut args), ("", String::new()));
        assert_eq!(args.flags, 0);
        let shown = Some(Extra).add_to(&mut args);
        assert_eq!(shown, ("CLONE_TEST", "set_tid_size=7".into()));
        assert_eq!((args.flags, args.set_tid_size), (1 << 40, 7));
        // The layout the kernel reads: version 2 of struct clone_args.
        assert_eq!(std::mem::size_of::<CloneArgs>(), 88);
    }
}
