//! `-x/--explain`: print every syscall as it is made.
//!
//! The narration goes to stderr, one line per call:
//!
//! ```text
//! step03 +0.412ms parent  clone3(flags=CLONE_NEWNS|CLONE_NEWPID, exit_signal=SIGCHLD) = 4242
//! step03 +0.530ms init    mount("proc", "/proc", "proc", MS_NOSUID|MS_NODEV|MS_NOEXEC) = 0
//! ```
//!
//! Processes created by `fork`/`clone` inherit a copy of these globals, so the
//! child keeps the parent's clock (CLOCK_MONOTONIC is system-wide) and only has
//! to say who it now is with [`set_role`].

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Instant;

static ENABLED: AtomicBool = AtomicBool::new(false);
static ROLE: AtomicU8 = AtomicU8::new(Role::Parent as u8);
static START: OnceLock<Instant> = OnceLock::new();
static PROGRAM: OnceLock<&'static str> = OnceLock::new();

/// Which process of a run is speaking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// The step binary on the host: creates the container, waits for it, cleans up.
    Parent = 0,
    /// PID 1 inside the container: sets the container up, then reaps and forwards signals.
    Init = 1,
    /// The process that becomes the user's command.
    Command = 2,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Parent => "parent",
            Role::Init => "init",
            Role::Command => "cmd",
        }
    }
}

/// Turns the narration on or off and starts its clock. Call once, first thing in `main`.
pub fn init(program: &'static str, enabled: bool) {
    let _ = PROGRAM.set(program);
    let _ = START.set(Instant::now());
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// Is `--explain` on?
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Says which process is speaking from now on (call right after a fork).
pub fn set_role(role: Role) {
    ROLE.store(role as u8, Ordering::Relaxed);
}

/// The current speaker.
pub fn role() -> Role {
    match ROLE.load(Ordering::Relaxed) {
        1 => Role::Init,
        2 => Role::Command,
        _ => Role::Parent,
    }
}

/// The program name used in messages ("step03").
pub fn program() -> &'static str {
    PROGRAM.get().copied().unwrap_or("workshop")
}

/// Milliseconds since [`init`].
pub fn elapsed_ms() -> f64 {
    START
        .get()
        .map(|s| s.elapsed().as_secs_f64() * 1e3)
        .unwrap_or(0.0)
}

/// Prints one narration line if `--explain` is on.
pub fn say(line: std::fmt::Arguments<'_>) {
    if !enabled() {
        return;
    }
    // One write per line, so that lines of the parent, init and the command
    // interleave whole on a shared stderr.
    let text = format!(
        "{} +{:.3}ms {:<6} {}\n",
        program(),
        elapsed_ms(),
        role().name(),
        line
    );
    write_all_unlocked(2, text.as_bytes());
}

/// Writes `bytes` to file descriptor `fd` with write(2) itself, taking no
/// lock: the narration is also printed by a child forked from a process with
/// other threads (the init a runtime forks, a test's forked child), where a
/// lock another thread held at the fork (std's stderr lock) stays locked.
pub fn write_all_unlocked(fd: std::os::fd::RawFd, mut bytes: &[u8]) {
    // SAFETY: fd 0, 1 and 2 stay open for the life of the process; the
    // borrow lasts for this call only.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(0) => break,
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => break,
        }
    }
}

/// `CLONE_NEWNS|CLONE_NEWPID|...`: the namespace flags of `clone3` and
/// `unshare` as the narration shows them, in the kernel's bit order.
pub fn clone_flags(flags: nix::sched::CloneFlags) -> String {
    use nix::sched::CloneFlags;
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

/// `explain!("mount({:?}, ...)", path)`: a narration line, formatted only when explaining.
#[macro_export]
macro_rules! explain {
    ($($arg:tt)*) => {
        if $crate::explain::enabled() {
            $crate::explain::say(format_args!($($arg)*));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sched::CloneFlags;

    #[test]
    fn clone_flags_are_named_in_the_kernels_order() {
        let flags = CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS;
        assert_eq!(clone_flags(flags), "CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWPID");
        assert_eq!(clone_flags(CloneFlags::empty()), "0");
    }
}
