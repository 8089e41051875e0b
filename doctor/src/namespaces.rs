//! Each namespace type, tried for real: a forked child calls `unshare(2)`
//! with that one flag (and, where cheap, uses the new namespace a little),
//! then exits, and the namespace dies with it.
//!
//! `namespaces(7)`: <https://man7.org/linux/man-pages/man7/namespaces.7.html>,
//! `unshare(2)`: <https://man7.org/linux/man-pages/man2/unshare.2.html>.
//!
//! Verdicts:
//! - a type the container runtime creates (uts, pid, mnt, ipc, net, cgroup)
//!   that does not work is a failure;
//! - user and time namespaces are not created by steps 01–06, so a failure
//!   there is a warning (they matter for rootless and side experiments);
//! - not root: only the user namespace is tried (it is the one an
//!   unprivileged user can create); the others are a **warning**
//!   "skipped: needs root". We do not know they are broken, and the `root`
//!   line already fails the run, so counting them as eight more problems
//!   would only bury the one fix that matters.

use nix::sched::{CloneFlags, unshare};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, gethostname, getpid, sethostname};
use workshop::call;

use crate::{Check, probe};

/// One namespace type.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// As `lsns` and /proc/PID/ns name it.
    pub name: &'static str,
    /// The `unshare` flag's name.
    pub flag_name: &'static str,
    /// The first step that creates it, if any does.
    pub needed_by: Option<&'static str>,
}

/// The eight types, in the order of `namespaces(7)`'s table.
pub const KINDS: [Kind; 8] = [
    Kind {
        name: "uts",
        flag_name: "CLONE_NEWUTS",
        needed_by: Some("step01"),
    },
    Kind {
        name: "pid",
        flag_name: "CLONE_NEWPID",
        needed_by: Some("step02"),
    },
    Kind {
        name: "mnt",
        flag_name: "CLONE_NEWNS",
        needed_by: Some("step03"),
    },
    Kind {
        name: "ipc",
        flag_name: "CLONE_NEWIPC",
        needed_by: Some("the container runtime"),
    },
    Kind {
        name: "net",
        flag_name: "CLONE_NEWNET",
        needed_by: Some("step04"),
    },
    Kind {
        name: "cgroup",
        flag_name: "CLONE_NEWCGROUP",
        needed_by: Some("step05"),
    },
    Kind {
        name: "user",
        flag_name: "CLONE_NEWUSER",
        needed_by: None,
    },
    Kind {
        name: "time",
        flag_name: "CLONE_NEWTIME",
        needed_by: None,
    },
];

impl Kind {
    /// The flag for `unshare`. nix has no `CLONE_NEWTIME` (Linux 5.6), libc does.
    pub fn flag(&self) -> CloneFlags {
        match self.name {
            "uts" => CloneFlags::CLONE_NEWUTS,
            "pid" => CloneFlags::CLONE_NEWPID,
            "mnt" => CloneFlags::CLONE_NEWNS,
            "ipc" => CloneFlags::CLONE_NEWIPC,
            "net" => CloneFlags::CLONE_NEWNET,
            "cgroup" => CloneFlags::CLONE_NEWCGROUP,
            "user" => CloneFlags::CLONE_NEWUSER,
            _ => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
        }
    }

    fn line(&self) -> String {
        format!("namespace {}", self.name)
    }
}

/// One `namespace NAME` line per type. Forks: call while single-threaded.
pub fn check_all(is_root: bool) -> Vec<Check> {
    KINDS
        .iter()
        .map(|kind| {
            if is_root || kind.name == "user" {
                verdict(kind, probe::in_child(|| try_kind(kind)), is_root)
            } else {
                Check::warn(kind.line(), "skipped: needs root (see the root line)", None)
            }
        })
        .collect()
}

/// Turns what the child reported into the line.
pub fn verdict(kind: &Kind, result: Result<String, String>, is_root: bool) -> Check {
    match result {
        Ok(detail) => Check::ok(kind.line(), detail),
        Err(message) => {
            let fix = fix_for(kind, &message);
            match (kind.needed_by, is_root) {
                (Some(step), true) => {
                    Check::fail(kind.line(), format!("{message} ({step} needs it)"), fix)
                }
                (None, true) => Check::warn(
                    kind.line(),
                    format!("{message} (no step needs it; only side experiments do)"),
                    Some(fix),
                ),
                (_, false) => Check::warn(
                    kind.line(),
                    format!(
                        "{message}: unprivileged users cannot create one here; the steps run as root, \
                         so only rootless experiments are affected"
                    ),
                    Some("see the userns_clone and apparmor userns lines".to_owned()),
                ),
            }
        }
    }
}

