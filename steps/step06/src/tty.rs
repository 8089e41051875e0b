//! The session and the terminal: what a container may do to the terminal
//! it was started from.
//!
//! A process belongs to a *session* and, inside it, to a *process group*;
//! a session may have one *controlling terminal*. See credentials(7),
//! setsid(2), pty(7), ioctl_tty(2).
//!
//! Until this step the container's PID 1 stays in the session and the
//! process group of whoever started the runtime, and its stdin is that
//! user's terminal. From inside, that is two ways out:
//!
//! - `kill(0, SIGSTOP)` signals the whole process group: the runtime, `sudo`,
//!   `cargo`. Inside the PID namespace `getsid(0)` and `getpgrp()` say 0,
//!   because the leader is a process the namespace cannot name.
//! - `ioctl(0, TIOCSTI, "x")` pushes bytes into the terminal's input queue as
//!   if typed: once the container has exited, the user's shell reads and
//!   runs them. (Linux 6.2 can switch TIOCSTI off, `dev.tty.legacy_tiocsti=0`;
//!   the terminal is still the host's to read, to resize, to hang up.)
//!
//! This step closes both as `docker run` does:
//!
//! - [`new_session`]: PID 1 and the command each call `setsid`, so neither
//!   shares a session or a process group with anything on the host;
//! - with a terminal ([`Stdio::tty`], `-t`, or a terminal on stdin and no
//!   flag), the container gets a pseudo-terminal of its own, made from its
//!   own devpts instance ([`open_pty`]); its master goes to the runtime over
//!   a socket ([`ConsoleSocket`]), and the runtime copies bytes between it and
//!   the host terminal, which it puts in raw mode ([`RawMode`]) and restores on
//!   every way out; window size changes (SIGWINCH) follow;
//! - without one, any of stdin, stdout or stderr that is a terminal is
//!   replaced by a pipe the runtime copies through ([`Relay`]); pipes and
//!   files pass as they are.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use nix::sys::stat::Mode;
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use workshop::{SyscallError, call};

// ANCHOR: opt
/// `-t/--tty` and `-i/--interactive`, flattened into step06's arguments.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TtyOpt {
    /// Give the container a pseudo-terminal of its own, as `docker run -t`
    /// does. With neither -t nor -i, a terminal on stdin means -it.
    #[arg(short = 't', long = "tty")]
    pub tty: bool,

    /// Pass stdin to the command, as `docker run -i` does (without it, and
    /// with -t, the command's terminal gets no input).
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
}
// ANCHOR_END: opt

/// What the container's standard descriptors are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stdio {
    /// A pseudo-terminal of the container's own on 0, 1 and 2.
    pub tty: bool,
    /// Whether stdin is passed on at all.
    pub stdin: bool,
}

/// Docker's meaning of the flags; with neither, what a learner typing
/// `step06` in a terminal expects: an interactive shell on a terminal of its
/// own when stdin is a terminal, stdin passed as it is when not.
pub fn resolve(opt: &TtyOpt, stdin_is_tty: bool) -> Result<Stdio, String> {
    if !opt.tty && !opt.interactive {
        return Ok(Stdio {
            tty: stdin_is_tty,
            stdin: true,
        });
    }
    if opt.tty && opt.interactive && !stdin_is_tty {
        return Err(
            "-it: the input device is not a TTY; drop -t to pass a pipe or file as stdin".into(),
        );
    }
    Ok(Stdio {
        tty: opt.tty,
        stdin: opt.interactive,
    })
}

/// Whether `fd` is a terminal (`isatty`, which asks with TCGETS).
pub fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: isatty only asks the kernel about the descriptor number.
    unsafe { libc::isatty(fd) == 1 }
}

// ANCHOR: setsid
/// Starts a new session (and process group) with the caller as its leader
/// and no controlling terminal. PID 1 calls it first thing, so that nothing
/// in the container is in the host's session or process group; the command
/// calls it again to lead a session of its own, as Docker's init does.
pub fn new_session() -> Result<(), SyscallError> {
    call("setsid", "", || nix::unistd::setsid().map(drop))
}
// ANCHOR_END: setsid

/// The socket over which PID 1 hands the pseudo-terminal's master to the
/// runtime (runc calls it the console socket). Made before `clone3`; each
/// side keeps its end.
pub struct ConsoleSocket {
    parent: OwnedFd,
    child: OwnedFd,
}

impl ConsoleSocket {
    pub fn new() -> Result<Self, SyscallError> {
        let (parent, child) = call(
            "socketpair",
            "AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC, 0",
            || {
                socketpair(
                    AddressFamily::Unix,
                    SockType::SeqPacket,
                    None,
                    SockFlag::SOCK_CLOEXEC,
                )
            },
        )?;
        Ok(ConsoleSocket { parent, child })
    }

