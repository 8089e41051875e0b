//! What can go wrong with cgroups, each error naming the file or call and,
//! where the learner can act, what to do; and the check of a cgroup id.

use std::path::PathBuf;

use workshop::SyscallError;

use super::LimitError;

/// What can go wrong with cgroups, each naming the file or call and, where
/// the learner can act, what to do.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A file operation or syscall failed (names the file, value, errno, hint).
    #[error(transparent)]
    Syscall(#[from] SyscallError),
    /// A bad limit value.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The root is not a cgroup filesystem (nor a tmpfs of v1 hierarchies).
    #[error(
        "no cgroup filesystem at {root:?} (statfs found {found}); mount one: \
         `mount -t cgroup2 none {root:?}`, or run in the lab VM"
    )]
    NotMounted {
        /// The root looked at.
        root: PathBuf,
        /// What statfs found there.
        found: String,
    },
    /// cgroup v2: a controller a flag needs is not offered.
    #[error("controller '{controller}' is not available in {file:?}; {hint}")]
    MissingController {
        /// `memory`, `cpu` or `pids`.
        controller: String,
        /// The `cgroup.controllers` file that lacks it.
        file: PathBuf,
        /// What to do about it.
        hint: String,
    },
    /// cgroup v1: no hierarchy carries a controller a flag needs.
    #[error(
        "controller '{controller}' has no cgroup v1 hierarchy under {root:?} \
         (no directory named after it with a cgroup.procs inside); mount it with \
         `mount -t cgroup -o {controller} cgroup {root:?}/{controller}`, or see /proc/cgroups \
         (enabled 0: boot with cgroup_enable={controller})"
    )]
    NoHierarchy {
        /// The controller.
        controller: String,
        /// The root looked under.
        root: PathBuf,
    },
    /// A cgroup file did not say what the kernel documents.
    #[error("cannot read {file:?}: unexpected contents {content:?}")]
    Parse {
        /// The file.
        file: PathBuf,
        /// What it held.
        content: String,
    },
    /// The id cannot be a directory name.
    #[error("{id:?} cannot name a cgroup: {why}")]
    BadId {
        /// The id given.
        id: String,
        /// Why not.
        why: &'static str,
    },
}

/// What to do when the kernel does not offer `controller` (cgroup v2).
pub(super) fn missing_controller_hint(controller: &str) -> String {
    let why = match controller {
        "memory" => {
            "the kernel has it switched off: boot with cgroup_enable=memory \
             (Raspberry Pi OS and some ARM boards need it)"
        }
        "cpu" => "the kernel lacks CONFIG_CFS_BANDWIDTH",
        "pids" => "the kernel lacks CONFIG_CGROUP_PIDS",
        _ => "the kernel lacks it",
    };
    format!(
        "{why}, or a cgroup v1 hierarchy holds it (see /proc/cgroups and /proc/mounts); \
         `cargo run -p doctor` shows what this host offers"
    )
}

/// An id must be one plain directory name.
pub(super) fn check_id(id: &str) -> Result<(), CgroupError> {
    let why = if id.is_empty() {
        "it is empty"
    } else if id == "." || id == ".." {
        "it is . or .."
    } else if id.contains('/') {
        "it contains a /"
    } else if id.contains('\0') {
        "it contains a NUL byte"
    } else if id.len() > 255 {
        "it is longer than 255 bytes"
    } else {
        return Ok(());
    };
    Err(CgroupError::BadId {
        id: id.to_owned(),
        why,
    })
}
