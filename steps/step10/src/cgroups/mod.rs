//! The container's cgroup: `linux.cgroupsPath` and `linux.resources`.
//!
//! step05 gave each run a cgroup of its own under a fixed name, with three
//! flags (`--memory`, `--cpus`, `--pids`). An OCI runtime takes both from
//! the bundle's `config.json`:
//!
//! - `linux.cgroupsPath` says *where* the cgroup is. Absolute
//!   (`/cgrouptest`): below the cgroup mount point, so
//!   `/sys/fs/cgroup/memory/cgrouptest` on v1 and `/sys/fs/cgroup/cgrouptest`
//!   on v2. Relative (`testdir/container`): like runc, below the cgroup the
//!   runtime itself runs in (its line in `/proc/self/cgroup`). Absent: our
//!   default, `/contain-rs-workshop/<id>`. Missing parents are made, as
//!   `mkdir -p` would, and remembered, so that [`Cgroups::remove`] removes
//!   exactly what [`Cgroups::create`] made and nothing else.
//! - `linux.resources` says *how much*: each field becomes a write to one
//!   kernel file. cgroup v1 (`v1.rs`) has a file per OCI field, in the
//!   hierarchy of its controller (`memory.limit_in_bytes` in `memory/`);
//!   cgroup v2 (`v2.rs`) has other files and units, which runc's
//!   translations map onto (`cpu.shares` 1024 becomes `cpu.weight` 39).
//!
//! Which interface this host has, step05's `detect` tells (`statfs` on
//! `/sys/fs/cgroup`). On v1 and hybrid hosts the hierarchies come from
//! `/proc/self/mountinfo`: each line of type `cgroup` is one hierarchy, its
//! super options list the controllers it carries (`rw,cpu,cpuacct`) or its
//! name (`name=systemd`). A hybrid host's cgroup2 at
//! `/sys/fs/cgroup/unified` carries no controllers and is left alone.
//!
//! Every path starts from a [`Host`], normally [`Host::detect`]ed, so the
//! tests can hand in a fake tree in a temp directory instead.
//!
//! See the runtime spec's
//! [Linux cgroups](https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#control-groups),
//! [cgroups(7)](https://man7.org/linux/man-pages/man7/cgroups.7.html) and
//! the kernel's [cgroup v1](https://docs.kernel.org/admin-guide/cgroup-v1/index.html)
//! and [cgroup v2](https://docs.kernel.org/admin-guide/cgroup-v2.html) guides.

mod fs;
pub mod v1;
pub mod v2;

use std::path::{Component, Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use anyhow::bail;
use nix::errno::Errno;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

pub use step09::cgroup::Mode;
pub use v1::Hierarchy;

/// Where cgroup filesystems are mounted on every current distribution.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The parent of every container's cgroup when `cgroupsPath` is absent.
pub const DEFAULT_PARENT: &str = "/contain-rs-workshop";

/// What this host offers: its cgroup mode, and where each tree is.
#[derive(Debug, Clone)]
pub struct Host {
    /// cgroup v2, or v1 hierarchies (legacy or hybrid).
    pub mode: Mode,
    /// v2: the cgroup2 mount point (`/sys/fs/cgroup`).
    pub v2_root: PathBuf,
    /// v1: every mounted hierarchy.
    pub hierarchies: Vec<Hierarchy>,
    /// The runtime's own cgroup, as `/proc/self/cgroup` lists it: one line
    /// per hierarchy, `4:memory:/user.slice`; v2's line is `0::/user.slice`.
    pub own: String,
}

impl Host {
    /// Detects this host: the mode by `statfs` (step05), the v1 hierarchies
    /// from `/proc/self/mountinfo`, and our own cgroup from `/proc/self/cgroup`.
    pub fn detect() -> anyhow::Result<Host> {
        let root = Path::new(CGROUP_ROOT);
        let mode = step09::cgroup::detect(root)?;
        let hierarchies = match mode {
            Mode::V2 => Vec::new(),
            Mode::V1 | Mode::Hybrid => {
                let mountinfo = fs::read(Path::new("/proc/self/mountinfo"))?;
                v1::hierarchies(&mountinfo)
            }
        };
        let own = fs::read(Path::new("/proc/self/cgroup"))?;
        Ok(Host {
            mode,
            v2_root: root.to_owned(),
            hierarchies,
            own,
        })
    }

    /// The runtime's own cgroup in the hierarchy carrying `controllers`
    /// (empty: the v2 line `0::/path`).
    fn own_cgroup(&self, controllers: &[String]) -> anyhow::Result<PathBuf> {
        for line in self.own.lines() {
            let mut fields = line.splitn(3, ':');
            let (Some(_), Some(names), Some(path)) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let mut names: Vec<&str> = names.split(',').filter(|n| !n.is_empty()).collect();
            let mut wanted: Vec<&str> = controllers.iter().map(String::as_str).collect();
            names.sort_unstable();
            wanted.sort_unstable();
            if names == wanted {
                return Ok(PathBuf::from(path));
            }
        }
        bail!(
            "/proc/self/cgroup has no line for the hierarchy {:?}, so a relative cgroupsPath \
             has nothing to be relative to; use an absolute cgroupsPath",
            controllers.join(",")
        )
    }
}

/// `linux.cgroupsPath`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupsPath {
    /// From the hierarchy's mount point (stored without the leading `/`).
    Absolute(PathBuf),
    /// From the runtime's own cgroup.
    Relative(PathBuf),
}

