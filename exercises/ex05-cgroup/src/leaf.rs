//! Exercise 5: the container's own cgroup. Create it, write its limits,
//! and start the child inside it, on cgroup v2 and on cgroup v1.
//!
//! Everything around it is given, step05's own (`steps/step05/src/cgroup/`):
//! finding the hierarchies (`detect.rs`, `v1::hierarchies`), checking that
//! the kernel offers the controllers a flag needs, the file operations with
//! their narration and error hints (`cgroupfs.rs`: `write`, `read_list`,
//! `mkdir_shared`, `mkdir_fresh`), reading the OOM count, and removal. Your
//! functions decide which directories to make and which files to write, in
//! which order:
//!
//! | | cgroup v2 | cgroup v1 |
//! |---|---|---|
//! | create | `+memory`, `+cpu`, `+pids` in `cgroup.subtree_control` of the root, then of `contain-rs-workshop`; `mkdir` the leaf | `mkdir` `contain-rs-workshop/<id>` in each hierarchy |
//! | limits | `memory.max`, `memory.swap.max`, `cpu.max`, `pids.max` | `memory.limit_in_bytes`, `memory.memsw.limit_in_bytes`, `cpu.cfs_period_us`, `cpu.cfs_quota_us`, `pids.max` |
//! | start the child inside | `clone3(CLONE_INTO_CGROUP)` with a descriptor of the leaf | its pid to `cgroup.procs` of every leaf, before it is released |
//!
//! Use the given `write` and `read_list` for every file and the given
//! `mkdir_shared` / `mkdir_fresh` for every directory: they go through
//! `workshop::call`, so `-x` narrates them, and a refused write comes back
//! with the errno and a hint. Test: `cargo test -p ex05 cgroup::` (no root:
//! step05's unit tests, on fake cgroup trees), then `cargo test -p ex05`
//! as root (whole containers on this host's cgroups). Chapter 5 explains;
//! `cargo run -p grader -- hint ex05` hints.

// Until your code uses them all.
#![allow(unused_imports, dead_code)]

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use workshop::SyscallError;

use crate::cgroup::cgroupfs::{mkdir_fresh, mkdir_shared, read_list, write};
use crate::cgroup::v1::{Hierarchy, V1Cgroup};
use crate::cgroup::{CPU_PERIOD_US, CgroupError, LimitsOpt, PARENT, cpu_max, cpu_quota_us};
use crate::clone_into_cgroup::{CLONE_INTO_CGROUP, IntoCgroup};
use crate::pid::{CloneArgs, CloneExtra};

/// cgroup v2: writes `+name` to `dir/cgroup.subtree_control` for each of
/// `controllers` that is not enabled there yet, so that `dir`'s children
/// get it. One write per controller, so that an error names the one the
/// kernel refused; none for one already enabled (systemd enables them at
/// the root), since even a write that changes nothing can be refused.
#[allow(unused_variables)]
pub fn enable_controllers(dir: &Path, controllers: &[&str]) -> Result<(), SyscallError> {
    todo!("enable {controllers:?} for the children of {dir:?}")
}

/// cgroup v2: creates the container's empty leaf `root/contain-rs-workshop/id`,
/// with `controllers` enabled on the way down, and returns its path.
///
/// A controller reaches a cgroup only if its parent enables it, so the root
/// enables them for the shared parent, which enables them for the leaf.
/// The shared parent (created by whichever run comes first) never holds a
/// process: a cgroup that hands controllers down may not (the
/// no-internal-process rule; the root is exempt).
#[allow(unused_variables)]
pub fn create_v2_leaf(
    root: &Path,
    id: &str,
    controllers: &[&str],
) -> Result<PathBuf, SyscallError> {
    todo!("the shared parent and the leaf {id} under {root:?}, controllers enabled")
}

/// cgroup v2: writes the limits asked for into the new, still empty leaf.
/// No flag, no write: a file not written keeps the kernel's default.
#[allow(unused_variables)]
pub fn write_v2_limits(leaf: &Path, limits: &LimitsOpt) -> Result<(), SyscallError> {
    todo!("write {limits} into {leaf:?}")
}

/// cgroup v1: creates the container's empty leaf in one `hierarchy`,
/// `<hierarchy>/contain-rs-workshop/id`, and returns it, carrying the
/// hierarchy's controllers. v1 has no `subtree_control`: every controller
/// of a hierarchy is active in each of its cgroups.
#[allow(unused_variables)]
pub fn create_v1_leaf(hierarchy: &Hierarchy, id: &str) -> Result<Hierarchy, SyscallError> {
    todo!("the leaf {id} in {:?}", hierarchy.path)
}

/// cgroup v1: writes the limits asked for, each into the leaf of the
/// hierarchy that carries its controller (`v1.leaf("memory")`).
#[allow(unused_variables)]
pub fn write_v1_limits(v1: &V1Cgroup, limits: &LimitsOpt) -> Result<(), CgroupError> {
    todo!("write {limits} into the leaf of each controller")
}

/// Moves `pid` into the cgroup whose directories are `leaves` (one on v2,
/// one per hierarchy on v1, where each tree has its own membership): its
/// pid to each one's `cgroup.procs`. Its later children start inside too.
#[allow(unused_variables)]
pub fn join(leaves: &[PathBuf], pid: Pid) -> Result<(), SyscallError> {
    todo!("move {pid} into {leaves:?}")
}

/// cgroup v2: `clone3` creates the child inside the cgroup whose directory
/// is open as this descriptor: `CLONE_INTO_CGROUP` in the flags, the
/// descriptor in `clone_args.cgroup`. Says so for the narration: the flag's
/// name, and `cgroup=fd N`.
impl CloneExtra for IntoCgroup<'_> {
    #[allow(unused_variables)]
    fn add_to(&self, args: &mut CloneArgs) -> (&'static str, String) {
        todo!("CLONE_INTO_CGROUP with fd {}", self.0.as_raw_fd())
    }
}
