//! The UTS namespace: the hostname (and NIS domain name) a process sees.
//!
//! `uname -n` and `hostname` read the name from the calling process's UTS
//! namespace. A new namespace starts as a copy of the old one, so changing
//! the name inside changes nothing outside. See uts_namespaces(7),
//! unshare(2), sethostname(2).
//!
//! This step adds: `unshare(CLONE_NEWUTS)` for the calling process, then
//! `sethostname`. From step02 on the namespace is created by `clone3` for a
//! child instead, and the child calls [`set_hostname`].

use nix::sched::{CloneFlags, unshare};
use workshop::{SyscallError, call};

// ANCHOR: enter
/// Moves the calling process into a new UTS namespace and names it.
pub fn enter_new_uts(hostname: &str) -> Result<(), SyscallError> {
    // After this call we have a private copy of the host's names: nothing we
    // change can be seen outside, and the host's later changes don't reach us.
    call("unshare", "CLONE_NEWUTS", || {
        unshare(CloneFlags::CLONE_NEWUTS)
    })?;
    set_hostname(hostname)
}
// ANCHOR_END: enter

// ANCHOR: set_hostname
/// Sets the hostname of the UTS namespace we are in.
pub fn set_hostname(hostname: &str) -> Result<(), SyscallError> {
    // Needs CAP_SYS_ADMIN in the user namespace that owns this UTS namespace;
    // the kernel refuses names longer than 64 bytes with EINVAL.
    call("sethostname", format!("{hostname:?}"), || {
        nix::unistd::sethostname(hostname)
    })
}
// ANCHOR_END: set_hostname
