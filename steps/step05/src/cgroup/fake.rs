//! A fake cgroup kernel for tests, without root: step05's unit tests, which
//! exercise 5 runs too (it compiles this module, and `tests.rs`, around
//! the learner's `leaf.rs`). A normal build does not have it.
//!
//! A [`FakeTree`] is a temp directory laid out like `/sys/fs/cgroup`. The
//! code under test does its real mkdir, open, write, read and rmdir calls
//! on it; the hooks in `cgroupfs.rs` let this module add the few things cgroupfs
//! does that plain files do not, and nothing else:
//!
//! - `mkdir` fills a new cgroup with its interface files: on v2 those of the
//!   controllers the parent enables in `cgroup.subtree_control`, on v1 those
//!   of the hierarchy's controllers;
//! - a write to `cgroup.subtree_control` (v2) adds or removes controllers:
//!   ENOENT for one the cgroup's `cgroup.controllers` lacks, EBUSY in a
//!   non-root cgroup that has processes (the no-internal-process rule);
//! - a write to `cgroup.procs` moves the process there (out of any other
//!   cgroup of the hierarchy); a write to `cgroup.kill` SIGKILLs them;
//! - reading `cgroup.procs` lists only processes still alive (not zombies);
//! - `rmdir` ignores interface files, but says EBUSY while processes or
//!   child cgroups remain.
//!
//! Every write is recorded in order, so tests can check the sequence. The
//! only processes a fake tree ever lists are the tests' own children.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Which kernel interface the tree imitates.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// cgroup2 at the root. `swap`: leaves get `memory.swap.max`; `kill`:
    /// leaves get `cgroup.kill` (Linux 5.14+).
    V2 { swap: bool, kill: bool },
    /// v1 hierarchies in subdirectories of the root. `memsw`: memory
    /// cgroups get `memory.memsw.limit_in_bytes` (swap accounting).
    V1 { memsw: bool },
}

type Journal = Rc<RefCell<Vec<(PathBuf, String)>>>;

#[derive(Clone)]
struct Registered {
    root: PathBuf,
    kind: Kind,
    journal: Journal,
    omit: Rc<RefCell<Vec<String>>>,
}

thread_local! {
    // Tests run on several threads; each sees only its own trees.
    static TREES: RefCell<Vec<Registered>> = const { RefCell::new(Vec::new()) };
}

fn find(path: &Path) -> Option<Registered> {
    TREES.with(|t| {
        t.borrow()
            .iter()
            .find(|r| path.starts_with(&r.root))
            .cloned()
    })
}

/// A fake cgroup root in a temp directory; removed when dropped.
pub struct FakeTree {
    _dir: tempfile::TempDir,
    reg: Registered,
}

impl FakeTree {
    fn new(kind: Kind) -> FakeTree {
        let dir = tempfile::tempdir().expect("a temp dir");
        let root = dir.path().join("cgroup");
        std::fs::create_dir(&root).unwrap();
        let reg = Registered {
            root,
            kind,
            journal: Rc::default(),
            omit: Rc::default(),
        };
        TREES.with(|t| t.borrow_mut().push(reg.clone()));
        FakeTree { _dir: dir, reg }
    }

    /// A cgroup v2 root offering `controllers` (`"cpuset cpu io memory pids"`).
    pub fn v2(controllers: &str, swap: bool, kill: bool) -> FakeTree {
        let tree = FakeTree::new(Kind::V2 { swap, kill });
        tree.put("cgroup.controllers", controllers);
        tree.put("cgroup.subtree_control", "");
        tree.put("cgroup.procs", "");
        tree.put("cgroup.max.depth", "max");
        tree
    }

    /// A tmpfs-like root with one mounted v1 hierarchy per name
    /// (`"memory"`, `"cpu,cpuacct"`, `"systemd"`, ...).
    pub fn v1(hierarchies: &[&str], memsw: bool) -> FakeTree {
        let tree = FakeTree::new(Kind::V1 { memsw });
        for name in hierarchies {
            let dir = tree.root().join(name);
            std::fs::create_dir(&dir).unwrap();
            populate(&tree.reg, &dir, true);
        }
        tree
    }

    /// The root to pass to the code under test.
    pub fn root(&self) -> &Path {
        &self.reg.root
    }

    /// Writes a file (creating it) below the root, as the kernel would have.
    pub fn put(&self, rel: &str, content: &str) {
        std::fs::write(self.root().join(rel), content).unwrap();
    }

    /// A file's content, without the trailing newline.
    pub fn get(&self, rel: &str) -> String {
        let text = std::fs::read_to_string(self.root().join(rel))
            .unwrap_or_else(|e| panic!("reading {rel}: {e}"));
        text.trim_end().to_owned()
    }