    // ANCHOR: send_pty
    /// Child side (PID 1, after pivot_root): makes the container's terminal
    /// and sends its master to the runtime. Returns the slave, opened
    /// `O_NOCTTY` (PID 1 must not make it its own controlling terminal).
    pub fn send_pty(self) -> Result<OwnedFd, SyscallError> {
        drop(self.parent);
        let (master, slave) = open_pty()?;
        let fds = [master.as_raw_fd()];
        call(
            "sendmsg",
            format!("console socket, SCM_RIGHTS [{}]", fds[0]),
            || {
                sendmsg::<()>(
                    self.child.as_raw_fd(),
                    &[IoSlice::new(b"M")],
                    &[ControlMessage::ScmRights(&fds)],
                    MsgFlags::empty(),
                    None,
                )
                .map(drop)
            },
        )?;
        // The master lives on in the runtime; PID 1 closes its copy.
        Ok(slave)
    }
    // ANCHOR_END: send_pty

    /// Parent side: waits for the master. `None` if the child ended (a
    /// failed setup) without sending one.
    pub fn receive(self) -> Result<Option<OwnedFd>, SyscallError> {
        drop(self.child);
        let mut byte = [0u8; 1];
        let mut iov = [IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!(RawFd);
        let fd = self.parent.as_raw_fd();
        call("recvmsg", "console socket, MSG_CMSG_CLOEXEC", || {
            let msg = recvmsg::<()>(fd, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
            for cmsg in msg.cmsgs()? {
                if let ControlMessageOwned::ScmRights(fds) = cmsg {
                    if let Some(&fd) = fds.first() {
                        // SAFETY: the kernel just gave us this descriptor; nobody else owns it.
                        return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
                    }
                }
            }
            Ok(None)
        })
    }
}

// ANCHOR: open_pty
/// A new pseudo-terminal pair from the container's own devpts instance
/// (mounted `newinstance` on /dev/pts by step03): `/dev/pts/ptmx` gives a
/// master, and the slave is `/dev/pts/N` with N from `TIOCGPTN`. The host
/// never sees it, and its number says nothing about the host's terminals.
pub fn open_pty() -> Result<(OwnedFd, OwnedFd), SyscallError> {
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master = call(
        "open",
        "\"/dev/pts/ptmx\", O_RDWR|O_NOCTTY|O_CLOEXEC",
        || nix::fcntl::open("/dev/pts/ptmx", flags, Mode::empty()),
    )?;
    let unlock: libc::c_int = 0;
    call(
        "ioctl",
        format!("{}, TIOCSPTLCK, 0", master.as_raw_fd()),
        || {
            // SAFETY: TIOCSPTLCK reads one int from the pointer, which is valid.
            Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) })
                .map(drop)
        },
    )?;
    let mut number: libc::c_uint = 0;
    call("ioctl", format!("{}, TIOCGPTN", master.as_raw_fd()), || {
        // SAFETY: TIOCGPTN writes one unsigned int to the pointer, which is valid.
        Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) })
            .map(drop)
    })?;
    workshop::explain!("the container's terminal is /dev/pts/{number}");
    let path = format!("/dev/pts/{number}");
    let slave = call(
        "open",
        format!("{path:?}, O_RDWR|O_NOCTTY|O_CLOEXEC"),
        || nix::fcntl::open(path.as_str(), flags, Mode::empty()),
    )?;
    Ok((master, slave))
}
// ANCHOR_END: open_pty

/// Puts `fd` on the caller's descriptors 0, 1 and 2 (dup2 clears
/// close-on-exec, so they survive the exec).
pub fn install(fd: BorrowedFd<'_>, which: &[RawFd]) -> Result<(), SyscallError> {
    for &n in which {
        call("dup2", format!("{}, {n}", fd.as_raw_fd()), || {
            // SAFETY: dup2 only changes our descriptor table; n is 0, 1 or 2.
            Errno::result(unsafe { libc::dup2(fd.as_raw_fd(), n) }).map(drop)
        })?;
    }
    Ok(())
}

// ANCHOR: attach
/// Command side, before exec: a session of its own whose controlling
/// terminal is the container's terminal, already on fd 0 (from PID 1).
/// `TIOCSCTTY` needs a session leader without a terminal: `setsid` first.
pub fn take_terminal() -> Result<(), SyscallError> {
    new_session()?;
    call("ioctl", "0, TIOCSCTTY, 0", || {
        // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal).
        Errno::result(unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) }).map(drop)
    })
}
// ANCHOR_END: attach

/// The host terminal in raw mode for as long as this lives: every key,
/// Ctrl-C included, goes to the container's terminal, whose own line
/// discipline turns it into a signal for the command. Restored when dropped:
/// on success, on error, and after a forwarded signal ended the container.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    pub fn enter() -> Result<RawMode, SyscallError> {
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd()).map_err(|errno| SyscallError {
            call: "tcgetattr",
            args: "0".into(),
            errno,
            hint: None,
        })?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        call("tcsetattr", "0, TCSANOW, cfmakeraw", || {
            tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)
        })?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let stdin = std::io::stdin();
        let _ = call("tcsetattr", "0, TCSANOW, saved", || {
            tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &self.saved)
        });
    }
}

/// Copies the window size of the host terminal `from` to the container's
/// terminal `to`; the kernel then sends SIGWINCH to its foreground group.
pub fn copy_window_size(from: RawFd, to: RawFd) {
    let mut size: libc::winsize = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into `size`; TIOCSWINSZ reads it.
    unsafe {
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &size);
        }
    }
}