// ANCHOR: cgroups_path
impl CgroupsPath {
    /// What `linux.cgroupsPath` means, as the runtime spec and runc say:
    /// absolute paths start at the cgroup mount point, relative ones at the
    /// runtime's own cgroup, and none (or an empty one) is our default
    /// `/contain-rs-workshop/<id>`. `..` could climb out of the hierarchy,
    /// so it is refused.
    pub fn parse(cgroups_path: Option<&Path>, id: &str) -> anyhow::Result<CgroupsPath> {
        let given = cgroups_path.filter(|p| !p.as_os_str().is_empty());
        let path = match given {
            Some(path) => path.to_owned(),
            None => {
                if id.is_empty() || id.contains('/') || id == "." || id == ".." {
                    bail!("container id {id:?} cannot name a cgroup directory");
                }
                Path::new(DEFAULT_PARENT).join(id)
            }
        };
        let mut clean = PathBuf::new();
        for component in path.components() {
            match component {
                Component::Normal(name) => clean.push(name),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir | Component::Prefix(_) => bail!(
                    "linux.cgroupsPath {path:?} contains '..': it must stay inside the cgroup \
                     hierarchy; write it without '..'"
                ),
            }
        }
        if clean.as_os_str().is_empty() {
            bail!(
                "linux.cgroupsPath {path:?} names the root cgroup itself; a container needs a \
                 cgroup of its own, such as /contain-rs-workshop/<id>"
            );
        }
        Ok(if path.is_absolute() {
            CgroupsPath::Absolute(clean)
        } else {
            CgroupsPath::Relative(clean)
        })
    }

    /// The container's directory in the tree mounted at `mount`. `mount_root`
    /// is which cgroup of the hierarchy the mount shows (mountinfo's 4th
    /// field, `/` but inside a container), `own` where the runtime is.
    pub fn dir(&self, mount: &Path, mount_root: &Path, own: &Path) -> PathBuf {
        match self {
            CgroupsPath::Absolute(path) => mount.join(path),
            CgroupsPath::Relative(path) => {
                // /proc/self/cgroup is relative to the hierarchy's root;
                // the mount may show only a subtree of it.
                let own = own.strip_prefix(mount_root).unwrap_or(own);
                let own = own.strip_prefix("/").unwrap_or(own);
                mount.join(own).join(path)
            }
        }
    }
}
// ANCHOR_END: cgroups_path

/// The container's cgroup: one directory on cgroup v2, one per hierarchy on v1.
///
/// [`Cgroups::paths`] is what the state keeps: first the container's
/// directories (one per hierarchy; on v2 the one directory, so `paths()[0]`
/// is it), then every directory [`Cgroups::create`] made, deepest first.
/// A directory it made that is also a container directory is thus listed
/// twice, which is how [`Cgroups::from_paths`] knows it may remove it.
#[derive(Debug, Clone)]
pub struct Cgroups {
    paths: Vec<PathBuf>,
    /// The container's directories, which processes join.
    leaves: Vec<PathBuf>,
    /// What create made (and remove may rmdir), deepest first.
    created: Vec<PathBuf>,
}

