//! Control groups: how much of the machine the container may use.
//!
//! Namespaces change what a process can *see*; a control group (cgroup)
//! limits how much it can *use*. A cgroup is a directory in a special
//! filesystem; its files are the knobs: write a number to `memory.max` and
//! every process in the cgroup, with all its children, shares that much
//! memory. See [cgroups(7)](https://man7.org/linux/man-pages/man7/cgroups.7.html).
//!
//! This step gives each container a cgroup of its own, writes the limits
//! asked for with `--memory`, `--cpus` and `--pids`, puts the container in
//! it before the command runs (so nothing the command starts escapes),
//! tells after the command ended whether the kernel OOM-killed it, and
//! removes the cgroup.
//!
//! | flag | cgroup v2 file | cgroup v1 file |
//! |---|---|---|
//! | `--memory 64m` | `memory.max` = 67108864, `memory.swap.max` = 0 | `memory.limit_in_bytes`, `memory.memsw.limit_in_bytes` |
//! | `--cpus 0.5` | `cpu.max` = `50000 100000` | `cpu.cfs_quota_us` = 50000, `cpu.cfs_period_us` = 100000 |
//! | `--pids 10` | `pids.max` = 10 | `pids.max` = 10 |
//! | OOM-killed? | `memory.events`: `oom_kill N` | `memory.oom_control`: `oom_kill N` |
//! | join | `clone3(CLONE_INTO_CGROUP)`, or `cgroup.procs` | `cgroup.procs` in each hierarchy |
//!
//! Linux has two versions of the interface. [`detect`] tells which one a
//! host uses, and [`Cgroup`] hides the difference behind one small trait
//! with one implementation per version (`v2.rs`, `v1.rs`). Every path starts
//! at a root directory passed in (normally [`DEFAULT_ROOT`]), so the tests
//! run against fake trees in temp directories.

mod fs;
mod limits;
mod v1;
mod v2;

#[cfg(test)]
mod fake;

use std::fmt;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use nix::sys::statfs::{CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, FsType, TMPFS_MAGIC, statfs};
use nix::unistd::{Pid, getpid};
use workshop::sys::Outcome;
use workshop::{SyscallError, call};

pub use limits::{
    CPU_PERIOD_US, LimitError, LimitsOpt, cpu_max, cpu_quota_us, human_size, oom_message,
    parse_cpus, parse_pids, parse_size,
};

/// Where cgroup filesystems are mounted on every modern distribution.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// The workshop's own parent cgroup (in each v1 hierarchy, or once in v2).
/// Shared by all runs; each run adds a leaf named by its id under it.
pub const PARENT: &str = "contain-rs-workshop";

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
        Mode::V2 => Ok(fs::read_list(&root.join("cgroup.controllers"))?),
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
fn missing_controller_hint(controller: &str) -> String {
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

// ANCHOR: backend
/// What each cgroup version does for one container; `v2::V2Cgroup` and
/// `v1::V1Cgroup` implement it, each constructor creating the (empty)
/// cgroup directories.
trait Backend: fmt::Debug + Send {
    /// Writes the limits into the new, still empty cgroup.
    fn apply(&mut self, limits: &LimitsOpt) -> Result<(), CgroupError>;
    /// Moves process `pid` into the cgroup.
    fn add_task(&self, pid: Pid) -> Result<(), CgroupError>;
    /// How many processes the kernel's OOM killer has killed in it.
    fn oom_kills(&self) -> Result<u64, CgroupError>;
    /// Its directories.
    fn paths(&self) -> Vec<PathBuf>;
    /// A descriptor of its directory for `clone3(CLONE_INTO_CGROUP)` (v2 only).
    fn clone_into_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
    /// Kills what is left in it and removes its directories.
    fn remove(&mut self) -> Result<(), CgroupError>;
}
// ANCHOR_END: backend

/// One container's cgroup, on whichever version the host has.
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
    backend: Option<Box<dyn Backend>>,
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
        let backend: Box<dyn Backend> = match mode {
            Mode::V2 => Box::new(v2::V2Cgroup::create(root, id, limits)?),
            Mode::Hybrid | Mode::V1 => Box::new(v1::V1Cgroup::create(root, id, limits)?),
        };
        let mut cgroup = Cgroup {
            mode,
            id: id.to_owned(),
            limits: limits.clone(),
            owner: getpid(),
            backend: Some(backend),
        };
        // If a limit is refused, dropping `cgroup` removes the directories.
        cgroup.backend_mut().apply(limits)?;
        Ok(cgroup)
    }
    // ANCHOR_END: create

    fn backend(&self) -> &dyn Backend {
        // Only remove() and drop() take it out, and both end the Cgroup.
        self.backend
            .as_deref()
            .expect("a Cgroup has its backend until removed")
    }

    fn backend_mut(&mut self) -> &mut dyn Backend {
        self.backend
            .as_deref_mut()
            .expect("a Cgroup has its backend until removed")
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
        self.backend().clone_into_fd()
    }

    /// Moves `pid` into the cgroup by writing it to `cgroup.procs` (in every
    /// hierarchy on v1). Its later children start inside too.
    pub fn add_task(&self, pid: Pid) -> Result<(), CgroupError> {
        self.backend().add_task(pid)
    }

    /// How many processes the OOM killer has killed in this cgroup.
    pub fn oom_kills(&self) -> Result<u64, CgroupError> {
        self.backend().oom_kills()
    }

    /// The `--memory` limit in bytes, if one was set (for [`oom_message`]).
    pub fn memory_limit(&self) -> Option<u64> {
        self.limits.memory
    }

    /// The cgroup's directories: one on v2, one per hierarchy on v1.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.backend().paths()
    }

    /// Kills whatever is still in the cgroup and removes its directories
    /// (retrying briefly while the kernel releases it). The shared
    /// [`PARENT`] stays.
    pub fn remove(mut self) -> Result<(), CgroupError> {
        match self.backend.take() {
            Some(mut backend) => backend.remove(),
            None => Ok(()),
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if getpid() != self.owner {
            return;
        }
        let Some(mut backend) = self.backend.take() else {
            return;
        };
        if let Err(err) = backend.remove() {
            eprintln!(
                "{}: warning: could not remove cgroup {}: {err}",
                workshop::explain::program(),
                self.id
            );
        }
    }
}

