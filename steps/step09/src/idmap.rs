//! The types and plumbing of chapter 9's user namespaces: the maps
//! ([`Maps`], [`Extent`]), where a user's subordinate range comes from
//! ([`subordinate`], [`for_user`]), the writes and the helper programs the
//! handshake is made of, and [`run_as_root_of`], a short-lived process that
//! is root of a namespace with a container's map. The handshake itself, the
//! chapter's lesson, is `userns.rs`; exercise 9 compiles this file as it is
//! beside the learner's `userns.rs`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use nix::unistd::{Gid, Pid, Uid};
use workshop::{SyscallError, call, explain};

use crate::userns::{become_root, write_maps};

/// How many IDs a full map gives the container besides root: those of a
/// distribution's users and groups (nobody is 65534), as Docker and Podman.
pub const RANGE: u32 = 65536;

/// One line of a map: `inside outside count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

impl std::fmt::Display for Extent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.inside, self.outside, self.count)
    }
}

/// Who writes the maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// The parent, into /proc/PID/*_map: its own IDs only (with setgroups
    /// denied), or anything when it is root.
    Parent,
    /// newuidmap and newgidmap, setuid-root, checking /etc/subuid and
    /// /etc/subgid.
    Helpers,
}

/// A container's uid and gid maps, and how they get written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maps {
    pub uid: Vec<Extent>,
    pub gid: Vec<Extent>,
    /// Write "deny" to /proc/PID/setgroups first: required for an
    /// unprivileged gid map, and it stays so (setgroups(2) fails inside).
    pub deny_setgroups: bool,
    pub writer: Writer,
}

impl Maps {
    /// The single map of an ordinary user without a subordinate range: the
    /// user's uid and gid become 0, nothing else exists inside.
    pub fn single(uid: Uid, gid: Gid) -> Maps {
        let one = |outside| {
            vec![Extent {
                inside: 0,
                outside,
                count: 1,
            }]
        };
        Maps {
            uid: one(uid.as_raw()),
            gid: one(gid.as_raw()),
            deny_setgroups: true,
            writer: Writer::Parent,
        }
    }

    /// `--userns remap` as root: 0..65536 inside are `uid..uid+65536` and
    /// `gid..gid+65536` on the host; root writes the maps itself.
    pub fn remap(uid: u32, gid: u32) -> Maps {
        let one = |outside| {
            vec![Extent {
                inside: 0,
                outside,
                count: RANGE,
            }]
        };
        Maps {
            uid: one(uid),
            gid: one(gid),
            deny_setgroups: false,
            writer: Writer::Parent,
        }
    }

    /// The host uid that is root inside.
    pub fn root_uid(&self) -> u32 {
        self.uid[0].outside
    }

    /// The host gid that is root inside.
    pub fn root_gid(&self) -> u32 {
        self.gid[0].outside
    }

    /// Whether a host uid has a name inside.
    pub fn maps_uid(&self, host: u32) -> bool {
        self.uid
            .iter()
            .any(|e| host >= e.outside && host - e.outside < e.count)
    }
}

// ANCHOR: map_writes
/// One write(2) for the whole map: the kernel takes a map in a single write
/// and refuses a second one (EPERM).
pub fn write_proc(path: &str, text: &str) -> Result<(), SyscallError> {
    call("write", format!("{path:?}, {text:?}"), || {
        std::fs::write(path, text).map_err(workshop::io_errno)
    })
}

/// `newuidmap PID INSIDE OUTSIDE COUNT ...`: a setuid-root program that
/// checks each extent against /etc/subuid (or /etc/subgid) and writes it.
pub fn run_helper(program: &str, child: Pid, extents: &[Extent]) -> anyhow::Result<()> {
    let mut cmd = Command::new(program);
    cmd.arg(child.to_string());
    for e in extents {
        cmd.args([e.inside, e.outside, e.count].map(|n| n.to_string()));
    }
    explain::say(format_args!(
        "run {program} {}",
        cmd.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    ));
    crate::rootless::unblock_signals(&mut cmd);
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {program} (package uidmap)"))?;
    if !out.status.success() {
        bail!(
            "{program} failed ({}): {}; check the ranges in /etc/sub{}id",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            if program == "newuidmap" { "u" } else { "g" }
        );
    }
    Ok(())
}

pub fn lines(extents: &[Extent]) -> String {
    extents.iter().map(|e| format!("{e}\n")).collect()
}
// ANCHOR_END: map_writes

