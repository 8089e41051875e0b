//! # Exercise 5: limits (cgroups, v2 and v1)
//!
//! Read first: chapter 5 of the book, `book/src/ch05-cgroups.md`.
//!
//! A cgroup is a directory in a special filesystem; its files are the
//! knobs. This exercise is the container's own cgroup, [`Cgroup`]: step05's
//! runtime (given) creates it before `clone3`, puts the container in it,
//! asks it after the end whether the kernel OOM-killed the command, and
//! removes it. The directories, the helpers and the removal are given; the
//! files are yours. A host has one of two interfaces, and yours must speak
//! both:
//!
//! | flag | cgroup v2 file | cgroup v1 file (hierarchy) |
//! |---|---|---|
//! | `--memory 64m` | `memory.max` = `67108864`, `memory.swap.max` = `0` | `memory.limit_in_bytes`, then `memory.memsw.limit_in_bytes`, both `67108864` (memory) |
//! | `--cpus 0.5` | `cpu.max` = `50000 100000` | `cpu.cfs_period_us` = `100000`, then `cpu.cfs_quota_us` = `50000` (cpu) |
//! | `--pids 10` | `pids.max` = `10` | `pids.max` = `10` (pids) |
//! | join | `cgroup.procs` | `cgroup.procs` in every hierarchy |
//! | OOM kills | `memory.events`, line `oom_kill N` | `memory.oom_control`, line `oom_kill N` |
//!
//! 1. [`v2_files`] and [`v1_files`]: which file gets which value, in the
//!    order to write them (pure functions; step05's `cpu_max`,
//!    `cpu_quota_us` and `CPU_PERIOD_US` do the arithmetic). The swap files
//!    exist only on kernels with swap accounting; the given writer skips
//!    them when they are missing.
//! 2. [`enable_controllers`] (v2 only): a controller reaches a cgroup only if
//!    its parent lists it in `cgroup.subtree_control`. Write the controllers
//!    asked for, in one line (`+memory +cpu +pids`).
//! 3. [`Cgroup::add_task`]: write the pid to `cgroup.procs` of every leaf.
//! 4. [`Cgroup::oom_kills`]: read the file of the table above from the leaf
//!    that holds `memory` and count with step05's `parse_oom_kill`.
//!
//! Write and read through the given [`write`] and [`read`] (step05's own):
//! they go through `workshop::call`, so `-x` shows each file access.
//!
//! Done when `cargo test -p ex05` passes: the unit tests in
//! `src/limits_tests.rs` check your v2 and v1 files on step05's fake cgroup
//! trees (no root needed), and the black-box checks of step05 run on this host's cgroups
//! (an OOM kill is 137 with a message, a fork loop stops at `--pids`, a busy
//! loop holds near `--cpus`, the cgroup is gone after the run). Stuck?
//! `exercises/hints.toml` has hints, each more specific than the last.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::unistd::{Pid, getpid};
use step05::cgroup::cgroupfs::{mkdir_fresh, mkdir_shared, open_dir, remove_tree};
use step05::cgroup::v1::hierarchies;
use step05::cgroup::{CgroupError, LimitsOpt, Mode, PARENT, detect, sweep_stale};
// Given for your code: step05's arithmetic and parser (unused until you use them).
#[allow(unused_imports)]
use step05::cgroup::{CPU_PERIOD_US, cpu_max, cpu_quota_us, parse_oom_kill};
use workshop::SyscallError;

/// Writes `value` to the cgroup file `path` (one `write(2)`), and reads
/// one: step05's own, through `workshop::call` (so `-x` narrates them).
pub use step05::cgroup::cgroupfs::{read, write};

/// The controllers a container's cgroup uses, v2 names (enabled wherever
/// the kernel offers them, also without their flag, so OOM kills are counted).
pub const V2_CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

/// The v1 hierarchies a container's cgroup joins: `cpuacct` accounts CPU
/// time (a hierarchy of its own on some hosts, `cpu,cpuacct` on most).
pub const V1_CONTROLLERS: [&str; 4] = ["memory", "cpu", "cpuacct", "pids"];

/// Files that exist only on kernels with swap accounting.
const OPTIONAL: [&str; 2] = ["memory.swap.max", "memory.memsw.limit_in_bytes"];