/// An id must be one plain directory name.
fn check_id(id: &str) -> Result<(), CgroupError> {
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
        for leaf in fs::subdirs(&parent) {
            fs::remove_tree(&leaf)?;
            removed.push(leaf);
        }
        fs::remove_tree(&parent)?;
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
        for leaf in fs::subdirs(&parent) {
            let owner = leaf
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("ws-"))
                .and_then(|pid| pid.parse::<u32>().ok());
            let Some(owner) = owner else { continue };
            if Path::new(&format!("/proc/{owner}")).exists() {
                continue;
            }
            if fs::remove_tree(&leaf).is_ok() {
                removed.push(leaf);
            }
        }
    }
    removed
}
// ANCHOR_END: sweep

// ANCHOR: namespace
/// Child side, once the runtime has put it into its cgroup: a cgroup
/// namespace whose root is that cgroup. Inside, `/proc/self/cgroup` then
/// reads `0::/` (v2) or `N:memory:/` (v1) instead of the host's path, which
/// names the runtime's PID (`ws-<pid>`) and the host's own cgroup layout;
/// and a cgroup filesystem mounted inside shows the container's cgroup as
/// its root, not the host's tree. See cgroup_namespaces(7).
///
/// `unshare` here rather than `CLONE_NEWCGROUP` in `clone3`: the namespace's
/// root is the cgroup its creator is in at that moment, and on cgroup v1 the
/// child is only moved into its cgroup after `clone3`.
pub fn enter_namespace() -> Result<(), SyscallError> {
    call("unshare", "CLONE_NEWCGROUP", || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
    })
}

/// Inside, after `/proc` and `/sys` are mounted: on cgroup v2, the
/// container's own cgroup at `/sys/fs/cgroup`, read-only (what `docker run`
/// shows; a program can read its limits, not change them). On v1 and
/// hybrid hosts nothing is mounted there. The host's `/sys/fs/cgroup` is
/// out of reach by now; `/proc/self/cgroup` tells: on a pure v2 host it is
/// the one line `0::/`.
pub fn mount_namespaced() -> Result<(), SyscallError> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    if own.trim() != "0::/" {
        return Ok(());
    }
    let flags = nix::mount::MsFlags::MS_RDONLY
        | nix::mount::MsFlags::MS_NOSUID
        | nix::mount::MsFlags::MS_NODEV
        | nix::mount::MsFlags::MS_NOEXEC;
    call(
        "mount",
        "\"cgroup2\", \"/sys/fs/cgroup\", \"cgroup2\", MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC",
        || {
            nix::mount::mount(
                Some("cgroup2"),
                "/sys/fs/cgroup",
                Some("cgroup2"),
                flags,
                None::<&str>,
            )
        },
    )
}
// ANCHOR_END: namespace

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

#[cfg(test)]
mod tests;