impl Cgroups {
    /// Creates the cgroup `cgroups_path` names (`None`: the runtime's default
    /// place for container `id`) and writes `resources` into it.
    pub fn create(
        cgroups_path: Option<&Path>,
        id: &str,
        resources: Option<&LinuxResources>,
    ) -> anyhow::Result<Cgroups> {
        let path = CgroupsPath::parse(cgroups_path, id)?;
        let host = Host::detect()?;
        Cgroups::create_on(&host, &path, resources)
    }

    /// [`Cgroups::create`] on a given host (a fake tree in tests).
    pub fn create_on(
        host: &Host,
        path: &CgroupsPath,
        resources: Option<&LinuxResources>,
    ) -> anyhow::Result<Cgroups> {
        let empty = LinuxResources::default();
        let resources = resources.unwrap_or(&empty);
        // Check everything that can be checked before making anything.
        let plan = match host.mode {
            Mode::V2 => Plan::V2(v2::translate(resources)?),
            Mode::V1 | Mode::Hybrid => Plan::V1(v1::translate(resources)?),
        };
        // (directory, the mount point it is under)
        let mut dirs: Vec<(PathBuf, PathBuf)> = Vec::new();
        match &plan {
            Plan::V2(_) => {
                let own = host.own_cgroup(&[])?;
                let dir = path.dir(&host.v2_root, Path::new("/"), &own);
                dirs.push((dir, host.v2_root.clone()));
            }
            Plan::V1(writes) => {
                for write in writes {
                    if !host.hierarchies.iter().any(|h| h.holds(write.controller)) {
                        bail!(
                            "linux.resources needs the cgroup controller '{c}', which no cgroup \
                             v1 hierarchy carries on this host (see /proc/self/mountinfo and \
                             /proc/cgroups); remove that setting from config.json, or mount it: \
                             mount -t cgroup -o {c} cgroup /sys/fs/cgroup/{c}",
                            c = write.controller
                        );
                    }
                }
                if host.hierarchies.is_empty() {
                    bail!(
                        "no cgroup v1 hierarchy is mounted (no line of type cgroup in \
                         /proc/self/mountinfo); mount them, or boot with cgroup v2"
                    );
                }
                for h in &host.hierarchies {
                    let own = if matches!(path, CgroupsPath::Relative(_)) {
                        host.own_cgroup(&h.controllers)?
                    } else {
                        PathBuf::from("/")
                    };
                    dirs.push((path.dir(&h.mount, &h.root, &own), h.mount.clone()));
                }
            }
        }

        let mut cgroups = Cgroups {
            paths: Vec::new(),
            leaves: dirs.iter().map(|(d, _)| d.clone()).collect(),
            created: Vec::new(),
        };
        // If anything fails from here on, what was made is removed again.
        let made = cgroups.make_dirs(&dirs).and_then(|()| match &plan {
            Plan::V1(writes) => v1::apply(host, &cgroups.leaves, &cgroups.created, writes),
            Plan::V2(plan) => v2::apply(&host.v2_root, &cgroups.leaves[0], plan),
        });
        if let Err(err) = made {
            cgroups
                .created
                .sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            if let Err(cleanup) = cgroups.remove() {
                bail!("{err:#}; removing what create made failed too: {cleanup:#}");
            }
            return Err(err);
        }
        cgroups
            .created
            .sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        cgroups.paths = cgroups.leaves.clone();
        cgroups.paths.extend(cgroups.created.iter().cloned());
        Ok(cgroups)
    }

    /// `mkdir -p` of each directory below its mount point, recording what
    /// it made (top-down, in `self.created`).
    fn make_dirs(&mut self, dirs: &[(PathBuf, PathBuf)]) -> anyhow::Result<()> {
        for (dir, mount) in dirs {
            let below = dir.strip_prefix(mount).unwrap_or(dir);
            let mut current = mount.clone();
            for component in below.components() {
                current.push(component);
                if current.is_dir() {
                    continue;
                }
                match fs::mkdir(&current) {
                    Ok(()) => self.created.push(current.clone()),
                    // Made meanwhile by someone else: theirs, not ours.
                    Err(err) if err.errno == Errno::EEXIST => {}
                    Err(err) => return Err(err.into()),
                }
            }
        }
        Ok(())
    }

