//! `cargo xtask book`: keeps the book (`book/`, an mdBook) true to the code.
//!
//! - [`check()`] (`check.rs`): every `{{#include}}` names a file and an anchor that exist
//!   (mdbook only warns), no Rust listing is pasted, every recorded output
//!   comes from a [`RECORDINGS`] entry, every syscall and flag the steps use
//!   is in the reference chapter, relative links and images resolve, and
//!   `mdbook build` succeeds without a single warning; and no chapter prints
//!   the function its exercise asks for before the exercise (`holes.rs`).
//! - [`record()`] (`record.rs`): runs the step binaries for real, as root, and writes what
//!   they print into `book/src/recorded/`, where the chapters include it.
//! - [`browser_check()`] (`browser.rs`): loads the built HTML in headless Chromium over the
//!   DevTools protocol: no console error, no failed request, every diagram
//!   rendered, search answers; screenshots land in `target/book-check/`.

mod browser;
mod check;
mod holes;
mod record;

use std::path::PathBuf;

use anyhow::Result;

pub use browser::{browser_check, browser_check_at};
pub(crate) use check::mdbook;
pub use check::{check, check_at};
pub use record::{RECORDINGS, record};

/// The mdbook release CI installs and the book is checked with: the
/// current one. Any 0.5 release is accepted (the book has nothing that
/// depends on a patch release).
pub const MDBOOK_VERSION: &str = "0.5.4";

/// Whether `mdbook --version` output (`mdbook v0.5.4`) is a release the
/// book is checked with: the 0.5 series.
pub(crate) fn supported_mdbook(version: &str) -> bool {
    version
        .trim()
        .strip_prefix("mdbook v")
        .is_some_and(|v| v.starts_with("0.5."))
}

/// The reference chapter every syscall and flag of the steps must appear in.
pub(crate) const REFERENCE: &str = "reference.md";

/// `cargo xtask book ...`
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: BookCommand,
}

#[derive(clap::Subcommand)]
enum BookCommand {
    /// Includes and anchors exist, the reference is complete, mdbook builds with no warning.
    Check {
        /// Check this copy of the workspace instead (it needs book/ and steps/).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
    /// Re-run the steps and rewrite book/src/recorded/ (needs root).
    Record {
        /// Only the recordings whose file name contains one of these.
        #[arg(value_name = "NAME")]
        only: Vec<String>,
    },
    /// Load the built book in headless Chromium: no console errors, diagrams render.
    BrowserCheck {
        /// Check the book of this copy of the workspace instead.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
}

/// Runs `cargo xtask book SUBCOMMAND`.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        BookCommand::Check { root: None } => check(),
        BookCommand::Check { root: Some(root) } => check_at(&root),
        BookCommand::Record { only } if only.is_empty() => record(),
        BookCommand::Record { only } => record::record_only(&only),
        BookCommand::BrowserCheck { root: None } => browser_check(),
        BookCommand::BrowserCheck { root: Some(root) } => browser_check_at(&root),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_mdbook_series_is_accepted() {
        assert!(supported_mdbook("mdbook v0.5.4\n"));
        assert!(supported_mdbook(&format!("mdbook v{MDBOOK_VERSION}")));
        assert!(supported_mdbook("mdbook v0.5.0"));
        assert!(!supported_mdbook("mdbook v0.4.52"));
        assert!(!supported_mdbook("mdbook v0.6.0"));
    }
}