/// cgroup v2: `(file, value)` to write into the leaf for `limits`, in order.
// The stub does not use its arguments yet; your code will.
#[allow(unused_variables)]
pub fn v2_files(limits: &LimitsOpt) -> Vec<(&'static str, String)> {
    // TODO: memory.max and memory.swap.max, cpu.max, pids.max: only for the
    // limits given (`limits.memory`, `limits.cpus`, `limits.pids`).
    todo!("the cgroup v2 limit files")
}

/// cgroup v1: `(controller, file, value)` to write into the leaf of the
/// hierarchy that carries `controller`, for `limits`, in order.
// The stub does not use its arguments yet; your code will.
#[allow(unused_variables)]
pub fn v1_files(limits: &LimitsOpt) -> Vec<(&'static str, &'static str, String)> {
    // TODO: memory.limit_in_bytes then memory.memsw.limit_in_bytes (memory),
    // cpu.cfs_period_us then cpu.cfs_quota_us (cpu), pids.max (pids).
    todo!("the cgroup v1 limit files")
}

/// cgroup v2: lets `dir`'s children use `controllers`, by writing them to
/// `dir/cgroup.subtree_control` in one line (`+memory +cpu +pids`).
// The stub does not use its arguments yet; your code will.
#[allow(unused_variables)]
pub fn enable_controllers(dir: &Path, controllers: &[&str]) -> Result<(), SyscallError> {
    // TODO: write "+memory +cpu +pids" (those in `controllers`) to
    // dir/cgroup.subtree_control, with `write`.
    todo!("enable the controllers for the children of {dir:?}")
}

/// One directory of the container's cgroup (`path`) and the controllers it
/// carries (`controllers`, `holds(name)`): step05's v1 `Hierarchy`.
use step05::cgroup::v1::Hierarchy as Leaf;

/// The container's cgroup: one leaf on v2, one per hierarchy on v1.
#[derive(Debug)]
pub struct Cgroup {
    mode: Mode,
    leaves: Vec<Leaf>,
    /// v2: the leaf, open, for `clone3(CLONE_INTO_CGROUP)`.
    fd: Option<OwnedFd>,
    limits: LimitsOpt,
    /// Only the process that created it removes it on drop.
    owner: Pid,
}

impl Cgroup {
    /// Detects the cgroup mode under `root` and creates the cgroup `id`
    /// (`<root>/contain-rs-workshop/<id>`, in every hierarchy on v1) with
    /// `limits` written.
    pub fn create(root: &Path, id: &str, limits: &LimitsOpt) -> Result<Cgroup, CgroupError> {
        let mode = detect(root)?;
        Cgroup::create_with_mode(root, mode, id, limits)
    }

    /// [`Cgroup::create`] for a known mode (a fake tree in a test).
    pub fn create_with_mode(
        root: &Path,
        mode: Mode,
        id: &str,
        limits: &LimitsOpt,
    ) -> Result<Cgroup, CgroupError> {
        limits.check()?;
        // Runs killed with SIGKILL could not remove their cgroups: do it now.
        sweep_stale(root, mode);
        let mut cgroup = Cgroup {
            mode,
            leaves: Vec::new(),
            fd: None,
            limits: limits.clone(),
            owner: getpid(),
        };
        // From here on, an error drops `cgroup`, which removes what exists.
        match mode {
            Mode::V2 => {
                let offered_file = root.join("cgroup.controllers");
                let offered = read(&offered_file)?;
                let offered: Vec<&str> = offered.split_whitespace().collect();
                for needed in limits.controllers() {
                    if !offered.contains(&needed) {
                        return Err(CgroupError::MissingController {
                            controller: needed.to_owned(),
                            file: offered_file,
                            hint: "boot with it enabled, or run in the lab VM; \
                                   `cargo run -p doctor` shows what this host offers"
                                .to_owned(),
                        });
                    }
                }
                let enable: Vec<&str> = V2_CONTROLLERS
                    .into_iter()
                    .filter(|c| offered.contains(c))
                    .collect();
                // The root may enable controllers although it has processes;
                // the workshop parent never gets any (no-internal-process rule).
                enable_controllers(root, &enable)?;
                let parent = root.join(PARENT);
                mkdir_shared(&parent)?;
                enable_controllers(&parent, &enable)?;
                let leaf = parent.join(id);
                mkdir_fresh(&leaf)?;
                cgroup.leaves.push(Leaf {
                    path: leaf.clone(),
                    controllers: enable.iter().map(|c| c.to_string()).collect(),
                });
                cgroup.fd = Some(open_dir(&leaf)?);
            }
            Mode::Hybrid | Mode::V1 => {
                // The mounted hierarchies that carry a controller we use.
                let all: Vec<Leaf> = hierarchies(root)
                    .into_iter()
                    .filter(|h| V1_CONTROLLERS.iter().any(|c| h.holds(c)))
                    .collect();
                for needed in limits.controllers() {
                    if !all.iter().any(|h| h.holds(needed)) {
                        return Err(CgroupError::NoHierarchy {
                            controller: needed.to_owned(),
                            root: root.to_owned(),
                        });
                    }
                }
                for hierarchy in all {
                    let parent = hierarchy.path.join(PARENT);
                    mkdir_shared(&parent)?;
                    let leaf = parent.join(id);
                    mkdir_fresh(&leaf)?;
                    cgroup.leaves.push(Leaf {
                        path: leaf,
                        controllers: hierarchy.controllers,
                    });
                }
            }
        }
        cgroup.write_limits(limits)?;
        Ok(cgroup)
    }