    /// Moves `pid` into the cgroup (every hierarchy's directory on v1), by
    /// writing it to each directory's `cgroup.procs`: the kernel moves the
    /// whole process (all its threads), and its children start there too.
    pub fn add(&self, pid: Pid) -> anyhow::Result<()> {
        for leaf in &self.leaves {
            let procs = leaf.join("cgroup.procs");
            fs::write(&procs, &pid.to_string()).map_err(|err| match err.errno {
                // v1 cpuset: a cgroup with no CPUs or memory nodes takes nobody.
                Errno::ENOSPC => err.with_hint(format!(
                    "{leaf:?} has an empty cpuset.cpus or cpuset.mems: write the CPUs and \
                     memory nodes it may use there (its parent's, say)"
                )),
                _ => err,
            })?;
        }
        Ok(())
    }

    /// The directories, to keep in the container's state: the container's
    /// directories first (`paths()[0]` on v2 is its one directory), then
    /// what [`Cgroups::create`] made, deepest first.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The container's own directories (one per v1 hierarchy, one on v2).
    pub fn dirs(&self) -> &[PathBuf] {
        &self.leaves
    }

    /// The directories [`Cgroups::create`] made, deepest first.
    pub fn created(&self) -> &[PathBuf] {
        &self.created
    }

    /// The cgroup of a container `create` made earlier, from its
    /// [`Cgroups::paths`]: the container's directories are the entries no
    /// other entry lies below; what create made are the parents listed and
    /// the container directories listed twice.
    pub fn from_paths(paths: Vec<PathBuf>) -> Cgroups {
        let is_parent = |p: &PathBuf| paths.iter().any(|q| q != p && q.starts_with(p));
        let count = |p: &PathBuf| paths.iter().filter(|q| *q == p).count();
        let mut leaves: Vec<PathBuf> = Vec::new();
        let mut created: Vec<PathBuf> = Vec::new();
        for p in &paths {
            if is_parent(p) {
                if !created.contains(p) {
                    created.push(p.clone());
                }
            } else {
                if !leaves.contains(p) {
                    leaves.push(p.clone());
                }
                if count(p) > 1 && !created.contains(p) {
                    created.push(p.clone());
                }
            }
        }
        created.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        Cgroups {
            paths,
            leaves,
            created,
        }
    }

    /// Removes the directories [`Cgroups::create`] made, deepest first
    /// (the container's processes are gone). A cgroup whose last process
    /// just exited can stay busy for a moment, so its rmdir is retried for
    /// about a second on EBUSY. A parent still busy is shared with another
    /// container (made by us, used by both): it stays. Directories create
    /// did not make are never touched.
    pub fn remove(&self) -> anyhow::Result<()> {
        let mut first_error: Option<anyhow::Error> = None;
        for dir in &self.created {
            let is_leaf = self.leaves.contains(dir);
            let delays: &[u64] = if is_leaf {
                &[0, 5, 10, 20, 50, 100, 200, 300, 300]
            } else {
                &[0]
            };
            let mut result = Ok(());
            for &ms in delays {
                sleep(Duration::from_millis(ms));
                result = fs::rmdir(dir);
                match &result {
                    Err(err) if err.errno == Errno::EBUSY => continue,
                    _ => break,
                }
            }
            match result {
                Ok(()) => {}
                Err(err) if err.errno == Errno::ENOENT => {}
                Err(err) if !is_leaf && matches!(err.errno, Errno::EBUSY | Errno::ENOTEMPTY) => {}
                Err(err) => {
                    first_error.get_or_insert_with(|| {
                        anyhow::Error::from(err).context(format!("removing cgroup {dir:?}"))
                    });
                }
            }
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// What to write, checked before anything is made.
enum Plan {
    V1(Vec<v1::Write>),
    V2(v2::Plan),
}

/// Reads one cgroup file, trimmed (for tests and callers that check).
pub fn read_value(path: &Path) -> anyhow::Result<String> {
    Ok(fs::read(path)?.trim().to_owned())
}

#[cfg(test)]
mod tests;
