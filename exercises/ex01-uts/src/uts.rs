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

use workshop::SyscallError;

/// Moves the calling process into a new UTS namespace and names it `hostname`.
// The stub does not use its argument yet; your code will.
#[allow(unused_variables)]
pub fn enter_new_uts(hostname: &str) -> Result<(), SyscallError> {
    // TODO: 1. unshare(CLONE_NEWUTS), through workshop::call("unshare", ...).

    // TODO: 2. sethostname(hostname), through workshop::call("sethostname", ...).

    todo!("enter a new UTS namespace, then set its hostname")
}
