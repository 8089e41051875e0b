//! `cargo xtask`: the workshop's maintenance commands.
//!
//! `cargo xtask test` is the one command that runs the whole test suite, the
//! same one `.ci/run` calls: formatting, clippy, every crate's tests (the
//! black-box ones run as root through the workspace's runner), and the
//! project-level checks that are not `cargo test`s.

mod test;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "The workshop's maintenance commands")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything CI runs, phase by phase, and print a summary.
    Test(test::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Test(args) => test::run(args),
    }
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> std::path::PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}