/// Follows the host terminal's size: SIGWINCH is blocked in the runtime's
/// threads and waited for by this one alone (the main thread's `sigwait`
/// does not include it).
pub fn follow_window_size(host: RawFd, master: RawFd) -> Result<(), SyscallError> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGWINCH);
    call("pthread_sigmask", "SIG_BLOCK, {SIGWINCH}", || {
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
    })?;
    copy_window_size(host, master);
    std::thread::spawn(move || {
        while set.wait().is_ok() {
            copy_window_size(host, master);
        }
    });
    Ok(())
}

/// Copies bytes from `from` to `to` on a thread until end-of-file or an
/// error (EIO from a master whose slave is closed everywhere). The thread
/// owns both descriptors, so neither number can be reused under it.
pub fn pump(from: OwnedFd, to: OwnedFd) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            let n = match nix::unistd::read(&from, &mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(_) => break,
            };
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                match nix::unistd::write(&to, rest) {
                    Ok(w) => rest = &rest[w..],
                    Err(Errno::EINTR) => {}
                    Err(_) => return,
                }
            }
        }
    })
}

/// Waits at most `limit` for the copying threads to finish (they do when
/// the container's last descriptor closes, at the latest when PID 1 exits).
pub fn finish(threads: Vec<JoinHandle<()>>, limit: Duration) {
    let deadline = Instant::now() + limit;
    for t in threads {
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if t.is_finished() {
            let _ = t.join();
        }
    }
}

// ANCHOR: relay
/// Without a terminal of its own, the container still must not get the
/// host's: each of stdin, stdout and stderr that is a terminal is replaced
/// by a pipe, and the runtime copies between the two. Made before `clone3`.
pub struct Relay {
    /// (container's fd number, the container's end, the runtime's end)
    pipes: Vec<(RawFd, OwnedFd, OwnedFd)>,
}

impl Relay {
    pub fn new(stdio: Stdio) -> Result<Relay, SyscallError> {
        let mut pipes = Vec::new();
        if stdio.tty {
            return Ok(Relay { pipes });
        }
        for fd in 0..3 {
            if !is_terminal(fd) {
                continue; // a pipe or a file: passed as it is
            }
            let (read, write) = call("pipe2", "O_CLOEXEC", || {
                nix::unistd::pipe2(OFlag::O_CLOEXEC)
            })?;
            if fd == 0 {
                pipes.push((fd, read, write));
            } else {
                pipes.push((fd, write, read));
            }
        }
        Ok(Relay { pipes })
    }

    /// Child side: the pipes take the place of the terminals.
    pub fn install(self) -> Result<(), SyscallError> {
        for (fd, ours, theirs) in self.pipes {
            // The runtime's ends are not ours to hold: a stdin pipe must see
            // end-of-file when the runtime closes its end.
            drop(theirs);
            install(ours.as_fd(), &[fd])?;
        }
        Ok(())
    }

    /// Parent side: copy through the pipes; the threads to wait for at the end.
    pub fn start(self, stdin: bool) -> Vec<JoinHandle<()>> {
        let mut out = Vec::new();
        for (fd, ours, theirs) in self.pipes {
            drop(ours);
            if fd == 0 {
                // Not waited for: it blocks reading our stdin until we exit.
                if let Some(input) = dup_stdin().filter(|_| stdin) {
                    pump(input, theirs);
                }
            } else {
                // SAFETY: fd is 1 or 2, open for the runtime's whole life.
                let host = unsafe { BorrowedFd::borrow_raw(fd) };
                if let Ok(host) = host.try_clone_to_owned() {
                    out.push(pump(theirs, host));
                }
            }
        }
        out
    }
}
// ANCHOR_END: relay

/// A copy of our stdin for a copying thread to own.
pub fn dup_stdin() -> Option<OwnedFd> {
    std::io::stdin().as_fd().try_clone_to_owned().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(tty: bool, interactive: bool) -> TtyOpt {
        TtyOpt { tty, interactive }
    }

    #[test]
    fn no_flag_follows_stdin() {
        let s = resolve(&opt(false, false), true).unwrap();
        assert_eq!(
            s,
            Stdio {
                tty: true,
                stdin: true
            }
        );
        let s = resolve(&opt(false, false), false).unwrap();
        assert_eq!(
            s,
            Stdio {
                tty: false,
                stdin: true
            }
        );
    }

    #[test]
    fn flags_keep_dockers_meaning() {
        assert_eq!(
            resolve(&opt(true, false), false).unwrap(),
            Stdio {
                tty: true,
                stdin: false
            }
        );
        assert_eq!(
            resolve(&opt(false, true), true).unwrap(),
            Stdio {
                tty: false,
                stdin: true
            }
        );
        assert_eq!(
            resolve(&opt(true, true), true).unwrap(),
            Stdio {
                tty: true,
                stdin: true
            }
        );
        assert!(
            resolve(&opt(true, true), false)
                .unwrap_err()
                .contains("not a TTY")
        );
    }
}
