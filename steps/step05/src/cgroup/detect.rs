//! Which cgroup interface does this host have? cgroup v2 (one tree, what
//! `mod.rs` teaches), or v1 hierarchies (`v1.rs`), with or without a
//! cgroup2 beside them ("hybrid"). `statfs(2)` on `/sys/fs/cgroup` tells.

use std::fmt;
use std::path::Path;

use nix::sys::statfs::{CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, FsType, TMPFS_MAGIC, statfs};
use workshop::call;
use workshop::sys::Outcome;

use super::{CgroupError, cgroupfs, v1};

/// How the host mounts its cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One cgroup2 filesystem at the root, holding every controller
    /// (systemd's default since 2021; the lab VM).
    V2,
    /// A tmpfs at the root with one v1 hierarchy per controller, plus an
    /// (often controller-less) cgroup2 at `unified/`. The controllers are
    /// used through v1.
    Hybrid,
    /// Only v1 hierarchies under a tmpfs ("legacy").
    V1,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::V2 => "cgroup v2 (unified)",
            Mode::Hybrid => "hybrid (v1 controllers + cgroup2 at unified/)",
            Mode::V1 => "cgroup v1 (legacy)",
        })
    }
}

/// What kind of filesystem `statfs(2)` found at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    /// `CGROUP2_SUPER_MAGIC`
    Cgroup2,
    /// `CGROUP_SUPER_MAGIC`: one v1 hierarchy
    Cgroup1,
    /// `TMPFS_MAGIC`: the directory that v1 hierarchies are mounted in
    Tmpfs,
    /// Anything else, by its magic number
    Other(FsType),
}

impl From<FsType> for FsKind {
    fn from(t: FsType) -> Self {
        match t {
            t if t == CGROUP2_SUPER_MAGIC => FsKind::Cgroup2,
            t if t == CGROUP_SUPER_MAGIC => FsKind::Cgroup1,
            t if t == TMPFS_MAGIC => FsKind::Tmpfs,
            other => FsKind::Other(other),
        }
    }
}

impl Outcome for FsKind {
    fn show(&self) -> String {
        match self {
            FsKind::Cgroup2 => "{f_type=CGROUP2_SUPER_MAGIC}".into(),
            FsKind::Cgroup1 => "{f_type=CGROUP_SUPER_MAGIC}".into(),
            FsKind::Tmpfs => "{f_type=TMPFS_MAGIC}".into(),
            FsKind::Other(magic) => format!("{{f_type={:#x}}}", magic.0),
        }
    }
}

// ANCHOR: detect
/// The mode the filesystem types say: cgroup2 at the root is v2; a tmpfs
/// at the root is v1, hybrid when a cgroup2 sits at `unified/`. `None` if
/// the root is no cgroup filesystem at all.
pub fn mode_from_fs(root: FsKind, unified: Option<FsKind>) -> Option<Mode> {
    match (root, unified) {
        (FsKind::Cgroup2, _) => Some(Mode::V2),
        (FsKind::Tmpfs, Some(FsKind::Cgroup2)) => Some(Mode::Hybrid),
        (FsKind::Tmpfs, _) => Some(Mode::V1),
        _ => None,
    }
}

/// Detects the mode with `statfs(2)` on `root` (and on `root/unified`).
pub fn detect(root: &Path) -> Result<Mode, CgroupError> {
    let fs_kind = |path: &Path| {
        call("statfs", format!("{path:?}"), || {
            statfs(path).map(|s| FsKind::from(s.filesystem_type()))
        })
    };
    let root_kind = fs_kind(root)?;
    let unified = match root_kind {
        // Only a tmpfs root can have a cgroup2 mounted below it.
        FsKind::Tmpfs => fs_kind(&root.join("unified")).ok(),
        _ => None,
    };
    let mode = mode_from_fs(root_kind, unified).ok_or_else(|| CgroupError::NotMounted {
        root: root.to_owned(),
        found: root_kind.show(),
    })?;
    workshop::explain!("cgroup mode: {mode}");
    Ok(mode)
}
// ANCHOR_END: detect

/// The controllers a new child cgroup could use: on v2, what the root lists
/// in `cgroup.controllers`; on v1 and hybrid hosts, what the mounted v1
/// hierarchies carry. `doctor` prints this.
pub fn available_controllers(root: &Path, mode: Mode) -> Result<Vec<String>, CgroupError> {
    match mode {
        Mode::V2 => Ok(cgroupfs::read_list(&root.join("cgroup.controllers"))?),
        Mode::Hybrid | Mode::V1 => {
            let mut all: Vec<String> = v1::hierarchies(root)
                .into_iter()
                .flat_map(|h| h.controllers)
                .collect();
            all.sort();
            all.dedup();
            Ok(all)
        }
    }
}
