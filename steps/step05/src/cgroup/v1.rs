//! cgroup v1: one hierarchy (one mounted tree) per controller, or per group
//! of co-mounted controllers, under `/sys/fs/cgroup/<controller>`. Hosts
//! in "hybrid" mode (older systemd) and "legacy" mode use it. See
//! [the kernel's cgroup v1 docs](https://docs.kernel.org/admin-guide/cgroup-v1/index.html).
//!
//! A container's cgroup is one directory in each hierarchy it needs,
//! `<root>/<controller>/contain-rs-workshop/<id>`, and a process joins by
//! writing its pid to `cgroup.procs` in every one of them. There is no
//! no-internal-process rule and no `subtree_control`: a controller is
//! active in every cgroup of its hierarchy.
//!
//! On a host that `detect.rs` finds to be v1 or hybrid, each step of
//! [`Cgroup`](super::Cgroup) (create, write the limits, join, count OOM
//! kills, remove) hands over to [`V1Cgroup`] here, which finds the
//! hierarchies and leaves the directories and files to `src/leaf.rs`
//! (`create_v1_leaf`, `write_v1_limits`).

use std::path::{Path, PathBuf};

use super::cgroupfs::{read, remove_tree};
use super::{CgroupError, LimitsOpt, create_v1_leaf, parse_oom_kill};

/// The controllers step05 puts the container into: one per flag, plus
/// `cpuacct` (CPU usage accounting, a separate hierarchy on some hosts,
/// co-mounted with `cpu` as `cpu,cpuacct` on most). Without their flag they
/// set no limit but still account, and `memory` reports OOM kills. And
/// `devices`, which sets no limit here: step06 writes the container's device
/// rules into it (cgroup v2 has no such controller; a BPF program does it).
const CONTROLLERS: [&str; 5] = ["memory", "cpu", "cpuacct", "pids", "devices"];

/// Every controller a v1 hierarchy can carry. Named hierarchies (`systemd`)
/// and the cgroup2 mount of a hybrid host (`unified`) carry none of them.
const KNOWN_CONTROLLERS: [&str; 14] = [
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// One mounted v1 hierarchy and the controllers it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted (`/sys/fs/cgroup/cpu,cpuacct`).
    pub path: PathBuf,
    /// Its controllers (`["cpu", "cpuacct"]`).
    pub controllers: Vec<String>,
}

impl Hierarchy {
    /// Does it carry `controller`?
    pub fn holds(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

// ANCHOR: hierarchies
/// The v1 hierarchies mounted under `root`, found by their directory names:
/// a directory named after its controllers (`memory`, `cpu,cpuacct`) that
/// holds a `cgroup.procs` (which only a mounted cgroup filesystem has).
/// Hosts also add symlinks (`cpu -> cpu,cpuacct`); a symlink counts only
/// for controllers no real directory carries, so no hierarchy is used twice.
pub fn hierarchies(root: &Path) -> Vec<Hierarchy> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut entries: Vec<(String, bool)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let is_link = e.file_type().ok()?.is_symlink();
            Some((name, is_link))
        })
        .collect();
    // Real directories first, then symlinks; by name within each.
    entries.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));

    let mut found: Vec<Hierarchy> = Vec::new();
    for (name, is_link) in entries {
        let controllers: Vec<String> = name
            .split(',')
            .filter(|c| KNOWN_CONTROLLERS.contains(c))
            .map(str::to_owned)
            .collect();
        let path = root.join(&name);
        if controllers.is_empty() || !path.join("cgroup.procs").is_file() {
            continue;
        }
        let already = controllers.iter().all(|c| found.iter().any(|h| h.holds(c)));
        if is_link && already {
            continue;
        }
        found.push(Hierarchy { path, controllers });
    }
    found
}
// ANCHOR_END: hierarchies

/// One container's cgroup v1: a leaf in each hierarchy it uses.
#[derive(Debug)]
pub struct V1Cgroup {
    root: PathBuf,
    leaves: Vec<Hierarchy>,
}

impl V1Cgroup {
    /// Creates the (empty) leaf in each hierarchy the container uses.
    pub(super) fn create(root: &Path, id: &str, limits: &LimitsOpt) -> Result<Self, CgroupError> {
        let all = hierarchies(root);
        for needed in limits.controllers() {
            if !all.iter().any(|h| h.holds(needed)) {
                return Err(CgroupError::NoHierarchy {
                    controller: needed.to_owned(),
                    root: root.to_owned(),
                });
            }
        }
        let mut used: Vec<&Hierarchy> = Vec::new();
        for controller in CONTROLLERS {
            if let Some(h) = all.iter().find(|h| h.holds(controller)) {
                // cpu and cpuacct co-mounted: one hierarchy, one leaf.
                if !used.iter().any(|u| u.path == h.path) {
                    used.push(h);
                }
            }
        }
        if used.is_empty() {
            return Err(CgroupError::NoHierarchy {
                controller: CONTROLLERS.join(", "),
                root: root.to_owned(),
            });
        }

        // ANCHOR: v1_create
        let mut cgroup = V1Cgroup {
            root: root.to_owned(),
            leaves: Vec::new(),
        };
        for hierarchy in used {
            match create_v1_leaf(hierarchy, id) {
                Ok(leaf) => cgroup.leaves.push(leaf),
                Err(err) => {
                    // Leaves already made in other hierarchies go too.
                    let _ = cgroup.remove();
                    return Err(err.into());
                }
            }
        }
        // ANCHOR_END: v1_create
        Ok(cgroup)
    }

    /// The leaf in the hierarchy that carries `controller`.
    pub fn leaf(&self, controller: &str) -> Result<&Path, CgroupError> {
        self.leaves
            .iter()
            .find(|l| l.holds(controller))
            .map(|l| l.path.as_path())
            .ok_or_else(|| CgroupError::NoHierarchy {
                controller: controller.to_owned(),
                root: self.root.clone(),
            })
    }

    /// The `oom_kill` count of `memory.oom_control`; 0 without a memory leaf.
    pub(super) fn oom_kills(&self) -> Result<u64, CgroupError> {
        let Some(leaf) = self.leaves.iter().find(|l| l.holds("memory")) else {
            return Ok(0);
        };
        // "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n" (oom_kill: Linux 4.13+)
        let file = leaf.path.join("memory.oom_control");
        let text = read(&file)?;
        parse_oom_kill(&file, &text)
    }

    /// Its leaves, one per hierarchy.
    pub(super) fn paths(&self) -> Vec<PathBuf> {
        self.leaves.iter().map(|l| l.path.clone()).collect()
    }

    /// Kills what is left and removes every leaf.
    pub(super) fn remove(&mut self) -> Result<(), CgroupError> {
        // Try every leaf even if one fails, and report the first failure.
        let mut first_error = None;
        for leaf in self.leaves.drain(..) {
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