/// What to do about a failed `unshare`, from its errno.
fn fix_for(kind: &Kind, message: &str) -> String {
    if message.contains("EINVAL") {
        format!(
            "this kernel is built without {} (CONFIG_{}_NS): use the lab VM",
            kind.flag_name,
            kind.name.to_uppercase()
        )
    } else if message.contains("ENOSPC") {
        format!(
            "the limit in /proc/sys/user/max_{}_namespaces is reached or 0: sudo sysctl -w user.max_{}_namespaces=10000",
            kind.name, kind.name
        )
    } else if message.contains("EPERM") {
        "run it as root on the lab VM or a host (not inside a container, whose seccomp or LSM may deny unshare)"
            .to_owned()
    } else {
        "use the lab VM".to_owned()
    }
}

/// Runs in the forked child: create the namespace, then use it a little.
fn try_kind(kind: &Kind) -> Result<String, String> {
    let flag = kind.flag();
    call("unshare", kind.flag_name, || unshare(flag)).map_err(|e| e.to_string())?;
    let works = format!("unshare({}) works", kind.flag_name);
    match kind.name {
        // The point of a UTS namespace: a hostname of its own.
        "uts" => {
            call("sethostname", "\"doctor-probe\"", || {
                sethostname("doctor-probe")
            })
            .map_err(|e| e.to_string())?;
            let name = gethostname().map_err(|e| format!("gethostname() failed: {e}"))?;
            if name != "doctor-probe" {
                return Err(format!("sethostname did not take: hostname is {name:?}"));
            }
            Ok(format!("{works}; sethostname inside it too"))
        }
        // The caller stays where it is; its next child is PID 1 of the new namespace.
        "pid" => {
            // SAFETY: this child is single-threaded (forked from a
            // single-threaded parent); the grandchild only calls getpid and _exit.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    let code = if getpid().as_raw() == 1 { 0 } else { 1 };
                    // SAFETY: ends the grandchild; nothing of ours runs after it.
                    unsafe { libc::_exit(code) }
                }
                Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, 0)) => {
                        Ok(format!("{works}; its first child is PID 1"))
                    }
                    Ok(status) => Err(format!(
                        "the first child in the new PID namespace was not PID 1 ({status:?})"
                    )),
                    Err(e) => Err(format!("waitpid failed: {e}")),
                },
                Err(e) => Err(format!("fork() in the new PID namespace failed: {e}")),
            }
        }
        // step03 makes every mount private before pivot_root; check that works too.
        "mnt" => {
            step05::pid::make_mounts_private().map_err(|e| e.to_string())?;
            Ok(format!("{works}; making / private inside it too"))
        }
        _ => Ok(works),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn kind(name: &str) -> Kind {
        *KINDS.iter().find(|k| k.name == name).unwrap()
    }

    #[test]
    fn all_eight_types_with_distinct_flags() {
        let mut flags: Vec<_> = KINDS.iter().map(|k| k.flag().bits()).collect();
        flags.sort();
        flags.dedup();
        assert_eq!(flags.len(), 8);
        assert_eq!(kind("time").flag().bits(), 0x80);
    }

    #[test]
    fn a_type_a_step_needs_fails_when_broken() {
        let c = verdict(
            &kind("net"),
            Err("unshare(CLONE_NEWNET) failed: EINVAL (Invalid argument)".into()),
            true,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("step04 needs it"));
        assert!(c.fix.unwrap().contains("CONFIG_NET_NS"));
    }

    #[test]
    fn user_and_time_only_warn() {
        let c = verdict(
            &kind("time"),
            Err("unshare(CLONE_NEWTIME) failed: EINVAL".into()),
            true,
        );
        assert_eq!(c.status, Status::Warn);
        let c = verdict(
            &kind("user"),
            Err("unshare(CLONE_NEWUSER) failed: ENOSPC".into()),
            true,
        );
        assert_eq!(c.status, Status::Warn);
        assert!(c.fix.unwrap().contains("max_user_namespaces"));
    }

    #[test]
    fn unprivileged_failure_is_about_rootless_only() {
        let c = verdict(
            &kind("user"),
            Err("unshare(CLONE_NEWUSER) failed: EPERM".into()),
            false,
        );
        assert_eq!(c.status, Status::Warn);
        assert!(c.detail.contains("rootless"));
    }

    #[test]
    fn success_is_ok_with_the_childs_detail() {
        let c = verdict(&kind("uts"), Ok("unshare(CLONE_NEWUTS) works".into()), true);
        assert_eq!(c.status, Status::Ok);
        assert_eq!(c.name, "namespace uts");
    }
}
