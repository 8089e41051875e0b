//! # Exercise 3: a root filesystem of its own (pivot_root)
//!
//! Read first: chapter 3 of the book, `book/src/ch03-mount.md`.
//!
//! The container already has its own mount namespace (`clone3` with
//! `CLONE_NEWNS`), a private copy of the host's mount table: the host's `/`
//! is still its `/`. `cargo run -p ex03 -- ls /` should list the rootfs
//! (Alpine, or the test's busybox tree), and nothing inside may lead back to
//! the host's files. Turning the copy into a container is yours to write, in
//! [`pivot_into`] below. When it is called, the mount table is already
//! private (`make_mounts_private`: nothing you mount travels to the host)
//! and `/dev` is already set up inside the rootfs, while the host's devices
//! were in reach; after it, `/proc` and `/sys` are mounted for you (step03's
//! code).
//!
//! 1. `pivot_root(2)` needs the new root to be a *mount point*. A bind mount
//!    of the directory onto itself makes it one without changing what it
//!    shows: `mount(2)` with `MS_BIND | MS_REC`.
//! 2. `chdir(2)` into it.
//! 3. `pivot_root(".", ".")`: the new root becomes `/`, and the old root is
//!    stacked on top of it, at the same place (read the NOTES of
//!    pivot_root(2): no `put_old` directory needed, so nothing is left in
//!    the rootfs).
//! 4. Detach the old root: `umount2(2)` of `"."` with `MNT_DETACH`. Until
//!    then, the host's whole filesystem is reachable from inside.
//! 5. `chdir("/")`: the command must start in the new `/`.
//!
//! Make every syscall through `workshop::call(name, args, || nix_call)`, so
//! `-x` narrates it and a failure names it (`workshop`'s hint table already
//! knows what `pivot_root: EINVAL` usually means). `nix` has every call:
//! `nix::mount::{mount, umount2}`, `nix::unistd::{chdir, pivot_root}`.
//!
//! Done when `cargo test -p ex03` passes: the same checks as step03 (the
//! rootfs is `/`, the host is unreachable, the host's mount table is
//! unchanged, ...). Stuck? `exercises/hints.toml` has hints, each more
//! specific than the last.

use std::path::Path;

use workshop::SyscallError;

/// Makes `rootfs` the container's `/` and drops every trace of the host's root.
// The stub does not use its argument yet; your code will.
#[allow(unused_variables)]
pub fn pivot_into(rootfs: &Path) -> Result<(), SyscallError> {
    // TODO: 1. bind-mount `rootfs` onto itself (MS_BIND | MS_REC).

    // TODO: 2. chdir into it.

    // Given: with `--no-pivot` (a root pivot_root refuses, such as an
    // initramfs), step03 moves the root and chroots instead.
    if crate::mount::no_pivot() {
        return crate::mount::move_root_and_chroot();
    }

    // TODO: 3. pivot_root(".", ".").

    // TODO: 4. umount2(".", MNT_DETACH): the old root, now on top.

    // TODO: 5. chdir("/").

    todo!("bind mount, chdir, pivot_root, detach the old root, chdir /")
}