    /// Writes [`v2_files`] or [`v1_files`] into the leaves.
    fn write_limits(&self, limits: &LimitsOpt) -> Result<(), CgroupError> {
        let files: Vec<(PathBuf, String)> = match self.mode {
            Mode::V2 => v2_files(limits)
                .into_iter()
                .map(|(file, value)| (self.leaves[0].path.join(file), value))
                .collect(),
            Mode::Hybrid | Mode::V1 => {
                let mut files = Vec::new();
                for (controller, file, value) in v1_files(limits) {
                    let leaf =
                        self.leaf_with(controller)
                            .ok_or_else(|| CgroupError::NoHierarchy {
                                controller: controller.to_owned(),
                                root: PathBuf::from(step05::cgroup::DEFAULT_ROOT),
                            })?;
                    files.push((leaf.path.join(file), value));
                }
                files
            }
        };
        for (path, value) in files {
            let optional = path
                .file_name()
                .is_some_and(|n| OPTIONAL.iter().any(|o| n == *o));
            if optional && !path.exists() {
                continue;
            }
            write(&path, &value)?;
        }
        Ok(())
    }

    /// The leaf that carries `controller` (v2: the one leaf, if enabled).
    fn leaf_with(&self, controller: &str) -> Option<&Leaf> {
        self.leaves.iter().find(|l| l.holds(controller))
    }

    /// v2: the leaf's descriptor for `clone3(CLONE_INTO_CGROUP)`: the child
    /// is born inside. v1: `None`, the runtime calls [`Cgroup::add_task`].
    pub fn clone_into_fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(|fd| fd.as_fd())
    }

    /// Moves process `pid` into the cgroup (its later children start inside).
    // The stub does not use its argument yet; your code will.
    #[allow(unused_variables)]
    pub fn add_task(&self, pid: Pid) -> Result<(), CgroupError> {
        // TODO: write the pid to cgroup.procs in every leaf (`self.leaves`).
        todo!("move {pid} into the cgroup")
    }

    /// How many processes the kernel's OOM killer has killed in the cgroup.
    pub fn oom_kills(&self) -> Result<u64, CgroupError> {
        // TODO: the leaf with the memory controller (`self.leaf_with("memory")`;
        // none: 0); its memory.events (v2) or memory.oom_control (v1), read
        // with `read` and counted with `parse_oom_kill`.
        todo!("read back the OOM kills")
    }

    /// The `--memory` limit in bytes, if one was set.
    pub fn memory_limit(&self) -> Option<u64> {
        self.limits.memory
    }

    /// Kills whatever is left in the cgroup and removes its leaves (the
    /// shared parent stays).
    pub fn remove(mut self) -> Result<(), CgroupError> {
        self.remove_leaves()
    }

    fn remove_leaves(&mut self) -> Result<(), CgroupError> {
        self.fd = None;
        let mut first_error = None;
        for leaf in std::mem::take(&mut self.leaves) {
            if let Err(err) = remove_tree(&leaf.path) {
                first_error.get_or_insert(err);
            }
        }
        match first_error {
            Some(err) => Err(err.into()),
            None => Ok(()),
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if getpid() != self.owner || self.leaves.is_empty() {
            return;
        }
        if let Err(err) = self.remove_leaves() {
            eprintln!(
                "{}: warning: could not remove the cgroup: {err}",
                workshop::explain::program()
            );
        }
    }
}
