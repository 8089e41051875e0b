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
//!
//! SOLUTION: this is the instructor's copy; the filled gaps are marked
//! `// SOLUTION:`. It is step03's `pivot::pivot_into`.

use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::unistd::{chdir, pivot_root};
use workshop::{SyscallError, call};

/// Makes `rootfs` the container's `/` and drops every trace of the host's root.
pub fn pivot_into(rootfs: &Path) -> Result<(), SyscallError> {
    // SOLUTION: 1. pivot_root needs new_root to be a mount point; a bind
    // mount of the directory onto itself makes it one.
    call(
        "mount",
        format!("{rootfs:?}, {rootfs:?}, NULL, MS_BIND|MS_REC"),
        || {
            mount(
                Some(rootfs),
                rootfs,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
        },
    )?;
    // SOLUTION: 2.
    call("chdir", format!("{rootfs:?}"), || chdir(rootfs))?;

    // Given: with `--no-pivot` (a root pivot_root refuses, such as an
    // initramfs), step03 moves the root and chroots instead.
    if crate::mount::no_pivot() {
        return crate::mount::move_root_and_chroot();
    }

    // SOLUTION: 3. "." for both: the old root is stacked on the new one, at
    // the same place, so no put_old directory is needed in the rootfs.
    call("pivot_root", "\".\", \".\"", || pivot_root(".", "."))?;

    // SOLUTION: 4. A lookup of "." now finds the old root, on top: detach
    // it. MNT_DETACH takes it out with every mount below it (a plain
    // umount would fail with EBUSY because of them).
    call("umount2", "\".\", MNT_DETACH", || {
        umount2(".", MntFlags::MNT_DETACH)
    })?;

    // SOLUTION: 5. Step into the new root, which is what was underneath.
    call("chdir", "\"/\"", || chdir("/"))
}
