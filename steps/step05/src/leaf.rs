//! The container's own cgroup, the heart of chapter 5: create it, write
//! its limits, and start the child inside it.
//!
//! Everything around it is given in `cgroup/`: finding the hierarchies
//! (`detect.rs`, `v1::hierarchies`), checking what the kernel offers, the
//! file operations with their narration and error hints (`cgroupfs.rs`),
//! reading the OOM count, and removal. This file only decides which
//! directories to make and which files to write, in which order:
//!
//! | | cgroup v2 | cgroup v1 |
//! |---|---|---|
//! | create | `+memory`, `+cpu`, `+pids` in `cgroup.subtree_control` of the root, then of `contain-rs-workshop`; `mkdir` the leaf | `mkdir` `contain-rs-workshop/<id>` in each hierarchy |
//! | limits | `memory.max`, `memory.swap.max`, `cpu.max`, `pids.max` | `memory.limit_in_bytes`, `memory.memsw.limit_in_bytes`, `cpu.cfs_period_us`, `cpu.cfs_quota_us`, `pids.max` |
//! | start the child inside | `clone3(CLONE_INTO_CGROUP)` with a descriptor of the leaf | its pid to `cgroup.procs` of every leaf, before it is released |
//!
//! `cgroup/mod.rs` and `clone_into_cgroup.rs` re-export it all.

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
pub fn enable_controllers(dir: &Path, controllers: &[&str]) -> Result<(), SyscallError> {
    let file = dir.join("cgroup.subtree_control");
    let enabled = read_list(&file)?;
    for controller in controllers {
        if !enabled.iter().any(|c| c == controller) {
            write(&file, &format!("+{controller}"))?;
        }
    }
    Ok(())
}

/// cgroup v2: creates the container's empty leaf `root/contain-rs-workshop/id`,
/// with `controllers` enabled on the way down, and returns its path.
///
/// A controller reaches a cgroup only if its parent enables it, so the root
/// enables them for the shared parent, which enables them for the leaf.
/// The shared parent (created by whichever run comes first) never holds a
/// process: a cgroup that hands controllers down may not (the
/// no-internal-process rule; the root is exempt).
pub fn create_v2_leaf(
    root: &Path,
    id: &str,
    controllers: &[&str],
) -> Result<PathBuf, SyscallError> {
    enable_controllers(root, controllers)?;
    let parent = root.join(PARENT);
    mkdir_shared(&parent)?;
    enable_controllers(&parent, controllers)?;
    // The leaf gets the files of the controllers its parent enables.
    let leaf = parent.join(id);
    mkdir_fresh(&leaf)?;
    Ok(leaf)
}

/// cgroup v2: writes the limits asked for into the new, still empty leaf.
pub fn write_v2_limits(leaf: &Path, limits: &LimitsOpt) -> Result<(), SyscallError> {
    if let Some(bytes) = limits.memory {
        write(&leaf.join("memory.max"), &bytes.to_string())?;
        // Swap is limited separately in v2; left at "max", a command over
        // memory.max would be swapped out instead of killed. The file
        // exists only on kernels with swap accounting.
        let swap = leaf.join("memory.swap.max");
        if swap.exists() {
            write(&swap, "0")?;
        }
    }
    if let Some(cpus) = limits.cpus {
        // "$QUOTA $PERIOD": that many µs of CPU time in every period.
        write(&leaf.join("cpu.max"), &cpu_max(cpus))?;
    }
    if let Some(pids) = limits.pids {
        write(&leaf.join("pids.max"), &pids.to_string())?;
    }
    Ok(())
}

/// cgroup v1: creates the container's empty leaf in one `hierarchy`,
/// `<hierarchy>/contain-rs-workshop/id`, and returns it, carrying the
/// hierarchy's controllers. v1 has no `subtree_control`: every controller
/// of a hierarchy is active in each of its cgroups.
pub fn create_v1_leaf(hierarchy: &Hierarchy, id: &str) -> Result<Hierarchy, SyscallError> {
    let parent = hierarchy.path.join(PARENT);
    mkdir_shared(&parent)?;
    let leaf = parent.join(id);
    mkdir_fresh(&leaf)?;
    Ok(Hierarchy {
        path: leaf,
        controllers: hierarchy.controllers.clone(),
    })
}

/// cgroup v1: writes the limits asked for, each into the leaf of the
/// hierarchy that carries its controller (`v1.leaf("memory")`).
pub fn write_v1_limits(v1: &V1Cgroup, limits: &LimitsOpt) -> Result<(), CgroupError> {
    if let Some(bytes) = limits.memory {
        let dir = v1.leaf("memory")?;
        write(&dir.join("memory.limit_in_bytes"), &bytes.to_string())?;
        // memory+swap, present on kernels with swap accounting. Set to the
        // same value, so swap adds nothing: over the limit means OOM.
        // It must come second: it may never be below limit_in_bytes.
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        if memsw.exists() {
            write(&memsw, &bytes.to_string())?;
        }
    }
    if let Some(cpus) = limits.cpus {
        // CFS bandwidth: cfs_quota_us of CPU time in every cfs_period_us.
        let dir = v1.leaf("cpu")?;
        write(&dir.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
        write(
            &dir.join("cpu.cfs_quota_us"),
            &cpu_quota_us(cpus).to_string(),
        )?;
    }
    if let Some(pids) = limits.pids {
        write(&v1.leaf("pids")?.join("pids.max"), &pids.to_string())?;
    }
    Ok(())
}

/// Moves `pid` into the cgroup whose directories are `leaves` (one on v2,
/// one per hierarchy on v1, where each tree has its own membership): its
/// pid to each one's `cgroup.procs`. Its later children start inside too.
pub fn join(leaves: &[PathBuf], pid: Pid) -> Result<(), SyscallError> {
    for leaf in leaves {
        write(&leaf.join("cgroup.procs"), &pid.to_string())?;
    }
    Ok(())
}

/// cgroup v2: `clone3` creates the child inside the cgroup whose directory
/// is open as this descriptor: `CLONE_INTO_CGROUP` in the flags, the
/// descriptor in `clone_args.cgroup`. Says so for the narration.
impl CloneExtra for IntoCgroup<'_> {
    fn add_to(&self, args: &mut CloneArgs) -> (&'static str, String) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = self.0.as_raw_fd() as u64;
        (
            "CLONE_INTO_CGROUP",
            format!("cgroup=fd {}", self.0.as_raw_fd()),
        )
    }
}
