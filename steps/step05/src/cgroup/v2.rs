//! cgroup v2, the unified hierarchy: one tree at `/sys/fs/cgroup` in which
//! every cgroup can carry every controller. See
//! [the kernel's cgroup-v2 guide](https://docs.kernel.org/admin-guide/cgroup-v2.html).
//!
//! Two rules shape the code:
//!
//! - A controller reaches a cgroup only if its parent lists it in
//!   `cgroup.subtree_control`, so `+memory +cpu +pids` are enabled on the way
//!   down: in the root, then in the workshop parent.
//! - The no-internal-process rule: a cgroup (other than the root) that
//!   enables controllers for its children may not hold processes itself.
//!   So the workshop parent never has processes; each container's processes
//!   live in its own leaf `<root>/contain-rs-workshop/<id>`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::unistd::Pid;

use super::fs::{mkdir_fresh, mkdir_shared, open_dir, read, read_list, remove_tree, write};
use super::limits::{LimitsOpt, cpu_max};
use super::{Backend, CgroupError, PARENT, missing_controller_hint, parse_oom_kill};

/// The controllers step05 enables, wherever the kernel offers them: one per
/// flag (memory, cpu, pids), also without the flag, so that the cgroup can
/// report an OOM kill and the learner can read its usage files.
const CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

/// One container's cgroup v2: the leaf directory, and an open descriptor of
/// it for `clone3(CLONE_INTO_CGROUP)`.
#[derive(Debug)]
pub(super) struct V2Cgroup {
    leaf: PathBuf,
    fd: Option<OwnedFd>,
    has_memory: bool,
}

impl V2Cgroup {
    /// Enables the controllers on the way down and creates the (empty) leaf.
    pub(super) fn create(root: &Path, id: &str, limits: &LimitsOpt) -> Result<Self, CgroupError> {
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

        // The root cgroup is exempt from the no-internal-process rule, so
        // enabling controllers there is allowed although it has processes.
        enable_controllers(root, &enable)?;
        // Shared by every run, created by whichever comes first, and never
        // given a process: it only passes the controllers down.
        let parent = root.join(PARENT);
        mkdir_shared(&parent)?;
        enable_controllers(&parent, &enable)?;
        // The container's own cgroup: a leaf, where its processes will live.
        let leaf = parent.join(id);
        mkdir_fresh(&leaf)?;
        // ANCHOR_END: v2_create
        let mut cgroup = V2Cgroup {
            leaf,
            fd: None,
            has_memory: enable.contains(&"memory"),
        };
        match open_dir(&cgroup.leaf) {
            Ok(fd) => cgroup.fd = Some(fd),
            Err(err) => {
                let _ = cgroup.remove();
                return Err(err.into());
            }
        }
        Ok(cgroup)
    }
}

/// Writes `+name` to `dir/cgroup.subtree_control` for each controller not
/// yet enabled there. One write per controller, so that an error names it.
fn enable_controllers(dir: &Path, enable: &[&str]) -> Result<(), CgroupError> {
    let file = dir.join("cgroup.subtree_control");
    let enabled = read_list(&file)?;
    for controller in enable {
        if !enabled.iter().any(|c| c == controller) {
            write(&file, &format!("+{controller}"))?;
        }
    }
    Ok(())
}

impl Backend for V2Cgroup {
    // ANCHOR: v2_apply
    fn apply(&mut self, limits: &LimitsOpt) -> Result<(), CgroupError> {
        if let Some(bytes) = limits.memory {
            write(&self.leaf.join("memory.max"), &bytes.to_string())?;
            // Swap is limited separately in v2; left at "max", a command over
            // memory.max would be swapped out instead of killed. The file
            // exists only on kernels with swap accounting.
            let swap = self.leaf.join("memory.swap.max");
            if swap.exists() {
                write(&swap, "0")?;
            }
        }
        if let Some(cpus) = limits.cpus {
            // "$QUOTA $PERIOD": that many µs of CPU time in every period.
            write(&self.leaf.join("cpu.max"), &cpu_max(cpus))?;
        }
        if let Some(pids) = limits.pids {
            write(&self.leaf.join("pids.max"), &pids.to_string())?;
        }
        Ok(())
    }
    // ANCHOR_END: v2_apply

    fn add_task(&self, pid: Pid) -> Result<(), CgroupError> {
        write(&self.leaf.join("cgroup.procs"), &pid.to_string())?;
        Ok(())
    }

    fn oom_kills(&self) -> Result<u64, CgroupError> {
        if !self.has_memory {
            return Ok(0);
        }
        // memory.events counts this cgroup and its descendants:
        // "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n..."
        let file = self.leaf.join("memory.events");
        let text = read(&file)?;
        parse_oom_kill(&file, &text)
    }

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.leaf.clone()]
    }

    fn clone_into_fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(|fd| fd.as_fd())
    }

    fn remove(&mut self) -> Result<(), CgroupError> {
        self.fd = None;
        remove_tree(&self.leaf)?;
        Ok(())
    }
}
