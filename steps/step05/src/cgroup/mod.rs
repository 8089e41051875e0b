//! Control groups: how much of the machine the container may use.
//!
//! Namespaces change what a process can *see*; a control group (cgroup)
//! limits how much it can *use*. A cgroup is a directory in a special
//! filesystem; its files are the knobs: write a number to `memory.max` and
//! every process in the cgroup, with all its children, shares that much
//! memory. See [cgroups(7)](https://man7.org/linux/man-pages/man7/cgroups.7.html)
//! and [the kernel's cgroup-v2 guide](https://docs.kernel.org/admin-guide/cgroup-v2.html).
//!
//! This file is cgroup v2, the one tree at `/sys/fs/cgroup` that the lab VM
//! and every current distribution mount. Each container gets a cgroup of
//! its own, `/sys/fs/cgroup/contain-rs-workshop/<id>`:
//!
//! | step | cgroup v2 |
//! |---|---|
//! | create | `mkdir`, after `+memory +cpu +pids` in the parents' `cgroup.subtree_control` |
//! | `--memory 64m` | `memory.max` = 67108864, `memory.swap.max` = 0 |
//! | `--cpus 0.5` | `cpu.max` = `50000 100000` |
//! | `--pids 10` | `pids.max` = 10 |
//! | join | `clone3(CLONE_INTO_CGROUP)` with a descriptor of the directory, or `cgroup.procs` |
//! | OOM-killed? | `memory.events`: `oom_kill N` |
//! | remove | kill what is left, `rmdir` |
//!
//! Which directories to make and which files to write, v2 and v1, and how
//! the child starts inside, are the chapter's answer: `src/leaf.rs`,
//! re-exported here. The rest of the module is around it: [`limits`](LimitsOpt)
//! parses the flags; `cgroupfs.rs` does the file operations (narrated); older
//! hosts with one tree per controller (cgroup v1, "hybrid") are `v1.rs`, and
//! `detect.rs` tells which a host has; `stale.rs` removes what runs killed
//! with SIGKILL left behind; `namespace.rs` is the container's cgroup
//! namespace. Every path starts at a root passed in (normally
//! [`DEFAULT_ROOT`]), so the tests run against fake trees in temp
//! directories (`fake.rs`, compiled for tests only).

pub mod cgroupfs;
mod detect;
mod error;
mod limits;
mod namespace;
mod stale;
pub mod v1;

#[cfg(test)]
pub mod fake;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::unistd::{Pid, getpid};

use cgroupfs::{open_dir, read, read_list, remove_tree};
pub use detect::{FsKind, Mode, available_controllers, detect, mode_from_fs};
pub use error::CgroupError;
use error::{check_id, missing_controller_hint};
pub use limits::{
    CPU_PERIOD_US, LimitError, LimitsOpt, cpu_max, cpu_quota_us, human_size, oom_message,
    parse_cpus, parse_pids, parse_size,
};
pub use namespace::{enter_namespace, mount_namespaced};
pub use stale::{reset, reset_with_mode, sweep_stale};

pub use crate::leaf::*;

/// Where cgroup filesystems are mounted on every modern distribution.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// The workshop's own parent cgroup (once in v2, in each v1 hierarchy).
/// Shared by all runs; each run adds a leaf named by its id under it.
pub const PARENT: &str = "contain-rs-workshop";

/// The controllers step05 enables, wherever the kernel offers them: one per
/// flag, also without the flag, so that the cgroup can report an OOM kill
/// and the learner can read its usage files.
const CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

/// One container's cgroup.
///
/// Created empty with its limits written; the container joins it before it
/// execs ([`Cgroup::clone_into_fd`] or [`Cgroup::add_task`]); after the
/// container ended, [`Cgroup::oom_kills`] says whether the kernel killed
/// it, and [`Cgroup::remove`] deletes it. If `remove` is never called (an
/// error path), dropping the `Cgroup` removes it, but only in the process
/// that created it: a forked child that drops its copy does nothing.
#[derive(Debug)]
pub struct Cgroup {
    mode: Mode,
    id: String,
    limits: LimitsOpt,
    owner: Pid,
    /// Its directories; `None` once removed.
    dirs: Option<Dirs>,
}

/// Where a container's cgroup lives.
#[derive(Debug)]
enum Dirs {
    /// cgroup v2: the leaf, open for `clone3(CLONE_INTO_CGROUP)`.
    V2 {
        leaf: PathBuf,
        fd: OwnedFd,
        has_memory: bool,
    },
    /// cgroup v1: a leaf in each hierarchy (`v1.rs`).
    V1(v1::V1Cgroup),
}

impl Cgroup {
    /// Detects the mode under `root` and creates the cgroup `id` there with
    /// `limits` written. The id must be unique among running containers
    /// (e.g. `ws-<pid>`); a leftover cgroup of that name is cleaned first.
    pub fn create(root: &Path, id: &str, limits: &LimitsOpt) -> Result<Cgroup, CgroupError> {
        let mode = detect(root)?;
        Cgroup::create_with_mode(root, mode, id, limits)
    }

    /// [`Cgroup::create`] for a mode already known (detected once, or a fake
    /// tree in a test).
    // ANCHOR: create
    pub fn create_with_mode(
        root: &Path,
        mode: Mode,
        id: &str,
        limits: &LimitsOpt,
    ) -> Result<Cgroup, CgroupError> {
        limits.check()?;
        check_id(id)?;
        // Runs killed with SIGKILL could not remove their cgroups: do it now.
        sweep_stale(root, mode);
        let dirs = match mode {
            Mode::V2 => create_v2(root, id, limits)?,
            Mode::Hybrid | Mode::V1 => Dirs::V1(v1::V1Cgroup::create(root, id, limits)?),
        };
        let cgroup = Cgroup {
            mode,
            id: id.to_owned(),
            limits: limits.clone(),
            owner: getpid(),
            dirs: Some(dirs),
        };
        // If a limit is refused, dropping `cgroup` removes the directories.
        match cgroup.dirs() {
            Dirs::V2 { leaf, .. } => write_v2_limits(leaf, limits)?,
            Dirs::V1(v1) => write_v1_limits(v1, limits)?,
        }
        Ok(cgroup)
    }
    // ANCHOR_END: create

