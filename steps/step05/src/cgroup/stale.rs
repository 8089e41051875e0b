//! Cleaning up after runs that could not: a runtime killed with SIGKILL
//! never removes its cgroup. [`sweep_stale`] (before every run) removes
//! the leaves whose runtime is gone; [`reset`] (the workshop's `reset`
//! tool) removes every leaf and the workshop parent, in every hierarchy.

use std::path::{Path, PathBuf};

use super::cgroupfs::{remove_tree, subdirs};
use super::{CgroupError, Mode, PARENT, detect, v1};

/// Removes every leftover leaf under the workshop parent (killing its
/// processes) and the parent itself, in every hierarchy. Touches nothing
/// else. Returns what it removed, leaves before their parent.
pub fn reset(root: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let mode = detect(root)?;
    reset_with_mode(root, mode)
}

/// [`reset`] for a mode already known.
pub fn reset_with_mode(root: &Path, mode: Mode) -> Result<Vec<PathBuf>, CgroupError> {
    let mut removed = Vec::new();
    for parent in parents(root, mode) {
        for leaf in subdirs(&parent) {
            remove_tree(&leaf)?;
            removed.push(leaf);
        }
        remove_tree(&parent)?;
        removed.push(parent);
    }
    Ok(removed)
}

// ANCHOR: sweep
/// Removes the cgroups that runs killed with SIGKILL could not remove
/// themselves. A leaf is named `ws-<PID of its runtime>`: when no process
/// has that PID any more, nobody will ever clean it up but us. A leaf whose
/// PID is alive belongs to a running container (or, after PID reuse, to
/// somebody we cannot be sure about) and is left alone; `reset` removes
/// every leaf regardless. Returns what it removed.
pub fn sweep_stale(root: &Path, mode: Mode) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for parent in parents(root, mode) {
        for leaf in subdirs(&parent) {
            let owner = leaf
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("ws-"))
                .and_then(|pid| pid.parse::<u32>().ok());
            let Some(owner) = owner else { continue };
            if Path::new(&format!("/proc/{owner}")).exists() {
                continue;
            }
            if remove_tree(&leaf).is_ok() {
                removed.push(leaf);
            }
        }
    }
    removed
}
// ANCHOR_END: sweep

/// The workshop's parent directories that exist, one per hierarchy.
fn parents(root: &Path, mode: Mode) -> Vec<PathBuf> {
    let parents: Vec<PathBuf> = match mode {
        Mode::V2 => vec![root.join(PARENT)],
        Mode::Hybrid | Mode::V1 => v1::hierarchies(root)
            .into_iter()
            .map(|h| h.path.join(PARENT))
            .collect(),
    };
    parents.into_iter().filter(|p| p.is_dir()).collect()
}