    /// Does `rel` exist below the root?
    pub fn exists(&self, rel: &str) -> bool {
        self.root().join(rel).exists()
    }

    /// Creates a cgroup below the root as `mkdir` on cgroupfs would.
    pub fn make_cgroup(&self, rel: &str) {
        let dir = self.root().join(rel);
        std::fs::create_dir_all(&dir).unwrap();
        populate(&self.reg, &dir, false);
    }

    /// A symlink `link -> target` in the root (`cpu -> cpu,cpuacct`).
    pub fn symlink(&self, link: &str, target: &str) {
        std::os::unix::fs::symlink(target, self.root().join(link)).unwrap();
    }

    /// From now on, cgroups made by mkdir lack the interface file `name`
    /// (a kernel without that feature).
    pub fn omit(&self, name: &str) {
        self.reg.omit.borrow_mut().push(name.to_owned());
    }

    /// Every write so far, in order: (path relative to the root, value).
    pub fn writes(&self) -> Vec<(String, String)> {
        self.reg
            .journal
            .borrow()
            .iter()
            .map(|(p, v)| {
                let rel = p.strip_prefix(self.root()).unwrap();
                (rel.to_string_lossy().into_owned(), v.clone())
            })
            .collect()
    }

    /// Forgets the writes so far.
    pub fn clear_writes(&self) {
        self.reg.journal.borrow_mut().clear();
    }
}

impl Drop for FakeTree {
    fn drop(&mut self) {
        let root = self.reg.root.clone();
        TREES.with(|t| t.borrow_mut().retain(|r| r.root != root));
    }
}

/// The interface files a new cgroup gets, as (name, initial content).
fn interface_files(reg: &Registered, dir: &Path, is_hierarchy_root: bool) -> Vec<(String, String)> {
    let mut files: Vec<(&str, &str)> = Vec::new();
    let enabled: String;
    match reg.kind {
        Kind::V2 { swap, kill } => {
            let parent = dir.parent().unwrap();
            enabled =
                std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
            files.extend([
                ("cgroup.controllers", enabled.trim()),
                ("cgroup.subtree_control", ""),
                ("cgroup.procs", ""),
                ("cgroup.events", "populated 0\nfrozen 0\n"),
            ]);
            if kill {
                files.push(("cgroup.kill", ""));
            }
            for controller in enabled.split_whitespace() {
                match controller {
                    "memory" => {
                        files.extend([
                            ("memory.max", "max"),
                            ("memory.current", "0"),
                            (
                                "memory.events",
                                "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
                            ),
                        ]);
                        if swap {
                            files.push(("memory.swap.max", "max"));
                        }
                    }
                    "cpu" => files.extend([("cpu.max", "max 100000"), ("cpu.weight", "100")]),
                    "pids" => files.extend([("pids.max", "max"), ("pids.current", "0")]),
                    _ => {}
                }
            }
        }
        Kind::V1 { memsw } => {
            let rel = dir.strip_prefix(&reg.root).unwrap();
            let hierarchy = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            files.extend([
                ("cgroup.procs", ""),
                ("tasks", ""),
                ("notify_on_release", "0"),
            ]);
            for controller in hierarchy.split(',') {
                match controller {
                    "memory" => {
                        files.extend([
                            ("memory.limit_in_bytes", "9223372036854771712"),
                            ("memory.usage_in_bytes", "0"),
                            (
                                "memory.oom_control",
                                "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
                            ),
                        ]);
                        if memsw {
                            files.push(("memory.memsw.limit_in_bytes", "9223372036854771712"));
                        }
                    }
                    "cpu" => files.extend([
                        ("cpu.cfs_period_us", "100000"),
                        ("cpu.cfs_quota_us", "-1"),
                        ("cpu.shares", "1024"),
                    ]),
                    "cpuacct" => files.push(("cpuacct.usage", "0")),
                    // The root of a pids hierarchy has no pids.max.
                    "pids" if !is_hierarchy_root => {
                        files.extend([("pids.max", "max"), ("pids.current", "0")])
                    }
                    _ => {}
                }
            }
        }
    }
    let omit = reg.omit.borrow();
    files
        .into_iter()
        .filter(|(name, _)| !omit.iter().any(|o| o == name))
        .map(|(n, c)| (n.to_owned(), c.to_owned()))
        .collect()
}

fn populate(reg: &Registered, dir: &Path, is_hierarchy_root: bool) {
    for (name, content) in interface_files(reg, dir, is_hierarchy_root) {
        std::fs::write(dir.join(name), content).unwrap();
    }
}

