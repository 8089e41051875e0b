//! # Exercise 9: user namespaces (the handshake)
//!
//! Read first: chapter 9 of the book, `book/src/ch09-userns.md`.
//!
//! A user namespace has its own user and group IDs. Which of them exist,
//! and which host IDs they are, is written once, from outside, into two
//! files of a process in the namespace: `/proc/PID/uid_map` and
//! `/proc/PID/gid_map`. Each line is `INSIDE OUTSIDE COUNT`:
//!
//! ```text
//! uid_map of a rootless container     uid_map of --userns remap (as root)
//!          0       1000          1             0    1000000      65536
//!          1     100000      65536
//! ```
//!
//! step09's `container.rs` (compiled here as it is) clones the container
//! with `CLONE_NEWUSER` among the other flags; the child, PID 1 of the new
//! namespaces, waits on chapter 2's sync pipe with unmapped IDs (they read
//! as 65534, "nobody") while the parent, on the host, calls your
//! [`write_maps`]; once the pipe is released the child calls your
//! [`become_root`], then does step08's setup:
//!
//! ```text
//! parent (host)                              child (new user namespace + the others)
//! clone3(CLONE_NEWUSER|CLONE_NEWPID|...) ──▶ waits on the sync pipe
//! write_maps(child, maps)
//! release the sync pipe ───────────────────▶ become_root()
//!                                            root of its namespace: step08's setup
//! ```
//!
//! Who may write which map (user_namespaces(7)): a process may map its own
//! uid and gid, one ID each, without any privilege, but for the gid map only
//! after `setgroups` is denied in the namespace (otherwise dropping a group
//! with `setgroups` could *gain* access a deny-by-group rule withheld). More
//! IDs need CAP_SETUID/CAP_SETGID over the host: root has them, and for an
//! ordinary user the setuid-root helpers `newuidmap` and `newgidmap` (package
//! uidmap) write ranges that `/etc/subuid` and `/etc/subgid` grant them.
//!
//! Given: the maps' types ([`Extent`], [`Writer`], [`Maps`] and its other
//! constructors), the helpers your functions need (`write_proc`,
//! `run_helper`, `lines`), and what step09 builds on the handshake
//! ([`for_user`], [`run_as_root_of`], [`subordinate`], [`on_path`]). Yours:
//!
//! - [`Maps::full`]: the map of an ordinary user who has a subordinate range;
//! - [`write_maps`]: the parent's side of the handshake;
//! - [`become_root`]: the child's side.
//!
//! Done when `cargo test -p ex09` passes; `cargo test -p ex09 unit_tests`
//! runs only the fast tests of your functions, against real processes in
//! user namespaces of their own. Then run it as yourself (not root):
//! `cargo run -p ex09 -- id` says uid=0(root). Stuck?
//! `exercises/hints.toml` has hints, each more specific than the last.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use nix::unistd::{Gid, Pid, Uid};
use workshop::{SyscallError, call, explain};

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

    /// An ordinary user with subordinate ranges: 0 is the user, 1..=65536
    /// the start of the range /etc/subuid (and /etc/subgid) give them.
    pub fn full(uid: Uid, gid: Gid, subuid: u32, subgid: u32) -> Maps {
        // Exercise 9, part 1. What must hold:
        // - root inside (ID 0) is the user themselves on the host, one ID;
        //   the IDs after it inside are the user's subordinate range, RANGE
        //   of them, starting at `subuid` (uids) and `subgid` (gids);
        // - the maps are written by the helpers (only they may use the
        //   ranges /etc/subuid and /etc/subgid grant), and as they hold
        //   CAP_SETGID, setgroups need not be denied: `chown` and
        //   `setgroups` keep working inside.
        // See it: as an ordinary user with a range, `cat /proc/self/uid_map`
        // inside `cargo run -p step09`.
        todo!("exercise 9: the full map of uid {uid}, gid {gid}, ranges {subuid} and {subgid}")
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

/// Parent side of the handshake: gives the child's user namespace its IDs,
/// while the child waits.
pub fn write_maps(child: Pid, maps: &Maps) -> anyhow::Result<()> {
    // Exercise 9, part 2. What must hold when this returns Ok:
    // - /proc/CHILD/uid_map and gid_map hold `maps.uid` and `maps.gid`,
    //   every extent, written by whoever `maps.writer` says: this process
    //   itself, or the helpers `newuidmap` and `newgidmap` (found on PATH),
    //   which take the child's PID and the extents on their command line;
    // - when `maps.deny_setgroups` is set, /proc/CHILD/setgroups says
    //   "deny" (for an ordinary user the kernel refuses the gid map until
    //   it does, and refuses "deny" once a gid map is there);
    // - the gid map is in place before the uid map is written: a failure
    //   must never leave a namespace with users and no groups;
    // - the kernel takes each map in a single write(2) and refuses any
    //   later one (EPERM): every failure is an Err, and nothing is retried.
    // Observe step09 doing it: `cargo run -p step09 -- -x true 2>&1 | grep
    // -E 'map|setgroups'`, and, while `cargo run -p step09 -- sleep 60`
    // runs, `cat /proc/$(pgrep -n sleep)/uid_map` from the host.
    todo!("exercise 9: write the maps of {child} ({maps:?})")
}

/// One write(2) for the whole map: the kernel takes a map in a single write
/// and refuses a second one (EPERM). `-x` shows it.
#[allow(dead_code)] // yours to use in write_maps
fn write_proc(path: &str, text: &str) -> Result<(), SyscallError> {
    call("write", format!("{path:?}, {text:?}"), || {
        std::fs::write(path, text).map_err(workshop::io_errno)
    })
}

/// `newuidmap PID INSIDE OUTSIDE COUNT ...`: a setuid-root program that
/// checks each extent against /etc/subuid (or /etc/subgid) and writes it.
#[allow(dead_code)] // yours to use in write_maps
fn run_helper(program: &str, child: Pid, extents: &[Extent]) -> anyhow::Result<()> {
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

/// A map as the kernel reads it: one `INSIDE OUTSIDE COUNT` line per extent.
#[allow(dead_code)] // yours to use in write_maps
fn lines(extents: &[Extent]) -> String {
    extents.iter().map(|e| format!("{e}\n")).collect()
}

/// Child side, once the parent released the sync pipe: the maps exist, so
/// take uid 0 and gid 0 of the namespace. For a rootless container that
/// changes nothing but the name (the user's own uid *is* 0 inside); for
/// `--userns remap` it is the switch from host root, unmapped here, to the
/// range's first ID. A process whose uid becomes 0 keeps its capabilities
/// in the namespace; execve as uid 0 gives them to the command as it gives
/// them to root's programs on the host.
pub fn become_root() -> Result<(), SyscallError> {
    // Exercise 9, part 3. What must hold when this returns Ok: the real,
    // effective and saved group IDs are 0 in the namespace, and so are the
    // three user IDs (`grep -E 'Uid|Gid' /proc/self/status` inside), and
    // the capabilities the namespace gave its creator are still there.
    // Groups before users, the order every change of IDs keeps. Make each
    // call through `workshop::call`, so that `-x` shows it and a failure
    // (EINVAL: 0 is not mapped yet) names the call.
    todo!("exercise 9: become uid 0 and gid 0 of the user namespace")
}

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
