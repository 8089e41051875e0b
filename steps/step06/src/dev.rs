//! `/dev`, locked: which device nodes the container may open.
//!
//! The runtime, on the host, puts Docker's device rules ([`ALLOWED`]) on
//! the container's cgroup before anything runs in it ([`restrict`]): on
//! cgroup v1 as the `devices` controller's files ([`restrict_v1`]), on v2 as
//! the eBPF program `devices` builds and attaches ([`restrict_v2`]). In the
//! container, [`root_nodev`] remounts `/` `nodev`. Everything around them
//! (the rules, the program, the loader, the helpers that find the cgroup's
//! directory) is `devices`'s, which re-exports this module; exercise 6
//! compiles `devices.rs` by path with the learner's `dev.rs` in place of
//! this one.

use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::{MsFlags, mount};
use workshop::{SyscallError, call};

use crate::cgroup::{Cgroup, Mode};
use crate::devices::{ALLOWED, Rule, devices_dir, open_cgroup_dir, restrict_v2, write};

// ANCHOR: restrict
/// The container's cgroup allows [`ALLOWED`] and no other device: the v1
/// files or the v2 program, by the host's cgroup mode. The runtime calls it
/// on the host, right after creating the cgroup and before anything runs in it.
pub fn restrict(cgroup: &Cgroup) -> Result<(), SyscallError> {
    match cgroup.mode() {
        Mode::V2 => {
            let fd = open_cgroup_dir(cgroup)?;
            restrict_v2(fd.as_fd(), &ALLOWED)
        }
        Mode::Hybrid | Mode::V1 => restrict_v1(&devices_dir(cgroup)?, &ALLOWED),
    }
}
// ANCHOR_END: restrict

// ANCHOR: v1
/// cgroup v1: deny everything, then allow the rules, in the container's
/// cgroup of the `devices` hierarchy (`dir`). Written by the runtime on the
/// host before the container starts.
pub fn restrict_v1(dir: &Path, rules: &[Rule]) -> Result<(), SyscallError> {
    write(&dir.join("devices.deny"), "a")?;
    for rule in rules {
        write(&dir.join("devices.allow"), &rule.to_string())?;
    }
    Ok(())
}
// ANCHOR_END: v1

// ANCHOR: root_nodev
/// Remounts the container's `/` `nodev`: a device node the container makes
/// anywhere in the rootfs (`mknod /tmp/disk b 8 0`) cannot be opened. With
/// `/dev`, `/dev/shm` and `/run` already `nodev`, no writable place is left
/// where one could.
pub fn root_nodev() -> Result<(), SyscallError> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NODEV;
    call(
        "mount",
        "NULL, \"/\", NULL, MS_BIND|MS_REMOUNT|MS_NODEV",
        || mount(None::<&str>, "/", None::<&str>, flags, None::<&str>),
    )
}
// ANCHOR_END: root_nodev
