//! Looking at the host from outside the container: its mount table, its
//! links, the workshop's cgroups, its processes. Checks take a snapshot
//! before a run and compare after it.

use std::collections::BTreeSet;
use std::path::PathBuf;

/// The host's mount table: one entry per mount, as (mount point, fs type,
/// source), without the ids the kernel may renumber.
pub fn mounts() -> BTreeSet<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields
                .iter()
                .position(|f| *f == "-")
                .unwrap_or(fields.len());
            let point = fields.get(4).copied().unwrap_or("");
            let fstype = fields.get(sep + 1).copied().unwrap_or("");
            let source = fields.get(sep + 2).copied().unwrap_or("");
            format!("{point} {fstype} {source}")
        })
        .collect()
}

/// The host's network interfaces.
pub fn links() -> BTreeSet<String> {
    names_in("/sys/class/net")
}

/// Whether the host mounts cgroup v2 alone at /sys/fs/cgroup.
pub fn cgroup_v2() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// Every cgroup directory under the workshop's parent, in every hierarchy.
pub fn workshop_cgroups() -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let root = PathBuf::from("/sys/fs/cgroup");
    let mut parents = vec![root.join("contain-rs-workshop")];
    for hierarchy in names_in("/sys/fs/cgroup") {
        parents.push(root.join(hierarchy).join("contain-rs-workshop"));
    }
    for parent in parents {
        for child in names_in(&parent) {
            let path = parent.join(child);
            if path.is_dir() {
                found.insert(path);
            }
        }
    }
    found
}

/// The PIDs of the host's processes whose parent is `ppid`.
pub fn children_of(ppid: u32) -> Vec<u32> {
    names_in("/proc")
        .into_iter()
        .filter_map(|n| n.parse::<u32>().ok())
        .filter(|pid| parent_of(*pid) == Some(ppid))
        .collect()
}

/// The parent PID of `pid`, from /proc/PID/stat.
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

/// Is there a process with this PID (not a zombie)?
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat.get(i + 2..i + 3))
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// `readlink /proc/self/ns/<kind>` on the host (`uts:[4026531838]`).
pub fn namespace(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// The host's hostname.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn names_in(dir: impl AsRef<std::path::Path>) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Removes every cgroup directory named `name` (a test container's unique
/// ID), on every hierarchy, after killing what is still in it: what a
/// runtime under test left when its own `delete` failed (an exercise as
/// shipped fails there). Deepest first; returns what it removed.
pub fn remove_cgroups_named(name: &str) -> Vec<PathBuf> {
    fn walk(dir: &std::path::Path, name: &str, depth: u32, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = entry.path();
            if depth < 4 {
                walk(&path, name, depth + 1, found);
            }
            if entry.file_name() == name {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(std::path::Path::new("/sys/fs/cgroup"), name, 0, &mut found);
    // Children were pushed before their parents.
    found
        .into_iter()
        .filter(|dir| remove_cgroup(dir).is_ok())
        .collect()
}

/// Kills what is in cgroup `dir`, then removes it; the rmdir is retried
/// for up to a second, while the killed processes are still exiting.
pub fn remove_cgroup(dir: &std::path::Path) -> std::io::Result<()> {
    let mut result = Ok(());
    for _ in 0..50 {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        result = std::fs::remove_dir(dir);
        if result.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    result
}
