//! # Exercise 1: a hostname of its own (the UTS namespace)
//!
//! Read first: chapter 1 of the book, `book/src/ch01-uts.md`.
//!
//! `cargo run -p ex01 -- --hostname box-1 hostname` should print `box-1`,
//! while `hostname` on the host keeps printing the host's name. As shipped,
//! it stops with "not yet implemented": the two syscalls that make it work
//! are yours to write, in [`enter_new_uts`] below.
//!
//! 1. Move this process into a new UTS namespace: `unshare(2)` with
//!    `CLONE_NEWUTS`. The new namespace starts as a copy of the host's.
//! 2. Set the hostname inside it: `sethostname(2)`.
//!
//! Make every syscall through `workshop::call(name, args, || nix_call)`: with
//! `-x` it prints the call as it is made, and a failure becomes a
//! `SyscallError` that names the call, its arguments and the errno. `nix`
//! has both calls (`nix::sched::unshare`, `nix::unistd::sethostname`).
//!
//! The rest of the runtime (flags, running the command, exit codes) is
//! given: `main.rs` calls your function, then execs the command.
//!
//! Done when `cargo test -p ex01` passes: the same checks as step01, run
//! as root through the workspace's runner. Stuck? `exercises/hints.toml`
//! has hints for this exercise, each more specific than the last.
//!
//! SOLUTION: this is the instructor's copy; the filled gaps are marked
//! `// SOLUTION:`. It is step01's `uts::enter_new_uts`.

use nix::sched::{CloneFlags, unshare};
use workshop::{SyscallError, call};

/// Moves the calling process into a new UTS namespace and names it `hostname`.
pub fn enter_new_uts(hostname: &str) -> Result<(), SyscallError> {
    // SOLUTION: 1. A private copy of the host's names: from now on nothing we
    // change is seen outside, and the host's later changes don't reach us.
    call("unshare", "CLONE_NEWUTS", || {
        unshare(CloneFlags::CLONE_NEWUTS)
    })?;

    // SOLUTION: 2. Needs CAP_SYS_ADMIN in the user namespace that owns this
    // UTS namespace; the kernel refuses names over 64 bytes with EINVAL
    // (the flag parser already refused them, with exit 125).
    call("sethostname", format!("{hostname:?}"), || {
        nix::unistd::sethostname(hostname)
    })
}
