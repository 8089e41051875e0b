//! Forked children for the exercises' unit tests: a learner's function run
//! in a process of its own (one thread, as setns(2) of a mount namespace
//! and a change of uid need), its result or its panic reported back
//! through a pipe.
//!
//! A forked copy of a multi-threaded test binary has one thread, and every
//! lock another thread held at the fork stays held in it forever. A
//! `todo!()` panicking in the child goes through the panic hook, which
//! takes such locks (the backtrace's, stderr's): when another test thread
//! was printing its own panic at that moment, the child waits forever, and
//! so would the test. So the parent waits a bounded time, then kills the
//! child and says so.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// How long a forked child may take to report.
pub const CHILD_DEADLINE: Duration = Duration::from_secs(30);

/// A panic's message, as `panicked: MESSAGE`.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    format!("panicked: {text}")
}

/// Calls `f`, turning a panic (a `todo!()`) into its message.
pub fn catching<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_text(&*p))
}

/// Runs `f` in a forked child and returns what it returned, or its panic
/// message (a line each, when a process it forks reports too), without
/// the trailing newline. A child silent for [`CHILD_DEADLINE`] is killed,
/// and the text says so.
pub fn in_child(f: impl FnOnce() -> String) -> String {
    let (report_r, report_w) = nix::unistd::pipe().expect("pipe");
    // SAFETY: the child runs `f` (syscalls, allocation: glibc's allocator
    // is safe after fork), writes to a pipe and ends with _exit, so it
    // never returns into the test harness. A lock another thread held at
    // the fork can block it: the parent's deadline covers that.
    match unsafe { nix::unistd::fork() }.expect("fork") {
        nix::unistd::ForkResult::Child => {
            drop(report_r);
            let text = catching(f).unwrap_or_else(|p| p) + "\n";
            let _ = std::fs::File::from(report_w).write_all(text.as_bytes());
            // SAFETY: ends the forked child without the parent's destructors.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(report_w);
            report_of(child, report_r)
        }
    }
}

/// What forked `child` writes into `report` until end of file, without
/// the trailing newline; then the child is waited for. A child silent for
/// [`CHILD_DEADLINE`] is killed, and the text says so.
pub fn report_of(child: nix::unistd::Pid, report: OwnedFd) -> String {
    let text = read_until(report, CHILD_DEADLINE);
    if text.is_none() {
        let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
    }
    let _ = nix::sys::wait::waitpid(child, None);
    match text {
        Some(text) => text.trim_end().to_owned(),
        None => format!(
            "the forked child reported nothing in {} s and was killed: it hung \
             (a panic, such as a todo!(), in a forked copy of the multi-threaded \
             test can wait forever on a lock another test thread held)",
            CHILD_DEADLINE.as_secs()
        ),
    }
}

/// Everything until end of file, or None when `limit` passes first.
fn read_until(fd: OwnedFd, limit: Duration) -> Option<String> {
    let started = Instant::now();
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        let ms = u16::try_from(left.as_millis().min(10_000)).unwrap_or(10_000);
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => return None,
        }
        match file.read(&mut chunk) {
            Ok(0) => return Some(String::from_utf8_lossy(&bytes).into_owned()),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Some(String::from_utf8_lossy(&bytes).into_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_reports_its_result_or_its_panic() {
        assert_eq!(in_child(|| "one\ntwo\n".to_owned()), "one\ntwo");
        let text = in_child(|| -> String { panic!("not yet") });
        assert_eq!(text, "panicked: not yet");
    }

    #[test]
    fn a_silent_child_is_killed_at_the_deadline() {
        let (r, w) = nix::unistd::pipe().unwrap();
        // A writer that never writes nor closes: the read must give up.
        let started = Instant::now();
        assert_eq!(read_until(r, Duration::from_millis(300)), None);
        assert!(started.elapsed() >= Duration::from_millis(300));
        drop(w);
    }
}
