//! The one door every syscall of the workshop goes through.
//!
//! ```ignore
//! let pid = call("clone3", format!("flags={flags}"), || clone3(&args))?;
//! ```
//!
//! does three things: with `--explain` it prints `clone3(flags=...) = 4242`;
//! on failure it returns a [`SyscallError`] naming the call, its arguments
//! and the errno; and it adds a hint when the workshop knows what a learner
//! can do about that errno from that call (the table in [`hint`], which the
//! book's troubleshooting chapter is written from).

use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::unistd::Pid;

/// A failed syscall: what was called, with what, and what the kernel said.
#[derive(Debug, thiserror::Error)]
pub struct SyscallError {
    /// The syscall's name as its man page spells it (`pivot_root`).
    pub call: &'static str,
    /// Its arguments, already formatted.
    pub args: String,
    /// The errno the kernel returned.
    pub errno: Errno,
    /// What the learner can do about it, when we know.
    pub hint: Option<String>,
}

impl SyscallError {
    /// Replaces the generic hint with one that knows the situation better.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for SyscallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}({}) failed: {:?} ({})",
            self.call,
            self.args,
            self.errno,
            self.errno.desc()
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

/// How a successful result is shown in the narration (`= 0`, `= 4242`, `= fd 5`).
pub trait Outcome {
    /// The text after `=`.
    fn show(&self) -> String;
}

impl Outcome for () {
    fn show(&self) -> String {
        "0".into()
    }
}
impl Outcome for i32 {
    fn show(&self) -> String {
        self.to_string()
    }
}
impl Outcome for i64 {
    fn show(&self) -> String {
        self.to_string()
    }
}
impl Outcome for usize {
    fn show(&self) -> String {
        self.to_string()
    }
}
impl Outcome for Pid {
    fn show(&self) -> String {
        self.as_raw().to_string()
    }
}
impl Outcome for OwnedFd {
    fn show(&self) -> String {
        format!("fd {}", self.as_raw_fd())
    }
}
impl Outcome for (OwnedFd, OwnedFd) {
    fn show(&self) -> String {
        format!("[fd {}, fd {}]", self.0.as_raw_fd(), self.1.as_raw_fd())
    }
}
impl Outcome for std::ffi::OsString {
    fn show(&self) -> String {
        format!("{self:?}")
    }
}
impl Outcome for nix::sys::signal::Signal {
    fn show(&self) -> String {
        self.as_str().into()
    }
}
impl Outcome for nix::sys::wait::WaitStatus {
    fn show(&self) -> String {
        use nix::sys::wait::WaitStatus::*;
        match self {
            Exited(pid, code) => format!("{pid} (exited {code})"),
            Signaled(pid, sig, _) => format!("{pid} (killed by {sig})"),
            StillAlive => "0 (none ended)".into(),
            other => format!("{other:?}"),
        }
    }
}
impl<T: Outcome> Outcome for Option<T> {
    fn show(&self) -> String {
        match self {
            Some(v) => v.show(),
            None => "0".into(),
        }
    }
}

/// Makes the syscall `f`, narrates it, and names it in the error if it fails.
pub fn call<T: Outcome>(
    name: &'static str,
    args: impl Into<String>,
    f: impl FnOnce() -> nix::Result<T>,
) -> Result<T, SyscallError> {
    let args = args.into();
    match f() {
        Ok(v) => {
            crate::explain!("{name}({args}) = {}", v.show());
            Ok(v)
        }
        Err(errno) => {
            crate::explain!("{name}({args}) = -1 {errno}");
            Err(SyscallError {
                call: name,
                hint: hint(name, errno).map(str::to_owned),
                args,
                errno,
            })
        }
    }
}

/// The errno inside an I/O error from `std` (`std::fs::write` and the
/// like), for [`call`]: `EIO` when the error did not come from the kernel.
pub fn io_errno(err: std::io::Error) -> Errno {
    Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO))
}

