// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step03's `main.rs`, plus a `mount` module
// that is step03's with your `pivot_into` in place of its own. You do not
// need to change this file.
//
// It keeps step03's contract: `ex03 [--rootfs DIR] [--hostname NAME] [-x]
// [COMMAND...]`, the command's exit status, 125 when the runtime fails.

/// step03's `mount` module, with your [`pivot_into`](crate::pivot::pivot_into)
/// in place of the step's: step03's `container.rs` calls `mount::pivot_into`.
mod mount {
    // The explicit `use` shadows the `pivot_into` the glob brings in.
    pub use crate::pivot::pivot_into;
    pub use step03::mount::*;
}
use step03::{pid, uts};

use clap::Parser;
use step03::rootfs::RootfsOpt;
use workshop::cli::Base;

/// Runs COMMAND inside the rootfs (your pivot_root), with its own PID, mount,
/// UTS and IPC namespaces, a fresh /proc, a minimal /dev and a read-only /sys
/// (exercise 3).
#[derive(Parser, Debug)]
#[command(name = env!("CARGO_BIN_NAME"), version)]
struct Args {
    #[command(flatten)]
    rootfs: RootfsOpt,
    #[command(flatten)]
    base: Base,
}

fn main() {
    let args: Args = workshop::cli::parse();
    workshop::explain::init(env!("CARGO_BIN_NAME"), args.base.explain);
    workshop::exit::finish(run(args));
}

fn run(args: Args) -> anyhow::Result<i32> {
    workshop::cli::require_root()?;
    let rootfs = step03::rootfs::resolve(&args.rootfs)?;
    container::run(&container::Config {
        argv: args.base.argv(),
        hostname: args.base.hostname,
        rootfs,
    })
}
