//! Who we run as, what we run on, and what the learner has at hand.
//!
//! - root: creating namespaces, mounting and writing cgroup files all need
//!   `CAP_SYS_ADMIN` (and friends), which in the initial user namespace means
//!   root. `capabilities(7)`: <https://man7.org/linux/man-pages/man7/capabilities.7.html>
//! - the architecture: the rootfs fetcher pins an Alpine minirootfs for
//!   x86_64 and aarch64 only.
//! - the tools: the book pokes at containers from the host with `ip`
//!   (iproute2), `nsenter` and `lsns` (util-linux). No step runs them.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::Check;

/// The fix printed whenever we are not root.
pub const RUN_AS_ROOT: &str =
    "run it as root: cargo run -p doctor (the workspace runs it through sudo)";

/// Bit 21 of the capability sets (`linux/capability.h`).
const CAP_SYS_ADMIN: u32 = 21;

/// Is the effective uid 0?
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The `root` line.
pub fn root() -> Check {
    let euid = nix::unistd::geteuid().as_raw();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    judge_root(euid, effective_caps(&status))
}

/// Reads `CapEff:` (hex) out of `/proc/self/status`.
pub fn effective_caps(proc_status: &str) -> Option<u64> {
    proc_status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
}

/// Root and able to act as root: uid 0 alone is not enough inside a
/// container that dropped `CAP_SYS_ADMIN` (as step06 teaches to do).
pub fn judge_root(euid: u32, cap_eff: Option<u64>) -> Check {
    if euid != 0 {
        return Check::fail(
            "root",
            format!(
                "running as uid {euid}; the steps create namespaces, mounts and cgroups, which needs root"
            ),
            RUN_AS_ROOT,
        );
    }
    match cap_eff {
        Some(caps) if caps & (1 << CAP_SYS_ADMIN) == 0 => Check::fail(
            "root",
            format!(
                "running as uid 0 but without CAP_SYS_ADMIN (CapEff {caps:016x}): \
                 inside a container, or under a capability-dropping wrapper?"
            ),
            "run it as root on the lab VM (or a host, not inside a container)",
        ),
        _ => Check::ok("root", "running as uid 0"),
    }
}

/// The `arch` line, for the architecture this binary was built for (the
/// fetcher, built alongside, picks its rootfs the same way).
pub fn arch(arch: &str) -> Check {
    match arch {
        "x86_64" | "aarch64" => Check::ok(
            "arch",
            format!("{arch}: the rootfs fetcher has a pinned Alpine minirootfs for it"),
        ),
        other => Check::fail(
            "arch",
            format!("{other}: the rootfs fetcher pins a rootfs for x86_64 and aarch64 only"),
            format!(
                "pick the Alpine minirootfs for {other} from https://alpinelinux.org/downloads/ and give its \
                 URL and checksum: cargo run -p rootfs-fetcher -- --url URL --sha512 SUM"
            ),
        ),
    }
}

/// The tools the book uses, the package each comes from, and what for.
pub const TOOLS: [(&str, &str, &str); 3] = [
    ("ip", "iproute2", "looking at the veth pair in chapter 4"),
    (
        "nsenter",
        "util-linux",
        "entering a running container's namespaces",
    ),
    (
        "lsns",
        "util-linux",
        "listing the namespaces a container created",
    ),
];

/// One `tool NAME` line per tool: a warning when it is missing.
pub fn tools() -> Vec<Check> {
    let path = search_path(std::env::var_os("PATH"));
    TOOLS
        .iter()
        .map(|&(tool, package, used_for)| tool_check(tool, package, used_for, &path))
        .collect()
}

/// `$PATH`, plus the sbin directories: `sudo` may hand us a PATH without them,
/// and `ip` lives in /usr/sbin on Debian.
pub fn search_path(path_var: Option<std::ffi::OsString>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = path_var
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for extra in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        let extra = PathBuf::from(extra);
        if !dirs.contains(&extra) {
            dirs.push(extra);
        }
    }
    dirs
}

/// The first executable file called `name` in `dirs`.
pub fn find_program(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The `tool NAME` line.
pub fn tool_check(tool: &str, package: &str, used_for: &str, dirs: &[PathBuf]) -> Check {
    let name = format!("tool {tool}");
    match find_program(tool, dirs) {
        Some(found) => Check::ok(name, format!("{} (from {package})", found.display())),
        None => Check::warn(
            name,
            format!("not found: the book uses it for {used_for}; no step needs it"),
            Some(format!("sudo apt-get install {package}")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn non_root_fails_with_the_sudo_fix() {
        let c = judge_root(1000, Some(0));
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("uid 1000"));
        assert_eq!(c.fix.as_deref(), Some(RUN_AS_ROOT));
    }

    #[test]
    fn root_needs_cap_sys_admin_too() {
        assert_eq!(judge_root(0, Some(0x1ff_ffff_ffff)).status, Status::Ok);
        assert_eq!(judge_root(0, None).status, Status::Ok);
        let dropped = judge_root(0, Some(0x1ff_ffff_ffff & !(1 << 21)));
        assert_eq!(dropped.status, Status::Fail);
        assert!(dropped.detail.contains("CAP_SYS_ADMIN"));
    }

    #[test]
    fn cap_eff_is_read_from_proc_status() {
        let status = "Name:\tdoctor\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(effective_caps(status), Some(0x1ff_ffff_ffff));
        assert_eq!(effective_caps("Name:\tx\n"), None);
    }

    #[test]
    fn only_pinned_architectures_pass() {
        assert_eq!(arch("x86_64").status, Status::Ok);
        assert_eq!(arch("aarch64").status, Status::Ok);
        let riscv = arch("riscv64");
        assert_eq!(riscv.status, Status::Fail);
        let fix = riscv.fix.unwrap();
        assert!(fix.contains("--url") && fix.contains("--sha512"), "{fix}");
    }

    #[test]
    fn tools_are_found_on_the_path_and_missing_ones_warn() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("nsenter");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        let not_executable = dir.path().join("lsns");
        std::fs::write(&not_executable, "").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let dirs = vec![dir.path().to_path_buf()];

        let found = tool_check("nsenter", "util-linux", "x", &dirs);
        assert_eq!(found.status, Status::Ok);
        assert!(found.detail.contains(&tool.display().to_string()));

        let missing = tool_check("lsns", "util-linux", "x", &dirs);
        assert_eq!(missing.status, Status::Warn);
        assert!(missing.fix.unwrap().contains("apt-get install util-linux"));
    }

    #[test]
    fn sbin_is_searched_even_when_path_lacks_it() {
        let dirs = search_path(Some("/opt/bin".into()));
        assert_eq!(dirs[0], PathBuf::from("/opt/bin"));
        assert!(dirs.contains(&PathBuf::from("/usr/sbin")));
    }
}
