//! `cargo xtask`: the workshop's maintenance commands.
//!
//! `cargo xtask test` is the one command that runs the whole test suite, the
//! same one `.ci/run` calls: formatting, clippy, every crate's tests (the
//! black-box ones run as root through the workspace's runner), and the
//! project-level checks that are not `cargo test`s.

mod bench;
mod bench_grader;
mod book;
mod breakit;
mod conformance;
mod escape;
mod holes;
mod kit;
mod soak;
mod teeth;
mod test;
mod vm;

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
    /// Time container start-up against crun and runc, and break step06's time down.
    Bench(bench::BenchArgs),
    /// Grade a synthetic class of 30 from cold: wall time, time per learner, every scorecard checked.
    BenchGrader(bench_grader::Args),
    /// Run the steps on a cgroup v2 kernel in qemu (see xtask/src/vm.rs).
    VmTest(vm::VmArgs),
    /// Check the lab VM's files: shellcheck, vagrant validate, provisioning on fakes.
    LabCheck,
    /// The book: check it, record the steps' outputs, load it in a browser.
    Book(book::Args),
    /// Run the book's "Break it" bullets: each patched step against its recorded outcome.
    BreakIt(breakit::Args),
    /// The runtime-tools validation suite against runc, crun and step10: points and files per runtime.
    Conformance(conformance::Args),
    /// Run step06 under load and faults; check that nothing leaks.
    Soak(soak::Args),
    /// The escape lab: every attack against every step; step06 must block all.
    Escape(escape::Args),
    /// Prove the exercises' tests have teeth: starters fail, solutions pass, every hole is tested.
    Teeth(teeth::Args),
    /// Build the offline kit for a classroom: vendored crates, the book, both Alpine tarballs, the Vagrant box.
    Kit(kit::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Test(args) => test::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchGrader(args) => bench_grader::run(args),
        Command::VmTest(args) => vm::run(args),
        Command::LabCheck => vm::lab_check(),
        Command::Book(args) => book::run(args),
        Command::BreakIt(args) => breakit::run(args),
        Command::Escape(args) => escape::run(args),
        Command::Conformance(args) => conformance::run(args),
        Command::Soak(args) => soak::run(args),
        Command::Teeth(args) => teeth::run(args),
        Command::Kit(args) => kit::run(args),
    }
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> std::path::PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}
