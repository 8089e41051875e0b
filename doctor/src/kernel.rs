//! The kernel version, against the newest features the steps use.
//!
//! | feature | since | used for |
//! |---|---|---|
//! | `clone3(2)` | 5.3 | creating the container process with its namespaces |
//! | `CLONE_INTO_CGROUP` | 5.7 | starting the container already inside its cgroup (step05) |
//! | `cgroup.kill` | 5.14 | killing everything in a cgroup at once (cgroup v2) |
//!
//! `uname(2)`: <https://man7.org/linux/man-pages/man2/uname.2.html>.

use crate::Check;

/// A kernel release as three numbers: 6.18.44.
pub type Version = (u32, u32, u32);

/// No `clone3` below this: the steps cannot create their process.
pub const CLONE3: Version = (5, 3, 0);
/// No `CLONE_INTO_CGROUP` below this.
pub const CLONE_INTO_CGROUP: Version = (5, 7, 0);
/// No `cgroup.kill` below this.
pub const CGROUP_KILL: Version = (5, 14, 0);

const FIX: &str =
    "use the lab VM (vagrant up), whose kernel is new enough, or upgrade this machine's kernel";

/// The `kernel` line for the running kernel.
pub fn check() -> Check {
    match nix::sys::utsname::uname() {
        Ok(uts) => judge(&uts.release().to_string_lossy()),
        Err(e) => Check::fail(
            "kernel",
            format!("uname() failed: {e}"),
            "see why uname(2) fails here",
        ),
    }
}

/// Parses `6.18.44-fc-v669` or `5.15.0-91-generic` into (major, minor, patch);
/// a missing patch level counts as 0.
pub fn parse_release(release: &str) -> Option<Version> {
    let mut parts = release.split('.').map(|part| {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    let major = parts.next()??;
    let minor = parts.next()??;
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// The verdict for a release string.
pub fn judge(release: &str) -> Check {
    let Some(version) = parse_release(release) else {
        return Check::warn(
            "kernel",
            format!("cannot read a version out of {release:?}; the steps need 5.7 or later"),
            None,
        );
    };
    if version < CLONE3 {
        Check::fail(
            "kernel",
            format!("{release}: too old, the steps need clone3 (5.3) and CLONE_INTO_CGROUP (5.7)"),
            FIX,
        )
    } else if version < CLONE_INTO_CGROUP {
        Check::warn(
            "kernel",
            format!(
                "{release}: clone3 works (5.3+), but CLONE_INTO_CGROUP needs 5.7 and cgroup.kill 5.14; \
                 step05 will not be able to start a container inside its cgroup"
            ),
            Some(FIX.to_owned()),
        )
    } else if version < CGROUP_KILL {
        Check::ok(
            "kernel",
            format!(
                "{release} (the steps need 5.7 or later; cgroup.kill needs 5.14, so a cgroup is emptied process by process here)"
            ),
        )
    } else {
        Check::ok("kernel", format!("{release} (the steps need 5.7 or later)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn releases_parse_with_their_suffixes() {
        assert_eq!(parse_release("6.18.44-fc-v669"), Some((6, 18, 44)));
        assert_eq!(parse_release("5.15.0-91-generic"), Some((5, 15, 0)));
        assert_eq!(parse_release("6.1"), Some((6, 1, 0)));
        assert_eq!(parse_release("5.10.0+"), Some((5, 10, 0)));
        assert_eq!(parse_release("6-rc1"), None);
        assert_eq!(parse_release("garbage"), None);
    }

    #[test]
    fn thresholds_are_5_3_and_5_7() {
        assert_eq!(judge("4.19.0").status, Status::Fail);
        assert_eq!(judge("5.2.21").status, Status::Fail);
        assert_eq!(judge("5.3.0").status, Status::Warn);
        assert_eq!(judge("5.6.19").status, Status::Warn);
        assert_eq!(judge("5.7.0").status, Status::Ok);
        assert!(judge("5.10.0").detail.contains("cgroup.kill"));
        let new = judge("6.18.44-fc-v669");
        assert_eq!(new.status, Status::Ok);
        assert_eq!(new.detail, "6.18.44-fc-v669 (the steps need 5.7 or later)");
        assert!(judge("4.19.0").fix.unwrap().contains("lab VM"));
    }

    #[test]
    fn unreadable_release_only_warns() {
        assert_eq!(judge("weird").status, Status::Warn);
    }
}
