//! The sysctls that decide whether an *unprivileged* user may create a user
//! namespace. Steps 1 to 8 run as root, so neither stops them: they matter
//! to step09 (chapter 9, run as an ordinary user) and to rootless
//! experiments (`unshare -Ur`, rootless podman). Hence warnings, never
//! failures.
//!
//! - `kernel.unprivileged_userns_clone`: a Debian/Ubuntu kernel patch
//!   (absent from mainline). 0: only a privileged process may create a user
//!   namespace; 1: anyone may.
//! - `kernel.apparmor_restrict_unprivileged_userns` (Ubuntu 23.10+): 1 means
//!   an unprivileged process may still create a user namespace, but AppArmor
//!   gives it no capabilities inside it unless a profile allows it, so the
//!   first mount or sethostname there fails with EPERM.
//!
//! `user_namespaces(7)`: <https://man7.org/linux/man-pages/man7/user_namespaces.7.html>

use std::path::Path;

use crate::Check;

/// Both lines, reading under `proc_sys` (normally `/proc/sys`).
pub fn check_all(proc_sys: &Path) -> Vec<Check> {
    let read = |name: &str| {
        std::fs::read_to_string(proc_sys.join("kernel").join(name))
            .ok()
            .map(|v| v.trim().to_owned())
    };
    vec![
        userns_clone(read("unprivileged_userns_clone").as_deref()),
        apparmor_restrict(
            read("apparmor_restrict_unprivileged_userns").as_deref(),
            Path::new(PROFILE).exists(),
        ),
    ]
}

/// The `userns_clone` line for the value of `kernel.unprivileged_userns_clone`
/// (`None`: the file does not exist on this kernel).
pub fn userns_clone(value: Option<&str>) -> Check {
    const NAME: &str = "userns_clone";
    match value {
        None => Check::ok(
            NAME,
            "kernel.unprivileged_userns_clone does not exist here (a Debian/Ubuntu patch): it restricts nothing",
        ),
        Some("0") => Check::warn(
            NAME,
            "kernel.unprivileged_userns_clone = 0: only root may create user namespaces; \
             steps 1 to 8 run as root and are unaffected, step09 (chapter 9) and rootless experiments get EPERM",
            Some(
                "for step09 and rootless experiments: sudo sysctl -w kernel.unprivileged_userns_clone=1"
                    .to_owned(),
            ),
        ),
        Some(v) => Check::ok(
            NAME,
            format!(
                "kernel.unprivileged_userns_clone = {v}: unprivileged users may create user namespaces"
            ),
        ),
    }
}

/// The workshop's AppArmor profile for step09 and ex09, as lab/provision.sh
/// installs it (from lab/apparmor-contain-rs-workshop).
pub const PROFILE: &str = "/etc/apparmor.d/contain-rs-workshop";

/// The `apparmor userns` line for the value of
/// `kernel.apparmor_restrict_unprivileged_userns` (`None`: no such file),
/// and whether the workshop's profile is installed.
pub fn apparmor_restrict(value: Option<&str>, profile: bool) -> Check {
    const NAME: &str = "apparmor userns";
    match value {
        None => Check::ok(
            NAME,
            "kernel.apparmor_restrict_unprivileged_userns does not exist here (Ubuntu 23.10+): it restricts nothing",
        ),
        Some("0") => Check::ok(
            NAME,
            "kernel.apparmor_restrict_unprivileged_userns = 0: AppArmor does not restrict user namespaces",
        ),
        Some(v) if profile => Check::ok(
            NAME,
            format!(
                "kernel.apparmor_restrict_unprivileged_userns = {v}, and {PROFILE} allows step09 and ex09 \
                 their user namespaces"
            ),
        ),
        Some(v) => Check::warn(
            NAME,
            format!(
                "kernel.apparmor_restrict_unprivileged_userns = {v}: an unprivileged user's new user namespace \
                 gets no capabilities, so step09 (chapter 9) refuses to start; steps 1 to 8 run as root and are unaffected"
            ),
            Some(format!(
                "install the workshop's profile: sudo cp lab/apparmor-contain-rs-workshop {PROFILE} && \
                 sudo apparmor_parser -r {PROFILE} (lab/provision.sh does), or until reboot: \
                 sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
            )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn values_are_read_from_the_sysctl_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("kernel")).unwrap();
        let checks = check_all(dir.path());
        assert!(
            checks.iter().all(|c| c.status == Status::Ok),
            "absent files restrict nothing"
        );

        std::fs::write(dir.path().join("kernel/unprivileged_userns_clone"), "0\n").unwrap();
        std::fs::write(
            dir.path()
                .join("kernel/apparmor_restrict_unprivileged_userns"),
            "1\n",
        )
        .unwrap();
        let checks = check_all(dir.path());
        assert_eq!(checks[0].status, Status::Warn);
        assert!(checks[0].detail.contains("= 0"));
        assert_eq!(checks[1].status, Status::Warn);
        assert!(
            checks[1]
                .fix
                .as_deref()
                .unwrap()
                .contains("apparmor_restrict_unprivileged_userns=0")
        );
    }

    #[test]
    fn permissive_values_pass_and_restrictive_ones_never_fail() {
        assert_eq!(userns_clone(Some("1")).status, Status::Ok);
        assert_eq!(apparmor_restrict(Some("0"), false).status, Status::Ok);
        assert_eq!(apparmor_restrict(Some("1"), true).status, Status::Ok);
        for c in [userns_clone(Some("0")), apparmor_restrict(Some("1"), false)] {
            assert_eq!(c.status, Status::Warn);
            assert!(c.detail.contains("run as root"), "{}", c.detail);
        }
    }
}
