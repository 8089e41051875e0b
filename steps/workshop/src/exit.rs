//! Exit statuses, as `docker run` defines them, so that scripts and the
//! graders can tell the runtime's failures from the command's.
//!
//! | status | meaning |
//! |---|---|
//! | the command's own | it exited normally |
//! | 128 + N | it died of signal N (an OOM kill is 128 + 9 = 137) |
//! | 127 | the command was not found inside the container |
//! | 126 | it was found but could not be executed |
//! | 125 | the runtime itself failed (bad flag, not root, no rootfs, a syscall error) |

use nix::sys::wait::WaitStatus;

/// The runtime failed before or while setting the container up.
pub const RUNTIME_FAILED: i32 = 125;
/// The command exists but could not be executed (EACCES, ENOEXEC).
pub const CANNOT_EXECUTE: i32 = 126;
/// The command does not exist inside the container.
pub const NOT_FOUND: i32 = 127;

/// The shell's convention for a process that ended: its code, or 128 + signal.
/// `None` for a stop or continue report, which is not an end.
pub fn code_of(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(128 + signal as i32),
        _ => None,
    }
}

/// Ends the process the contract's way: `Ok(code)` exits with `code`;
/// an error prints one line (`step03: pivot_root(...) failed: ...`) and exits 125.
pub fn finish(result: anyhow::Result<i32>) -> ! {
    match result {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            // `{:#}` joins the whole chain of causes on one line.
            eprintln!("{}: {:#}", crate::explain::program(), err);
            std::process::exit(RUNTIME_FAILED)
        }
    }
}

/// [`finish`] for a process made by `fork`/`clone3` (the container's init
/// or the command before exec): the same message and codes, but `_exit`, so
/// the copy of the parent's state (buffers, exit handlers) is not run twice.
pub fn child_finish(result: anyhow::Result<i32>) -> ! {
    let code = match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{}: {:#}", crate::explain::program(), err);
            RUNTIME_FAILED
        }
    };
    // SAFETY: _exit ends the process; nothing of ours runs after it.
    unsafe { libc::_exit(code) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn signals_map_to_128_plus_n() {
        let pid = Pid::from_raw(1);
        assert_eq!(code_of(WaitStatus::Exited(pid, 42)), Some(42));
        assert_eq!(
            code_of(WaitStatus::Signaled(pid, Signal::SIGKILL, false)),
            Some(137)
        );
        assert_eq!(
            code_of(WaitStatus::Signaled(pid, Signal::SIGTERM, false)),
            Some(143)
        );
        assert_eq!(code_of(WaitStatus::StillAlive), None);
    }
}
