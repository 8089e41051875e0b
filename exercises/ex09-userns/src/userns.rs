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
//! Given, in step09's `idmap.rs` (compiled here as it is, and re-exported
//! below): the maps' types ([`Extent`], [`Writer`], [`Maps`] and its other
//! constructors), the helpers your functions need ([`write_proc`],
//! [`run_helper`], [`lines`]), and what step09 builds on the handshake
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

use nix::unistd::{Gid, Pid, Uid};
use workshop::SyscallError;

pub use crate::idmap::*;

impl Maps {
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
