//! The few things cgroup code does to files: read, write, mkdir, rmdir,
//! open a directory, and kill what is inside a cgroup. Every one goes
//! through [`workshop::call`], so `-x` narrates it like the syscall it is:
//!
//! ```text
//! write("/sys/fs/cgroup/memory/contain-rs-workshop/ws-42/memory.limit_in_bytes", "67108864") = 0
//! ```
//!
//! A cgroup filesystem is driven entirely by these calls: `mkdir` creates a
//! cgroup (the kernel fills the new directory with its interface files),
//! `write` sets a limit or moves a process, `rmdir` removes an empty cgroup
//! (its interface files do not count). See
//! [cgroups(7)](https://man7.org/linux/man-pages/man7/cgroups.7.html).
//!
//! Public: `src/leaf.rs` (the chapter's answer, exercise 5's file) uses them.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag, open};
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::Mode;
use nix::unistd::{Pid, UnlinkatFlags, unlinkat};
use workshop::sys::Outcome;
use workshop::{SyscallError, call};

// In tests (step05's own, and exercise 5's, which compiles this file) a
// fake kernel (fake.rs) gives directories in a temp dir the
// few behaviours of cgroupfs that plain files lack; it acts only on the
// fake trees a test made. In a normal build these hooks do nothing and
// compile to nothing.
#[cfg(test)]
use super::fake::hooks;
#[cfg(not(test))]
mod hooks {
    use std::path::Path;
    pub fn write(_: &Path, _: &str) -> Option<nix::Result<()>> {
        None
    }
    pub fn read(_: &Path) -> Option<nix::Result<String>> {
        None
    }
    pub fn mkdir(_: &Path) {}
    pub fn rmdir(_: &Path) -> nix::Result<()> {
        Ok(())
    }
}

/// What a `read` returned, shown quoted in the narration.
struct Contents(String);

