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
use step03::{pid, rootfs, uts};

use clap::Parser;

/// Runs COMMAND inside the rootfs (your pivot_root), with its own PID, mount,
/// UTS and IPC namespaces, a fresh /proc, a minimal /dev and a read-only /sys
/// (exercise 3).
#[derive(Parser, Debug)]
#[command(name = env!("CARGO_BIN_NAME"), version)]
struct Args {
    #[command(flatten)]
    options: container::Options,
}

fn main() {
    let args: Args = workshop::cli::parse();
    workshop::explain::init(env!("CARGO_BIN_NAME"), args.options.base.explain);
    workshop::exit::finish(run(args));
}

fn run(args: Args) -> anyhow::Result<i32> {
    workshop::cli::require_root()?;
    container::run(&container::Config::from_options(args.options)?)
}