    fn dirs(&self) -> &Dirs {
        // Only remove() and drop() take them out, and both end the Cgroup.
        self.dirs
            .as_ref()
            .expect("a Cgroup has its directories until removed")
    }

    /// The mode this cgroup was made for.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The id it was created with (its leaf directory's name).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The limits written.
    pub fn limits(&self) -> &LimitsOpt {
        &self.limits
    }

    /// v2: an `O_RDONLY|O_DIRECTORY|O_CLOEXEC` descriptor of the leaf, for
    /// `clone3`'s `cgroup` field with `CLONE_INTO_CGROUP` (Linux 5.7+): the
    /// child then starts inside the cgroup. v1: `None` (use [`Cgroup::add_task`]).
    pub fn clone_into_fd(&self) -> Option<BorrowedFd<'_>> {
        match self.dirs() {
            Dirs::V2 { fd, .. } => Some(fd.as_fd()),
            Dirs::V1(_) => None,
        }
    }

    // ANCHOR: join
    /// Moves `pid` into the cgroup by writing it to `cgroup.procs` (in every
    /// hierarchy on v1). Its later children start inside too.
    pub fn add_task(&self, pid: Pid) -> Result<(), CgroupError> {
        Ok(join(&self.paths(), pid)?)
    }

    /// How many processes the OOM killer has killed in this cgroup.
    pub fn oom_kills(&self) -> Result<u64, CgroupError> {
        match self.dirs() {
            Dirs::V2 {
                has_memory: false, ..
            } => Ok(0),
            Dirs::V2 { leaf, .. } => {
                // memory.events counts this cgroup and its descendants:
                // "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n..."
                let file = leaf.join("memory.events");
                parse_oom_kill(&file, &read(&file)?)
            }
            Dirs::V1(v1) => v1.oom_kills(),
        }
    }
    // ANCHOR_END: join

    /// The `--memory` limit in bytes, if one was set (for [`oom_message`]).
    pub fn memory_limit(&self) -> Option<u64> {
        self.limits.memory
    }

    /// The cgroup's directories: one on v2, one per hierarchy on v1.
    pub fn paths(&self) -> Vec<PathBuf> {
        match self.dirs() {
            Dirs::V2 { leaf, .. } => vec![leaf.clone()],
            Dirs::V1(v1) => v1.paths(),
        }
    }

    /// Kills whatever is still in the cgroup and removes its directories
    /// (retrying briefly while the kernel releases it). The shared
    /// [`PARENT`] stays.
    pub fn remove(mut self) -> Result<(), CgroupError> {
        self.remove_dirs()
    }

    fn remove_dirs(&mut self) -> Result<(), CgroupError> {
        match self.dirs.take() {
            // The descriptor closes first: nothing holds the leaf open.
            Some(Dirs::V2 { leaf, fd, .. }) => {
                drop(fd);
                Ok(remove_tree(&leaf)?)
            }
            Some(Dirs::V1(mut v1)) => v1.remove(),
            None => Ok(()),
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if getpid() != self.owner {
            return;
        }
        if let Err(err) = self.remove_dirs() {
            eprintln!(
                "{}: warning: could not remove cgroup {}: {err}",
                workshop::explain::program(),
                self.id
            );
        }
    }
}

/// Checks that the root offers every controller a flag needs, then has
/// the leaf made (`create_v2_leaf`, with every one of [`CONTROLLERS`] the
/// root offers enabled on the way down) and opens it for `CLONE_INTO_CGROUP`.
fn create_v2(root: &Path, id: &str, limits: &LimitsOpt) -> Result<Dirs, CgroupError> {
    // ANCHOR: v2_create
    // What the root can hand to its children. A flag whose controller
    // is missing is an error; a controller nobody asked for is skipped.
    let offered_file = root.join("cgroup.controllers");
    let offered = read_list(&offered_file)?;
    for needed in limits.controllers() {
        if !offered.iter().any(|c| c == needed) {
            return Err(CgroupError::MissingController {
                controller: needed.to_owned(),
                file: offered_file,
                hint: missing_controller_hint(needed),
            });
        }
    }
    let enable: Vec<&str> = CONTROLLERS
        .into_iter()
        .filter(|c| offered.iter().any(|o| o == c))
        .collect();
    let leaf = create_v2_leaf(root, id, &enable)?;
    // CLONE_INTO_CGROUP takes the cgroup as a descriptor of its directory.
    let fd = match open_dir(&leaf) {
        Ok(fd) => fd,
        Err(err) => {
            let _ = remove_tree(&leaf);
            return Err(err.into());
        }
    };
    // ANCHOR_END: v2_create
    Ok(Dirs::V2 {
        leaf,
        fd,
        has_memory: enable.contains(&"memory"),
    })
}

/// The count on the `oom_kill N` line of `memory.events` (v2) or
/// `memory.oom_control` (v1). Kernels before 4.13 have no such line: 0.
pub fn parse_oom_kill(file: &Path, text: &str) -> Result<u64, CgroupError> {
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("oom_kill") {
            return words
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| CgroupError::Parse {
                    file: file.to_owned(),
                    content: text.to_owned(),
                });
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests;