fn alive(pid: Pid) -> bool {
    // /proc/PID/stat: "PID (comm) STATE ..."; a zombie (Z) has exited.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

fn live_procs(dir: &Path) -> Vec<Pid> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .map(Pid::from_raw)
        .filter(|p| alive(*p))
        .collect()
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

fn all_cgroups(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_owned());
    for sub in subdirs(dir) {
        all_cgroups(&sub, out);
    }
}

fn subtree_control(reg: &Registered, dir: &Path, value: &str) -> nix::Result<()> {
    let offered = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let file = dir.join("cgroup.subtree_control");
    let current = std::fs::read_to_string(&file).unwrap_or_default();
    let mut on: Vec<&str> = current.split_whitespace().collect();
    for token in value.split_whitespace() {
        let (enable, name) = match token.split_at(1) {
            ("+", name) => (true, name),
            ("-", name) => (false, name),
            _ => return Err(Errno::EINVAL),
        };
        if !offered.split_whitespace().any(|c| c == name) {
            return Err(Errno::ENOENT);
        }
        if enable && dir != reg.root && !live_procs(dir).is_empty() {
            return Err(Errno::EBUSY);
        }
        if enable {
            on.push(name);
        } else {
            on.retain(|c| *c != name);
        }
    }
    // The kernel lists enabled controllers in its own order.
    let listed: Vec<&str> = offered
        .split_whitespace()
        .filter(|c| on.contains(c))
        .collect();
    std::fs::write(&file, listed.join(" ")).unwrap();
    Ok(())
}

fn join(reg: &Registered, dir: &Path, value: &str) -> nix::Result<()> {
    let pid = Pid::from_raw(value.trim().parse().map_err(|_| Errno::EINVAL)?);
    if !alive(pid) {
        return Err(Errno::ESRCH);
    }
    let hierarchy = match reg.kind {
        Kind::V2 { .. } => {
            let busy =
                std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
            if dir != reg.root && !busy.trim().is_empty() {
                return Err(Errno::EBUSY);
            }
            reg.root.clone()
        }
        Kind::V1 { .. } => {
            let rel = dir.strip_prefix(&reg.root).unwrap();
            reg.root.join(rel.components().next().unwrap())
        }
    };
    let mut cgroups = Vec::new();
    all_cgroups(&hierarchy, &mut cgroups);
    for cgroup in cgroups {
        let procs = cgroup.join("cgroup.procs");
        if let Ok(text) = std::fs::read_to_string(&procs) {
            let kept: Vec<&str> = text.lines().filter(|l| l.trim() != value.trim()).collect();
            let mut kept = kept.join("\n");
            if cgroup == dir {
                if !kept.is_empty() {
                    kept.push('\n');
                }
                kept.push_str(value.trim());
            }
            std::fs::write(&procs, kept).unwrap();
        }
    }
    Ok(())
}

/// Called by `cgroupfs.rs` around the real calls.
#[doc(hidden)]
pub mod hooks {
    use super::*;

    /// A write with cgroupfs meaning; `None`: let the real write happen.
    pub fn write(path: &Path, value: &str) -> Option<nix::Result<()>> {
        let reg = find(path)?;
        reg.journal
            .borrow_mut()
            .push((path.to_owned(), value.to_owned()));
        let dir = path.parent()?;
        let name = path.file_name()?.to_str()?;
        if !path.exists() {
            return None; // the real open says ENOENT
        }
        match (name, reg.kind) {
            ("cgroup.subtree_control", Kind::V2 { .. }) => Some(subtree_control(&reg, dir, value)),
            ("cgroup.procs", _) => Some(join(&reg, dir, value)),
            ("cgroup.kill", _) => {
                for pid in live_procs(dir) {
                    let _ = kill(pid, Signal::SIGKILL);
                }
                Some(Ok(()))
            }
            _ => None,
        }
    }

    /// `cgroup.procs` lists only live processes.
    pub fn read(path: &Path) -> Option<nix::Result<String>> {
        find(path)?;
        if path.file_name()? != "cgroup.procs" || !path.exists() {
            return None;
        }
        let dir = path.parent()?;
        let lines: Vec<String> = live_procs(dir).iter().map(|p| format!("{p}\n")).collect();
        Some(Ok(lines.concat()))
    }

    /// The kernel fills a new cgroup with its interface files.
    pub fn mkdir(path: &Path) {
        if let Some(reg) = find(path) {
            populate(&reg, path, false);
        }
    }

    /// cgroupfs removes a cgroup with its interface files, unless busy.
    pub fn rmdir(path: &Path) -> nix::Result<()> {
        if find(path).is_none() || !path.is_dir() {
            return Ok(());
        }
        if !live_procs(path).is_empty() || !subdirs(path).is_empty() {
            return Err(Errno::EBUSY);
        }
        for entry in std::fs::read_dir(path).unwrap().filter_map(Result::ok) {
            if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
        Ok(())
    }
}