/// What a learner can do when `call` fails with `errno`: the workshop's
/// troubleshooting table. `None` where the errno says it all.
// ANCHOR: hints
pub fn hint(call: &str, errno: Errno) -> Option<&'static str> {
    use Errno::*;
    Some(match (call, errno) {
        ("unshare" | "clone3", EPERM) => {
            "creating namespaces needs root (CAP_SYS_ADMIN): run it with sudo -E, \
             or inside the lab VM; on Ubuntu see `cargo run -p doctor`"
        }
        ("unshare" | "clone3", EINVAL) => {
            "this kernel lacks one of the namespace types asked for: `cargo run -p doctor` says which"
        }
        ("unshare" | "clone3", ENOSPC) => {
            "the per-user namespace limit is reached: see /proc/sys/user/max_*_namespaces"
        }
        ("clone3", ENOSYS) => {
            "clone3 needs Linux 5.3 or later (CLONE_INTO_CGROUP 5.7): use the lab VM"
        }
        ("clone3", EBUSY) => {
            "CLONE_INTO_CGROUP into a cgroup that has children or is not a leaf (the no-internal-process rule)"
        }
        ("sethostname", EINVAL) => "a hostname is at most 64 bytes (HOST_NAME_MAX)",
        ("sethostname", EPERM) => {
            "changing the hostname needs CAP_SYS_ADMIN: run as root; in step06 the capability is dropped on purpose"
        }
        ("pivot_root", EINVAL) => {
            "the usual causes: new_root is not a mount point (bind-mount it onto itself first), \
             / or new_root has shared propagation (mount(NULL, \"/\", MS_REC|MS_PRIVATE) first), \
             put_old is not at or under new_root, or / is the initial ramfs (a machine booted \
             from an initramfs that never switched root: it has no parent mount to move; \
             run with --no-pivot, which uses MS_MOVE and chroot instead)"
        }
        ("pivot_root", EBUSY) => {
            "new_root or put_old is the current root, or put_old already has a mount on it"
        }
        ("pivot_root", ENOTDIR) => "new_root and put_old must be directories",
        ("mount", EPERM) => {
            "mounting needs CAP_SYS_ADMIN in the mount namespace's owner: run as root \
             (in step06 the command has dropped it on purpose)"
        }
        ("mount", ENOENT) => {
            "the mount point does not exist: the runtime makes missing ones inside the rootfs, so look for a symlink there that leads to a missing place"
        }
        ("mount", ENODEV) => "the kernel does not know this filesystem type: see /proc/filesystems",
        ("mount", EBUSY) => "something is already mounted there, or the mount is in use",
        ("umount2", EINVAL) => "the path is not a mount point",
        ("mknod", EPERM) => "creating device nodes needs CAP_MKNOD",
        ("setns", EPERM) => "joining a namespace needs CAP_SYS_ADMIN",
        ("prctl", EINVAL) => {
            "this kernel does not know that prctl option: use a newer kernel (the lab VM)"
        }
        _ => return None,
    })
}
// ANCHOR_END: hints

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_call_args_errno_and_hint() {
        let err = call("pivot_root", "\".\", \".\"", || Err::<(), _>(Errno::EINVAL)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("pivot_root(\".\", \".\") failed: EINVAL (Invalid argument); hint: ")
        );
        assert!(text.contains("bind-mount it onto itself"));
        assert!(text.contains("initial ramfs") && text.contains("--no-pivot"));
        assert!(!text.contains('\n'), "errors are one line: {text}");
    }

    #[test]
    fn io_errors_keep_their_errno() {
        let err = std::fs::read("/no/such/file/anywhere").unwrap_err();
        assert_eq!(io_errno(err), Errno::ENOENT);
        let made_up = std::io::Error::other("not from the kernel");
        assert_eq!(io_errno(made_up), Errno::EIO);
    }

    #[test]
    fn unknown_errno_has_no_hint() {
        let err = call("getpid", "", || Err::<(), _>(Errno::EIO)).unwrap_err();
        assert_eq!(err.to_string(), "getpid() failed: EIO (I/O error)");
    }
}
