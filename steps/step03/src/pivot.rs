//! pivot_root: the rootfs becomes the container's `/`, and the host's root
//! leaves the container's mount table. See pivot_root(2), mount(2),
//! umount2(2).
//!
//! [`crate::mount`] re-exports [`pivot_into`], and holds the `--no-pivot`
//! fallback it takes.

use std::path::Path;

use nix::mount::{MntFlags, MsFlags, umount2};
use nix::unistd::{chdir, pivot_root};
use workshop::{SyscallError, call};

use crate::mount;

// ANCHOR: pivot
/// Makes `rootfs` the container's `/` and drops every trace of the host's root.
///
/// The mount table must already be private ([`make_mounts_private`](mount::make_mounts_private)):
/// pivot_root refuses to work on shared mounts, and a shared `/` would
/// propagate all of this back to the host.
pub fn pivot_into(rootfs: &Path) -> Result<(), SyscallError> {
    // pivot_root needs new_root to be a mount point. A bind mount of the
    // directory onto itself makes it one without changing what it shows.
    call(
        "mount",
        format!("{rootfs:?}, {rootfs:?}, NULL, MS_BIND|MS_REC"),
        || {
            nix::mount::mount(
                Some(rootfs),
                rootfs,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
        },
    )?;
    call("chdir", format!("{rootfs:?}"), || chdir(rootfs))?;
    if mount::no_pivot() {
        return mount::move_root_and_chroot();
    }

    // pivot_root(".", "."): the classic form needs a `put_old` directory
    // inside the rootfs to park the old root in. Passing "." for both stacks
    // the old root on top of the new one, at the same place. Afterwards our
    // root and our working directory both refer to the new root, but a
    // lookup of "." crosses into what is mounted on top of it: the old root.
    // No directory has to be created in the rootfs, so nothing can be left
    // behind in it, and two containers can share one rootfs. This is what
    // runc and crun do. See the NOTES of pivot_root(2).
    call("pivot_root", "\".\", \".\"", || pivot_root(".", "."))?;

    // Detach the old root, which "." now names. MNT_DETACH unmounts
    // lazily: it leaves our mount table now, with every mount below it
    // (/proc, /sys, ... of the host), and the kernel frees it when the last
    // user lets go. A plain umount would fail with EBUSY, because of those
    // mounts below it.
    call("umount2", "\".\", MNT_DETACH", || {
        umount2(".", MntFlags::MNT_DETACH)
    })?;
    // Now step into the new root, which is what was underneath.
    call("chdir", "\"/\"", || chdir("/"))
}
// ANCHOR_END: pivot
