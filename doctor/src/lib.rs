//! `doctor`: the preflight a learner runs before chapter 1.
//!
//! Every check is a small function that looks at one thing the steps rely on
//! and returns a [`Check`]: a name, [`Status::Ok`], [`Status::Warn`] (worth
//! knowing, does not stop any step) or [`Status::Fail`] (a step that needs it
//! will fail), a one-line detail and, where a learner can act, the fix.
//! The text report, `--json` and the tests all read the same `Vec<Check>`.
//!
//! | check | looks at | fails when |
//! |---|---|---|
//! | `root` | `geteuid(2)`, `CapEff` in `/proc/self/status` | not uid 0, or uid 0 without `CAP_SYS_ADMIN` |
//! | `kernel` | `uname(2)` | older than 5.3 (`clone3`); warns below 5.7 (`CLONE_INTO_CGROUP`) |
//! | `namespace *` | `unshare(2)` in a forked child, one per type | a type a step uses does not work |
//! | `cgroups` | step05's own detection (`step05::cgroup`) | no usable hierarchy or a missing controller |
//! | `overlayfs` | `/proc/filesystems`, a test mount in a private mount namespace | never (only step08 needs it): warns |
//! | `userns_clone`, `apparmor userns` | `/proc/sys/kernel/...` | never: they only matter to step09 (rootless) |
//! | `arch` | the architecture this binary was built for | no pinned Alpine rootfs for it |
//! | `rootfs` | `rootfs_fetcher::status` | missing (the fix is the exact fetch command) |
//! | `tool *` | `$PATH` | never: `ip`, `nsenter`, `lsns` are for poking around |
//!
//! The checks that fork (namespaces, overlayfs) must run while the process is
//! single-threaded: `doctor`'s `main` calls them before anything starts a thread.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

pub mod cgroups;
pub mod kernel;
pub mod namespaces;
pub mod overlay;
pub mod probe;
pub mod rootfs;
pub mod sysctl;
pub mod system;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Everything the steps need is there.
    Ok,
    /// Worth knowing; no step 01–06 fails because of it.
    Warn,
    /// A step that needs this will fail.
    Fail,
}

impl Status {
    /// The mark at the start of the report line.
    pub fn symbol(self) -> char {
        match self {
            Status::Ok => '✔',
            Status::Warn => '!',
            Status::Fail => '✘',
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked (`root`, `namespace uts`, `rootfs`).
    pub name: String,
    /// How it came out.
    pub status: Status,
    /// What was found, in one line.
    pub detail: String,
    /// What to do about it (a command where there is one).
    pub fix: Option<String>,
}

impl Check {
    /// A passing check.
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Ok, detail, None)
    }

    /// A warning, with an optional fix.
    pub fn warn(name: impl Into<String>, detail: impl Into<String>, fix: Option<String>) -> Self {
        Self::new(name, Status::Warn, detail, fix)
    }

    /// A failure and how to fix it.
    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(name, Status::Fail, detail, Some(fix.into()))
    }

    fn new(
        name: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Self {
        Self {
            name: name.into(),
            status,
            detail: detail.into(),
            fix,
        }
    }
}

/// What the checks are run against.
#[derive(Debug, Clone)]
pub struct Options {
    /// The rootfs to check (`--rootfs`, `WORKSHOP_ROOTFS`, or the fetcher's default).
    pub rootfs: PathBuf,
}

/// Runs every check, in the order of the report.
///
/// Forks for the namespace and overlayfs checks: call it while the process
/// is single-threaded.
pub fn run_all(options: &Options) -> Vec<Check> {
    let is_root = system::is_root();
    let mut checks = vec![system::root(), kernel::check()];
    checks.extend(namespaces::check_all(is_root));
    checks.push(cgroups::check());
    checks.push(overlay::check(is_root));
    checks.extend(sysctl::check_all(std::path::Path::new("/proc/sys")));
    checks.push(system::arch(std::env::consts::ARCH));
    checks.push(rootfs::check(&options.rootfs));
    checks.extend(system::tools());
    checks
}

/// How many checks failed.
pub fn problems(checks: &[Check]) -> usize {
    checks.iter().filter(|c| c.status == Status::Fail).count()
}

/// The process exit status for a report: 0 when nothing failed, 1 otherwise.
pub fn exit_status(checks: &[Check]) -> i32 {
    if problems(checks) == 0 { 0 } else { 1 }
}

/// The human report: a title, one line per check, a summary.
pub fn render_text(checks: &[Check]) -> String {
    // The names are padded to one column so the details line up, with at
    // least two spaces after the longest (a name may contain one space).
    let width = checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let width = width.max(16);
    let mut out = String::from("contain-rs-workshop doctor\n");
    for c in checks {
        let _ = write!(out, "{} {:<width$}{}", c.status.symbol(), c.name, c.detail);
        if let Some(fix) = &c.fix {
            let _ = write!(out, " — fix: {fix}");
        }
        out.push('\n');
    }
    let failed = problems(checks);
    let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
    let warnings = match warned {
        0 => String::new(),
        1 => " (1 warning, marked !)".to_owned(),
        n => format!(" ({n} warnings, marked !)"),
    };
    match failed {
        0 => {
            let _ = writeln!(out, "No problems found{warnings}: every step can run here.");
        }
        1 => {
            let _ = writeln!(
                out,
                "1 problem found{warnings}: the steps that need it will fail (see the fix above)."
            );
        }
        n => {
            let _ = writeln!(
                out,
                "{n} problems found{warnings}: the steps that need them will fail (see the fixes above)."
            );
        }
    }
    out
}

/// The same report for machines: `{"checks": [...], "problems": N, "warnings": N}`.
pub fn render_json(checks: &[Check]) -> String {
    #[derive(Serialize)]
    struct Report<'a> {
        checks: &'a [Check],
        problems: usize,
        warnings: usize,
    }
    let report = Report {
        checks,
        problems: problems(checks),
        warnings: checks.iter().filter(|c| c.status == Status::Warn).count(),
    };
    // Serializing plain strings and enums cannot fail.
    serde_json::to_string_pretty(&report).expect("a report serializes") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Check> {
        vec![
            Check::ok("root", "running as uid 0"),
            Check::warn("cgroups", "hybrid", None),
            Check::fail("rootfs", "/x is missing", "fetch it"),
        ]
    }

    #[test]
    fn text_has_one_line_per_check_with_its_mark_and_fix() {
        let text = render_text(&sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "contain-rs-workshop doctor");
        assert_eq!(lines[1], "✔ root            running as uid 0");
        assert_eq!(lines[2], "! cgroups         hybrid");
        assert_eq!(lines[3], "✘ rootfs          /x is missing — fix: fetch it");
        assert!(lines[4].starts_with("1 problem found (1 warning, marked !)"));
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn exit_status_is_one_only_when_something_fails() {
        let mut checks = sample();
        assert_eq!(exit_status(&checks), 1);
        checks.pop();
        assert_eq!(exit_status(&checks), 0, "a warning alone does not fail");
        assert!(render_text(&checks).contains("No problems found"));
    }

    #[test]
    fn json_carries_the_same_checks() {
        let json: serde_json::Value = serde_json::from_str(&render_json(&sample())).unwrap();
        assert_eq!(json["problems"], 1);
        assert_eq!(json["warnings"], 1);
        assert_eq!(json["checks"][2]["status"], "fail");
        assert_eq!(json["checks"][2]["fix"], "fetch it");
        assert_eq!(json["checks"][0]["fix"], serde_json::Value::Null);
    }
}
