//! User namespaces: root inside, an ordinary user outside.
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
//! The process that creates the namespace holds every capability *in it*
//! (and none more over the host than it had). Until the maps are written its
//! IDs are unmapped (they read as 65534, "nobody"); the parent writes them
//! while the child waits on chapter 2's sync pipe. That is the handshake:
//!
//! ```text
//! parent (host)                              child (new user namespace + the others)
//! clone3(CLONE_NEWUSER|CLONE_NEWPID|...) ──▶ waits on the sync pipe
//! write /proc/PID/setgroups "deny"  (single map)
//! write /proc/PID/gid_map, uid_map  (or newgidmap/newuidmap PID ...)
//! release the sync pipe ───────────────────▶ setresgid(0,0,0), setresuid(0,0,0)
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

use nix::unistd::{Gid, Pid, Uid};
use workshop::{SyscallError, call};

pub use crate::idmap::*;

// ANCHOR: full
impl Maps {
    /// An ordinary user with subordinate ranges: 0 is the user, 1..=65536
    /// the start of the range /etc/subuid (and /etc/subgid) give them.
    pub fn full(uid: Uid, gid: Gid, subuid: u32, subgid: u32) -> Maps {
        let two = |own, sub| {
            vec![
                Extent {
                    inside: 0,
                    outside: own,
                    count: 1,
                },
                Extent {
                    inside: 1,
                    outside: sub,
                    count: RANGE,
                },
            ]
        };
        Maps {
            uid: two(uid.as_raw(), subuid),
            gid: two(gid.as_raw(), subgid),
            deny_setgroups: false,
            writer: Writer::Helpers,
        }
    }
}
// ANCHOR_END: full

// ANCHOR: write_maps
/// Parent side of the handshake: gives the child's user namespace its IDs,
/// while the child waits. The gid map goes first: once the uid map is
/// written, a later failure would leave a namespace with users and no groups.
pub fn write_maps(child: Pid, maps: &Maps) -> anyhow::Result<()> {
    match maps.writer {
        Writer::Parent => {
            let proc = format!("/proc/{child}");
            if maps.deny_setgroups {
                write_proc(&format!("{proc}/setgroups"), "deny")?;
            }
            write_proc(&format!("{proc}/gid_map"), &lines(&maps.gid))?;
            write_proc(&format!("{proc}/uid_map"), &lines(&maps.uid))?;
        }
        Writer::Helpers => {
            run_helper("newgidmap", child, &maps.gid)?;
            run_helper("newuidmap", child, &maps.uid)?;
        }
    }
    Ok(())
}
// ANCHOR_END: write_maps

// ANCHOR: become_root
/// Child side, once the parent released the sync pipe: the maps exist, so
/// take uid 0 and gid 0 of the namespace. For a rootless container that
/// changes nothing but the name (the user's own uid *is* 0 inside); for
/// `--userns remap` it is the switch from host root, unmapped here, to the
/// range's first ID. A process whose uid becomes 0 keeps its capabilities
/// in the namespace; execve as uid 0 gives them to the command as it gives
/// them to root's programs on the host.
pub fn become_root() -> Result<(), SyscallError> {
    let root = Gid::from_raw(0);
    call("setresgid", "0, 0, 0", || {
        nix::unistd::setresgid(root, root, root)
    })?;
    let root = Uid::from_raw(0);
    call("setresuid", "0, 0, 0", || {
        nix::unistd::setresuid(root, root, root)
    })
}
// ANCHOR_END: become_root