/// The first range of at least [`RANGE`] IDs that `file` (/etc/subuid or
/// /etc/subgid) gives the user `name` (or their numeric `id`).
pub fn subordinate(file: &Path, name: &str, id: u32) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    parse_subordinate(&text, name, id)
}

fn parse_subordinate(text: &str, name: &str, id: u32) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut parts = line.trim().split(':');
        let (who, start, count) = (parts.next()?, parts.next()?, parts.next()?);
        let (start, count) = (start.parse::<u32>().ok()?, count.parse::<u32>().ok()?);
        let ours = who == name || who.parse::<u32>().ok() == Some(id);
        (ours && count >= RANGE).then_some(start)
    })
}

/// Whether a program is on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// The maps for the user running us (not root): full when newuidmap and
/// newgidmap are installed and both files grant a range, single otherwise.
pub fn for_user(uid: Uid, gid: Gid) -> Maps {
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default();
    let helpers = on_path("newuidmap") && on_path("newgidmap");
    let subuid = subordinate(Path::new("/etc/subuid"), &name, uid.as_raw());
    let subgid = subordinate(Path::new("/etc/subgid"), &name, uid.as_raw());
    match (helpers, subuid, subgid) {
        (true, Some(u), Some(g)) => Maps::full(uid, gid, u, g),
        _ => Maps::single(uid, gid),
    }
}

/// Runs `f` in a new process that is root of a new user namespace with
/// `maps`, and waits for it: how the parent removes files the container
/// made as one of its subordinate IDs, which the user does not own on the
/// host. Returns the child's exit status (0: `f` returned `Ok`).
pub fn run_as_root_of(maps: &Maps, f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let (go_read, go_write) = nix::unistd::pipe()?;
    // SAFETY: the child only unshares, reads a pipe, calls `f` and _exits;
    // glibc's allocator is safe to use after fork.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            drop(go_write);
            let result = (|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)?;
                let mut byte = [0u8; 1];
                nix::unistd::read(&go_read, &mut byte)?;
                become_root()?;
                f()
            })();
            // SAFETY: _exit ends the forked child without running the
            // parent's atexit handlers or destructors twice.
            unsafe { libc::_exit(i32::from(result.is_err())) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(go_read);
            // The child unshares at once; its namespace is there when
            // /proc/PID/ns/user differs from ours.
            let ours = std::fs::read_link("/proc/self/ns/user")?;
            for _ in 0..2000 {
                match std::fs::read_link(format!("/proc/{child}/ns/user")) {
                    Ok(ns) if ns != ours => break,
                    _ => std::thread::sleep(std::time::Duration::from_millis(1)),
                }
            }
            let written = write_maps(child, maps);
            nix::unistd::write(&go_write, &[u8::from(written.is_ok())])?;
            drop(go_write);
            let status = nix::sys::wait::waitpid(child, None)?;
            written?;
            match status {
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                other => bail!("the helper in a user namespace ended with {other:?}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_print_as_the_kernel_reads_them() {
        let m = Maps::full(Uid::from_raw(1000), Gid::from_raw(1000), 100000, 200000);
        assert_eq!(lines(&m.uid), "0 1000 1\n1 100000 65536\n");
        assert_eq!(lines(&m.gid), "0 1000 1\n1 200000 65536\n");
        assert!(!m.deny_setgroups);
        let s = Maps::single(Uid::from_raw(1000), Gid::from_raw(100));
        assert_eq!(lines(&s.gid), "0 100 1\n");
        assert!(s.deny_setgroups);
        assert!(s.maps_uid(1000) && !s.maps_uid(0));
        let r = Maps::remap(1000000, 1000000);
        assert_eq!(lines(&r.uid), "0 1000000 65536\n");
        assert!(r.maps_uid(1065535) && !r.maps_uid(1065536));
    }

    #[test]
    fn subordinate_ranges_by_name_or_uid_and_big_enough() {
        let text = "alice:100000:65536\nbob:300000:1000\n1001:400000:65536\n";
        assert_eq!(parse_subordinate(text, "alice", 1000), Some(100000));
        assert_eq!(parse_subordinate(text, "bob", 1002), None);
        assert_eq!(parse_subordinate(text, "carol", 1001), Some(400000));
        assert_eq!(parse_subordinate("garbage\n", "alice", 1), None);
    }
}