impl Outcome for Contents {
    fn show(&self) -> String {
        format!("{:?}", self.0.trim_end())
    }
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// Writes `value` to an existing cgroup file. Never creates one: a missing
/// file means the kernel does not offer it here (its controller is not
/// enabled or not mounted), and that must be an error, not a new plain file.
pub fn write(path: &Path, value: &str) -> Result<(), SyscallError> {
    call("write", format!("{path:?}, {value:?}"), || {
        if let Some(faked) = hooks::write(path, value) {
            return faked;
        }
        // O_TRUNC is what `echo 1 > file` uses; cgroupfs ignores it.
        let fd = open(
            path,
            OFlag::O_WRONLY | OFlag::O_TRUNC | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        // A cgroup file takes the whole value in one write(2) or refuses it;
        // its errno (EINVAL, EBUSY, ...) is the kernel's verdict on the value.
        let written = nix::unistd::write(&fd, value.as_bytes())?;
        if written != value.len() {
            return Err(Errno::EIO);
        }
        Ok(())
    })
    .map_err(|err| match write_hint(path, value, err.errno) {
        Some(hint) => err.with_hint(hint),
        None => err,
    })
}

/// Reads a whole cgroup file.
pub fn read(path: &Path) -> Result<String, SyscallError> {
    call("read", format!("{path:?}"), || {
        if let Some(faked) = hooks::read(path) {
            return faked.map(Contents);
        }
        std::fs::read_to_string(path)
            .map(Contents)
            .map_err(workshop::io_errno)
    })
    .map(|contents| contents.0)
    .map_err(|err| match err.errno {
        Errno::ENOENT => err.with_hint(
            "the kernel does not offer this file here: is the cgroup filesystem mounted, \
             and its controller enabled (see `cargo run -p doctor`)?",
        ),
        _ => err,
    })
}

/// Reads a space-separated list (`cgroup.controllers`, `cgroup.subtree_control`).
pub fn read_list(path: &Path) -> Result<Vec<String>, SyscallError> {
    Ok(read(path)?.split_whitespace().map(str::to_owned).collect())
}

/// Reads the pids in a cgroup's `cgroup.procs`, one per line.
pub fn read_procs(dir: &Path) -> Result<Vec<Pid>, SyscallError> {
    let text = read(&dir.join("cgroup.procs"))?;
    Ok(text
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .map(Pid::from_raw)
        .collect())
}

/// Creates a cgroup: on cgroupfs a plain mkdir(2).
pub fn mkdir(path: &Path) -> Result<(), SyscallError> {
    call("mkdir", format!("{path:?}, 0755"), || {
        nix::unistd::mkdir(path, Mode::from_bits_truncate(0o755))?;
        hooks::mkdir(path);
        Ok(())
    })
    .map_err(|err| {
        let hint = match err.errno {
            Errno::EACCES | Errno::EPERM => "creating a cgroup needs root: run with sudo -E",
            Errno::EROFS => {
                "the cgroup filesystem is mounted read-only (are you inside a container? \
                 use the lab VM)"
            }
            Errno::ENOENT => "the parent directory does not exist: is a cgroup filesystem mounted?",
            _ => return err,
        };
        err.with_hint(hint)
    })
}

/// Removes an empty cgroup: rmdir(2), which cgroupfs allows while the
/// directory still lists its interface files, but not while it has
/// processes or child cgroups (EBUSY).
pub fn rmdir(path: &Path) -> Result<(), SyscallError> {
    call("rmdir", format!("{path:?}"), || {
        hooks::rmdir(path)?;
        unlinkat(AT_FDCWD, path, UnlinkatFlags::RemoveDir)
    })
    .map_err(|err| match err.errno {
        Errno::EBUSY => err.with_hint(format!(
            "the cgroup still has processes or child cgroups: see {:?} and its subdirectories",
            path.join("cgroup.procs")
        )),
        _ => err,
    })
}

/// Opens a cgroup directory for `clone3(CLONE_INTO_CGROUP)`, which takes
/// the target cgroup as a file descriptor.
pub fn open_dir(path: &Path) -> Result<OwnedFd, SyscallError> {
    call(
        "open",
        format!("{path:?}, O_RDONLY|O_DIRECTORY|O_CLOEXEC"),
        || {
            open(
                path,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
        },
    )
}

/// Kills every process in the cgroup `dir` and waits (briefly) until the
/// kernel lists none. cgroup v2 (Linux 5.14+) has `cgroup.kill`, which kills
/// them all at once, without the race of killing by pid; elsewhere each pid
/// in `cgroup.procs` gets SIGKILL, in rounds, since a process can fork
/// between the read and the kill.
pub fn kill_all(dir: &Path) -> Result<(), SyscallError> {
    let mut procs = read_procs(dir)?;
    if procs.is_empty() {
        return Ok(());
    }
    let kill_file = dir.join("cgroup.kill");
    let has_kill = kill_file.exists();
    if has_kill {
        write(&kill_file, "1")?;
    }
    for _round in 0..50 {
        if !has_kill {
            for pid in &procs {
                let killed = call("kill", format!("{pid}, SIGKILL"), || {
                    kill(*pid, Signal::SIGKILL)
                });
                match killed {
                    Ok(()) => {}
                    // It ended between the read and the kill: fine.
                    Err(err) if err.errno == Errno::ESRCH => {}
                    Err(err) => return Err(err),
                }
            }
        }
        sleep(Duration::from_millis(10));
        procs = read_procs(dir)?;
        if procs.is_empty() {
            break;
        }
    }
    // Whatever is still there makes the rmdir that follows fail with EBUSY,
    // which names the cgroup.procs file to look at.
    Ok(())
}

/// Removes the cgroup `dir` and everything under it, deepest first: kills
/// its processes, then rmdir with a bounded retry. Right after its last
/// process exits the kernel can take a moment to release a cgroup, and
/// rmdir says EBUSY meanwhile. A cgroup that is already gone is fine.
pub fn remove_tree(dir: &Path) -> Result<(), SyscallError> {
    for child in subdirs(dir) {
        remove_tree(&child)?;
    }
    match kill_all(dir) {
        Ok(()) => {}
        Err(err) if err.errno == Errno::ENOENT => return Ok(()),
        Err(err) => return Err(err),
    }
    // About one second in all: enough for the kernel, bounded for the learner.
    let mut busy = None;
    for delay_ms in [0, 5, 10, 20, 50, 100, 200, 300, 300] {
        sleep(Duration::from_millis(delay_ms));
        match rmdir(dir) {
            Ok(()) => return Ok(()),
            Err(err) if err.errno == Errno::ENOENT => return Ok(()),
            Err(err) if err.errno == Errno::EBUSY => {
                busy = Some(err);
                // A process may have forked in between: kill again.
                let _ = kill_all(dir);
            }
            Err(err) => return Err(err),
        }
    }
    Err(busy.expect("every round that does not return is an EBUSY"))
}

/// The subdirectories (child cgroups) of `dir`, sorted; none if it is gone.
pub fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// Creates `dir` unless it exists: the shared workshop parent, which
/// parallel runs create at the same time (so EEXIST is the normal case).
pub fn mkdir_shared(dir: &Path) -> Result<(), SyscallError> {
    match mkdir(dir) {
        Err(err) if err.errno == Errno::EEXIST => {
            workshop::explain!("(EEXIST is fine: {dir:?} is shared by all runs)");
            Ok(())
        }
        other => other,
    }
}

/// Creates the container's own cgroup `dir`. If it exists, a run with the
/// same id was SIGKILLed before it could clean up: that cgroup is emptied
/// and removed, then made afresh, so no old limit or process survives.
pub fn mkdir_fresh(dir: &Path) -> Result<(), SyscallError> {
    match mkdir(dir) {
        Err(err) if err.errno == Errno::EEXIST => {
            workshop::explain!("{dir:?} is left over from an earlier run: removing it first");
            remove_tree(dir).map_err(|err| {
                let hint = format!(
                    "{dir:?} is left over from an earlier run and cannot be removed; \
                     run the workshop's reset, or kill what {:?} lists and rmdir it",
                    dir.join("cgroup.procs")
                );
                err.with_hint(hint)
            })?;
            mkdir(dir)
        }
        other => other,
    }
}

// ANCHOR: write_hint
/// What a learner can do when writing `value` to the cgroup file `path`
/// fails with `errno`.
pub fn write_hint(path: &Path, value: &str, errno: Errno) -> Option<String> {
    use Errno::*;
    let name = file_name(path);
    let parent = path.parent().unwrap_or(Path::new("/"));
    Some(match (name, errno) {
        ("cgroup.subtree_control", EBUSY) => format!(
            "the cgroup {parent:?} has processes of its own (the no-internal-process rule: \
             a cgroup that hands controllers to children may not hold processes); \
             move them out of {:?}",
            parent.join("cgroup.procs")
        ),
        ("cgroup.subtree_control", ENOENT) => format!(
            "controller '{}' is not in {:?}: it must be enabled in the parent first",
            value.trim_start_matches(['+', '-']),
            parent.join("cgroup.controllers")
        ),
        ("cgroup.subtree_control", EINVAL) if value == "+cpu" => {
            "the cpu controller cannot be enabled while realtime (SCHED_FIFO/SCHED_RR) \
             processes run outside the root cgroup on a kernel with CONFIG_RT_GROUP_SCHED"
                .to_owned()
        }
        ("cgroup.procs", ESRCH) => "the process has already exited".to_owned(),
        ("cgroup.procs", EBUSY | EOPNOTSUPP) => {
            "a process can only join a leaf cgroup (one with no controllers enabled \
             in its cgroup.subtree_control)"
                .to_owned()
        }
        ("memory.limit_in_bytes", EBUSY) => {
            "(cgroup v1) the cgroup already uses more memory than this limit and the kernel \
             could not reclaim it; v2's memory.max never says EBUSY: it reclaims, then OOM-kills"
                .to_owned()
        }
        ("memory.memsw.limit_in_bytes", EINVAL) => {
            "memory.memsw.limit_in_bytes must be at least memory.limit_in_bytes".to_owned()
        }
        ("cpu.max" | "cpu.cfs_quota_us" | "cpu.cfs_period_us", EINVAL) => {
            "the kernel takes a quota of at least 1000 µs (--cpus 0.01) and a period of \
             1000 to 1000000 µs; a parent cgroup's quota can also forbid a bigger one"
                .to_owned()
        }
        ("pids.max", EINVAL) => "pids.max takes 1 to 4194304 or \"max\"".to_owned(),
        (_, ENOENT) => format!(
            "the kernel does not offer {name} in {parent:?}: is its controller enabled \
             (cgroup.controllers on v2) or mounted (v1)? `cargo run -p doctor` tells"
        ),
        (_, EACCES | EPERM) => "writing cgroup files needs root: run with sudo -E".to_owned(),
        _ => return None,
    })
}
// ANCHOR_END: write_hint
