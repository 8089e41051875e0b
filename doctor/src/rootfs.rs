//! The Alpine rootfs step03 onwards pivot_root into. Whether it is there and
//! verified is the fetcher's business (`rootfs_fetcher::status`, which reads
//! the marker the fetcher leaves after verifying and unpacking); doctor only
//! reports it, and for a missing one prints the fetcher's exact command.
//!
//! Something at the destination without the fetcher's marker is a hand-made
//! or half-made tree. With a `/bin/sh` (what a step runs by default) the
//! steps can use it, so that is a warning; without one they cannot: a failure.

use std::path::Path;

use rootfs_fetcher::Status;

use crate::Check;

/// The `rootfs` line for `dest`.
pub fn check(dest: &Path) -> Check {
    judge(
        dest,
        rootfs_fetcher::status(dest),
        &rootfs_fetcher::fetch_command(dest),
    )
}

/// The verdict for what the fetcher says about `dest`; `fetch` is the command
/// that fetches it there.
pub fn judge(dest: &Path, status: Status, fetch: &str) -> Check {
    let shown = dest.display();
    match status {
        Status::Verified { sha512_or_sha256 } => Check::ok(
            "rootfs",
            format!(
                "{shown} is present and verified ({})",
                abbreviate(&sha512_or_sha256)
            ),
        ),
        Status::Missing => Check::fail(
            "rootfs",
            format!("{shown} is missing (step03 onwards need it)"),
            fetch,
        ),
        Status::Unverified(why) => {
            let replace = format!("to replace it with the pinned Alpine rootfs: {fetch} --force");
            // symlink_metadata: Alpine's /bin/sh is a symlink to /bin/busybox,
            // an absolute target that only resolves inside the container.
            if dest.join("bin/sh").symlink_metadata().is_ok() {
                Check::warn(
                    "rootfs",
                    format!(
                        "{shown} is present but not verified ({why}); the steps will use it as it is"
                    ),
                    Some(replace),
                )
            } else {
                Check::fail(
                    "rootfs",
                    format!("{shown} is present but not verified ({why}), and it has no /bin/sh"),
                    replace,
                )
            }
        }
    }
}

/// `sha512:0123456789ab…` rather than 128 hex digits on a report line.
fn abbreviate(tagged: &str) -> String {
    match tagged.split_once(':') {
        Some((algorithm, hex)) if hex.len() > 16 => format!("{algorithm}:{}…", &hex[..16]),
        _ => tagged.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status as Mark;

    const FETCH: &str = "cargo run -p rootfs-fetcher -- --dest /r";

    #[test]
    fn missing_fails_with_the_fetch_command_as_the_fix() {
        let c = judge(Path::new("/r"), Status::Missing, FETCH);
        assert_eq!(c.status, Mark::Fail);
        assert_eq!(c.detail, "/r is missing (step03 onwards need it)");
        assert_eq!(c.fix.as_deref(), Some(FETCH));
    }

    #[test]
    fn verified_passes_with_a_short_checksum() {
        let sum = format!("sha512:{}", "ab".repeat(64));
        let c = judge(
            Path::new("/r"),
            Status::Verified {
                sha512_or_sha256: sum,
            },
            FETCH,
        );
        assert_eq!(c.status, Mark::Ok);
        assert_eq!(
            c.detail,
            "/r is present and verified (sha512:abababababababab…)"
        );
    }

    #[test]
    fn unverified_warns_if_it_has_a_shell_and_fails_if_not() {
        let dir = tempfile::tempdir().unwrap();
        let why = || Status::Unverified("no marker".into());
        let c = judge(dir.path(), why(), FETCH);
        assert_eq!(c.status, Mark::Fail);
        assert!(c.fix.unwrap().ends_with("--force"));

        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::os::unix::fs::symlink("/bin/busybox-nowhere", dir.path().join("bin/sh")).unwrap();
        let c = judge(dir.path(), why(), FETCH);
        assert_eq!(c.status, Mark::Warn, "{c:?}");
        assert!(c.detail.contains("no marker"));
    }
}
