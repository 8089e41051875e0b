//! The cgroup mode (v2, v1, or hybrid: v1 controllers plus a cgroup2, often
//! empty, beside them) and which controllers a new cgroup would get. doctor asks
//! step05's own code (`step05::cgroup::detect`, `available_controllers`), so
//! it reports exactly what step05 will do here.
//!
//! `cgroups(7)`: <https://man7.org/linux/man-pages/man7/cgroups.7.html>,
//! <https://docs.kernel.org/admin-guide/cgroup-v2.html>.

use std::path::Path;

use step05::cgroup::{self, Mode};

use crate::Check;

/// The controllers step05's flags need: `--memory`, `--cpus`, `--pids`.
pub const NEEDED: [(&str, &str); 3] = [
    ("memory", "--memory"),
    ("cpu", "--cpus"),
    ("pids", "--pids"),
];

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
    // Hybrid: step05 finds the cgroup2 at `unified/`; say what it holds.
    let unified = (mode == Mode::Hybrid).then(|| {
        let at = root.join("unified");
        let inside = std::fs::read_to_string(at.join("cgroup.controllers")).unwrap_or_default();
        let inside = inside.split_whitespace().map(str::to_owned).collect();
        (at.display().to_string(), inside)
    });
    judge(mode.into(), controllers, unified)
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
            format!(
                "hybrid: v1 controllers ({list}), {beside}; step05 uses v1 here. The lab VM is v2."
            )
        }
    };
    if !missing.is_empty() {
        let flags: Vec<String> = missing
            .iter()
            .map(|(c, flag)| format!("{c} (step05 {flag})"))
            .collect();
        let fix = "the kernel lacks it or has it switched off (memory: boot with cgroup_enable=memory; \
                   cpu: CONFIG_CFS_BANDWIDTH; pids: CONFIG_CGROUP_PIDS), or another hierarchy holds it \
                   (see /proc/cgroups): use the lab VM";
        return Check::fail(
            "cgroups",
            format!(
                "{}. Missing: {}",
                described.trim_end_matches('.'),
                flags.join(", ")
            ),
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

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn v2_with_everything_passes() {
        let c = judge(
            Seen::V2,
            Ok(names(&["cpuset", "cpu", "io", "memory", "pids"])),
            None,
        );
        assert_eq!(c.status, Status::Ok);
        assert_eq!(
            c.detail,
            "v2: a new cgroup gets cpuset, cpu, io, memory, pids"
        );
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
    fn a_cgroup2_with_controllers_and_plain_v1_are_named_too() {
        let c = judge(
            Seen::Hybrid,
            Ok(names(&["cpu", "memory", "pids"])),
            Some(("/sys/fs/cgroup/unified".into(), names(&["hugetlb"]))),
        );
        assert!(
            c.detail
                .contains("cgroup2 at /sys/fs/cgroup/unified with hugetlb"),
            "{}",
            c.detail
        );
        let c = judge(Seen::V1, Ok(names(&["cpu", "memory", "pids"])), None);
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.detail.starts_with("v1: controllers (cpu, memory, pids)"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn a_missing_controller_fails_naming_the_flag_and_the_fix() {
        let c = judge(Seen::V2, Ok(names(&["cpu", "pids"])), None);
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail.contains("memory (step05 --memory)"),
            "{}",
            c.detail
        );
        assert!(c.fix.unwrap().contains("cgroup_enable=memory"));
        let c = judge(Seen::V1, Ok(names(&["memory", "pids"])), None);
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("cpu (step05 --cpus)"));
    }

    #[test]
    fn unlistable_controllers_fail() {
        assert_eq!(
            judge(Seen::V2, Err("EACCES".into()), None).status,
            Status::Fail
        );
    }
}
