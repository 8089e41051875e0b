//! The cgroup mode (v2, v1, or hybrid: v1 controllers plus an empty cgroup2
//! beside them) and which controllers a new cgroup would get. doctor asks
//! step05's own code (`step05::cgroup::detect`, `available_controllers`), so
//! it reports exactly what step05 will do here.
//!
//! `cgroups(7)`: <https://man7.org/linux/man-pages/man7/cgroups.7.html>,
//! <https://docs.kernel.org/admin-guide/cgroup-v2.html>.

use std::path::Path;

use step05::cgroup::{self, Mode};

use crate::Check;

/// The controllers step05's flags need: `--memory`, `--cpus`, `--pids`.
pub const NEEDED: [(&str, &str); 3] = [("memory", "--memory"), ("cpu", "--cpus"), ("pids", "--pids")];

/// The mode as the report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// One unified hierarchy at the root.
    V2,
    /// v1 controllers, and a cgroup2 mount beside them.
    Hybrid,
    /// v1 controllers only.
    V1,
}

impl Seen {
    /// `v2`, `hybrid` or `v1`.
    pub fn label(self) -> &'static str {
        match self {
            Seen::V2 => "v2",
            Seen::Hybrid => "hybrid",
            Seen::V1 => "v1",
        }
    }
}

impl From<Mode> for Seen {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::V2 => Seen::V2,
            Mode::Hybrid => Seen::Hybrid,
            Mode::V1 => Seen::V1,
        }
    }
}

/// The `cgroups` line for the machine's cgroup tree.
pub fn check() -> Check {
    let root = Path::new(cgroup::DEFAULT_ROOT);
    let mode = match cgroup::detect(root) {
        Ok(mode) => mode,
        Err(e) => {
            return Check::fail(
                "cgroups",
                format!("cannot tell the cgroup mode of {}: {e}", root.display()),
                "mount cgroup2 there (mount -t cgroup2 none /sys/fs/cgroup) or use the lab VM",
            );
        }
    };
    let controllers = cgroup::available_controllers(root, mode).map_err(|e| e.to_string());
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let unified = cgroup2_mount(&mountinfo).map(|at| {
        let inside = std::fs::read_to_string(Path::new(&at).join("cgroup.controllers"))
            .unwrap_or_default();
        (at, inside.split_whitespace().map(str::to_owned).collect())
    });
    judge(mode.into(), controllers, unified)
}

/// Where cgroup2 is mounted, from `/proc/self/mountinfo` text.
pub fn cgroup2_mount(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fstype = right.split_whitespace().next()?;
        let mount_point = left.split_whitespace().nth(4)?;
        (fstype == "cgroup2").then(|| unescape_mountinfo(mount_point))
    })
}

/// mountinfo writes space, tab, newline and backslash as octal escapes.
fn unescape_mountinfo(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The verdict: `controllers` is what step05 says a new cgroup gets;
/// `unified` is where cgroup2 is mounted and the controllers it has.
pub fn judge(
    mode: Seen,
    controllers: Result<Vec<String>, String>,
    unified: Option<(String, Vec<String>)>,
) -> Check {
    let label = mode.label();
    let controllers = match controllers {
        Ok(c) => c,
        Err(e) => {
            return Check::fail(
                "cgroups",
                format!("{label}: cannot list the controllers a new cgroup would get: {e}"),
                "use the lab VM (cgroup v2 with memory, cpu and pids)",
            );
        }
    };
    let list = if controllers.is_empty() {
        "none".to_owned()
    } else {
        controllers.join(", ")
    };
    let missing: Vec<(&str, &str)> = NEEDED
        .into_iter()
        .filter(|(c, _)| !controllers.iter().any(|have| have == c))
        .collect();
    let described = match mode {
        Seen::V2 => format!("v2: a new cgroup gets {list}"),
        Seen::V1 => format!("v1: controllers ({list}); step05 uses v1 here. The lab VM is v2."),
        Seen::Hybrid => {
            let beside = match &unified {
                Some((at, inside)) if inside.is_empty() => format!("empty cgroup2 at {at}"),
                Some((at, inside)) => format!("cgroup2 at {at} with {}", inside.join(", ")),
                None => "a cgroup2 mount".to_owned(),
            };
            format!("hybrid: v1 controllers ({list}), {beside}; step05 uses v1 here. The lab VM is v2.")
        }
    };
    if !missing.is_empty() {
        let flags: Vec<String> = missing
            .iter()
            .map(|(c, flag)| format!("{c} (step05 {flag})"))
            .collect();
        let fix = match mode {
            Seen::V2 => format!(
                "enable it for child cgroups: echo '{}' | sudo tee /sys/fs/cgroup/cgroup.subtree_control \
                 (or use the lab VM)",
                missing.iter().map(|(c, _)| format!("+{c}")).collect::<Vec<_>>().join(" ")
            ),
            Seen::V1 | Seen::Hybrid => {
                "this kernel or boot configuration lacks the v1 controller: use the lab VM".to_owned()
            }
        };
        return Check::fail(
            "cgroups",
            format!("{described} Missing: {}", flags.join(", ")),
            fix,
        );
    }
    match mode {
        Seen::V2 => Check::ok("cgroups", described),
        Seen::V1 | Seen::Hybrid => Check::warn("cgroups", described, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_cgroup2_mount_is_found_in_mountinfo() {
        assert_eq!(cgroup2_mount(HYBRID).as_deref(), Some("/sys/fs/cgroup/unified"));
        assert_eq!(
            cgroup2_mount("25 1 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n").as_deref(),
            Some("/sys/fs/cgroup")
        );
        assert_eq!(cgroup2_mount("1 0 0:1 / /a\\040b rw - cgroup2 x rw\n").as_deref(), Some("/a b"));
        assert_eq!(cgroup2_mount("32 31 0:29 / /x rw - cgroup cgroup rw,cpu\n"), None);
    }

    #[test]
    fn v2_with_everything_passes() {
        let c = judge(Seen::V2, Ok(names(&["cpuset", "cpu", "io", "memory", "pids"])), None);
        assert_eq!(c.status, Status::Ok);
        assert_eq!(c.detail, "v2: a new cgroup gets cpuset, cpu, io, memory, pids");
    }

    #[test]
    fn hybrid_warns_and_names_the_empty_cgroup2() {
        let c = judge(
            Seen::Hybrid,
            Ok(names(&["cpu", "cpuacct", "memory", "pids"])),
            Some(("/sys/fs/cgroup/unified".into(), vec![])),
        );
        assert_eq!(c.status, Status::Warn);
        assert_eq!(
            c.detail,
            "hybrid: v1 controllers (cpu, cpuacct, memory, pids), empty cgroup2 at /sys/fs/cgroup/unified; \
             step05 uses v1 here. The lab VM is v2."
        );
    }

    #[test]
    fn a_missing_controller_fails_naming_the_flag_and_the_fix() {
        let c = judge(Seen::V2, Ok(names(&["cpu", "pids"])), None);
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("memory (step05 --memory)"), "{}", c.detail);
        assert!(c.fix.unwrap().contains("+memory"));
        let c = judge(Seen::V1, Ok(names(&["memory", "pids"])), None);
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("cpu (step05 --cpus)"));
    }

    #[test]
    fn unlistable_controllers_fail() {
        assert_eq!(judge(Seen::V2, Err("EACCES".into()), None).status, Status::Fail);
    }
}
