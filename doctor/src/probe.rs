//! Trying a privileged operation for real, without touching the host: the
//! operation runs in a forked child, which then exits, taking any namespace
//! it created (and every mount made inside one) with it.
//!
//! `fork(2)`: <https://man7.org/linux/man-pages/man2/fork.2.html>. The child
//! sends its one-line verdict back through a `pipe(2)`.

use std::fs::File;
use std::io::{Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, pipe};

/// Runs `probe` in a forked child and returns what it returned: a detail
/// line on success, the error message on failure.
///
/// Call only while the process is single-threaded (`doctor`'s `main` is):
/// after `fork` in a threaded process the child may find a lock held by a
/// thread that does not exist in it.
pub fn in_child(probe: impl FnOnce() -> Result<String, String>) -> Result<String, String> {
    let (read_end, write_end) = pipe().map_err(|e| format!("pipe() failed: {e}"))?;
    // SAFETY: the caller guarantees we are single-threaded, so the child
    // inherits no lock held by another thread; it runs `probe`, writes one
    // message and leaves with `_exit`, never returning into our caller.
    match unsafe { fork() } {
        Err(e) => Err(format!("fork() failed: {e}")),
        Ok(ForkResult::Child) => {
            drop(read_end);
            let verdict = catch_unwind(AssertUnwindSafe(probe))
                .unwrap_or_else(|_| Err("the probe panicked".to_owned()));
            let (code, message) = match verdict {
                Ok(detail) => (0, detail),
                Err(message) => (1, message),
            };
            let _ = File::from(write_end).write_all(message.as_bytes());
            // _exit: the parent's atexit handlers and buffers are not ours to run.
            // SAFETY: ends this (child) process; nothing of ours runs after it.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(write_end);
            let mut message = String::new();
            let _ = File::from(read_end).read_to_string(&mut message);
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => Ok(message),
                Ok(WaitStatus::Exited(..)) => Err(message),
                Ok(WaitStatus::Signaled(_, signal, _)) => {
                    Err(format!("the test process was killed by {signal}"))
                }
                Ok(other) => Err(format!("the test process ended oddly: {other:?}")),
                Err(e) => Err(format!("waitpid({child}) failed: {e}")),
            }
        }
    }
}
