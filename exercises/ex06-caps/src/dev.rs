//! # Exercise 6, part 2: `/dev`, locked (the device cgroup and a nodev root)
//!
//! Read first: chapter 6 of the book, `book/src/ch06-caps.md`, "Devices".
//!
//! Docker's set keeps `CAP_MKNOD`, and a container given `CAP_SYS_ADMIN` can
//! mount a tmpfs *with* device nodes allowed: `mknod` there of the host's
//! disk (b 8:0) or kernel log (c 1:11), and it would open. Two locks are
//! yours:
//!
//! - [`restrict`], on the host, right after the container's cgroup is
//!   created and before anything runs in it: Docker's device rules
//!   (`devices::ALLOWED`: mknod of anything; read/write of the harmless
//!   nodes and of the container's own terminals) on the cgroup. The kernel
//!   asks the cgroup on every open and every mknod of a device node.
//!   `cgroup.mode()` says how (`Mode::V2`, `Mode::Hybrid`, `Mode::V1`):
//!   - cgroup v1 (and hybrid): [`restrict_v1`], in the cgroup's directory
//!     of the `devices` hierarchy (`devices::devices_dir`).
//!   - cgroup v2 has no such files: an eBPF program built from the rules
//!     is attached to the cgroup. `devices::restrict_v2(fd, rules)` builds,
//!     loads and attaches it (given); it takes the cgroup directory open
//!     (`devices::open_cgroup_dir`).
//! - [`restrict_v1`]: first `a` into `devices.deny` (nothing at all), then
//!   one line per rule into `devices.allow` (a `Rule` displays as the line
//!   the file takes: `c 1:3 rwm`). Use `devices::write(path, value)`: it
//!   goes through `workshop::call`, so `-x` shows each write.
//! - [`root_nodev`], in the container after the pivot: remount `/` with
//!   `nodev` (`mount(2)` with `MS_BIND | MS_REMOUNT | MS_NODEV`, no source,
//!   no type: only the flags of this mount change), so that a node made
//!   anywhere in the rootfs does not open even where the rules allow it.
//!   step03 already mounts `/dev`, `/dev/shm` and `/run` `nodev`.
//!
//! Done when `cargo test -p ex06` passes; the checks for this part are
//! `defaults::device_cgroup_refuses_kmsg` and
//! `caps::made_devices_cannot_be_opened`.

// Given: what the steps above use.
#[allow(unused_imports)]
use std::os::fd::AsFd;
use std::path::Path;

#[allow(unused_imports)]
use nix::mount::{MsFlags, mount};
#[allow(unused_imports)]
use workshop::{SyscallError, call};

#[allow(unused_imports)]
use crate::cgroup::{Cgroup, Mode};
#[allow(unused_imports)]
use crate::devices::{ALLOWED, Rule, devices_dir, open_cgroup_dir, restrict_v2, write};

/// The container's cgroup allows [`ALLOWED`] and no other device: the v1
/// files or the v2 program, by the host's cgroup mode. The runtime calls it
/// on the host, right after creating the cgroup and before anything runs in it.
// The stub does not use its argument yet; your code will.
#[allow(unused_variables)]
pub fn restrict(cgroup: &Cgroup) -> Result<(), SyscallError> {
    // TODO: v2: the cgroup directory open, restrict_v2 with ALLOWED.

    // TODO: v1 and hybrid: restrict_v1 in the devices hierarchy, with ALLOWED.

    todo!("Docker's device rules on the container's cgroup, v1 or v2")
}

/// cgroup v1: deny everything, then allow the rules, in the container's
/// cgroup of the `devices` hierarchy (`dir`). Written by the runtime on the
/// host before the container starts.
// The stub does not use its arguments yet, and nothing calls it until your
// `restrict` does.
#[allow(unused_variables, dead_code)]
pub fn restrict_v1(dir: &Path, rules: &[Rule]) -> Result<(), SyscallError> {
    // TODO: "a" into devices.deny.

    // TODO: each rule into devices.allow, one write each.

    todo!("devices.deny a, then one devices.allow per rule")
}

/// Remounts the container's `/` `nodev`: a device node the container makes
/// anywhere in the rootfs (`mknod /tmp/disk b 8 0`) cannot be opened.
pub fn root_nodev() -> Result<(), SyscallError> {
    // TODO: mount(NULL, "/", NULL, MS_BIND|MS_REMOUNT|MS_NODEV, NULL).

    todo!("remount / nodev")
}
