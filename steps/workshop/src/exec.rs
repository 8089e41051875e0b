//! The last thing every container does: become the user's command.

use std::ffi::CString;

use nix::errno::Errno;
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, sigaction, sigprocmask,
};
use nix::unistd::execvp;

use crate::exit::{CANNOT_EXECUTE, NOT_FOUND};
use crate::explain;

/// `close_range(2)` flag: mark the descriptors close-on-exec instead of closing them now.
const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// Leaves the process in the state a freshly started program expects, then
/// `execvp`s `argv`. Never returns: on failure it prints one line and exits
/// 127 (not found) or 126 (not executable), the shell's and Docker's codes.
// ANCHOR: exec_command
pub fn exec_command(argv: &[String]) -> ! {
    // Only stdin, stdout and stderr may reach the command. The runtime opens
    // everything close-on-exec, but a descriptor inherited from whoever
    // started us (a leaked pipe, a directory fd) would otherwise cross into
    // the container: CVE-2024-21626 in runc was exactly such a leaked fd to
    // a host directory. close_range(3, ~0, CLOSE_RANGE_CLOEXEC) fixes them all.
    let _ = crate::call("close_range", "3, ~0U, CLOSE_RANGE_CLOEXEC", || {
        // SAFETY: close_range takes plain integers and touches only our fd table.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3,
                libc::c_uint::MAX,
                CLOSE_RANGE_CLOEXEC,
            )
        };
        Errno::result(rc).map(drop)
    });

    // Signal masks and ignored signals survive execve. The runtime blocks
    // signals to wait for them; Rust's start-up code ignores SIGPIPE; and a
    // runtime started in the background by a shell (`step06 ... &`) has
    // SIGINT and SIGQUIT ignored. The command must start with none of that,
    // or `yes | head` never ends and a forwarded Ctrl-C does nothing.
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for signal in Signal::iterator().filter(|s| !matches!(s, Signal::SIGKILL | Signal::SIGSTOP)) {
        // SAFETY: installing SIG_DFL runs no handler code of ours.
        let _ = unsafe { sigaction(signal, &default) };
    }
    crate::explain!("sigprocmask(SIG_SETMASK, {{}}) + sigaction(every signal, SIG_DFL) = 0");

    let args: Vec<CString> = match argv.iter().map(|a| CString::new(a.as_bytes())).collect() {
        Ok(args) => args,
        Err(_) => fail(CANNOT_EXECUTE, "an argument contains a NUL byte"),
    };
    // A successful execve never returns, so the narration comes first.
    crate::explain!("execvp({:?}, {:?})", argv[0], argv);
    let Err(errno) = execvp(&args[0], &args);
    crate::explain!("execvp = -1 {errno}");
    match errno {
        Errno::ENOENT => fail(
            NOT_FOUND,
            &format!("{}: command not found in the container", argv[0]),
        ),
        e => fail(CANNOT_EXECUTE, &format!("{}: cannot execute: {e}", argv[0])),
    }
}
// ANCHOR_END: exec_command

fn fail(code: i32, message: &str) -> ! {
    eprintln!("{}: {message}", explain::program());
    // _exit: this process is a fork of the runtime; running the parent's
    // exit handlers or flushing its buffers a second time would be wrong.
    // SAFETY: _exit ends the process; nothing of ours runs after it.
    unsafe { libc::_exit(code) }
}
