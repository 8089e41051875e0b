//! The Alpine rootfs step03 onwards pivot_root into. Whether it is there and
//! verified is the fetcher's business (`rootfs_fetcher::status`); doctor only
//! reports it, and for a missing one prints the fetcher's exact command.

use std::path::Path;

use rootfs_fetcher::Status;

use crate::Check;

/// The `rootfs` line for `dest`.
pub fn check(dest: &Path) -> Check {
    judge(dest, rootfs_fetcher::status(dest), &rootfs_fetcher::fetch_command(dest))
}

/// The verdict for what the fetcher says about `dest`; `fetch` is the command
/// that fetches it there.
pub fn judge(dest: &Path, status: Status, fetch: &str) -> Check {
    let shown = dest.display();
    match status {
        Status::Verified { sha512_or_sha256 } => {
            Check::ok("rootfs", format!("{shown} is present and verified ({sha512_or_sha256})"))
        }
        Status::Missing => Check::fail(
            "rootfs",
            format!("{shown} is missing (step03 onwards need it)"),
            fetch,
        ),
        Status::Unverified(why) => Check::fail(
            "rootfs",
            format!("{shown} is present but not verified: {why}"),
            format!("fetch it again: {fetch} --force"),
        ),
    }
}
