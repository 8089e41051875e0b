// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step03's `main.rs`, with step03's `mount`
// and `rootfs` modules compiled here as they are. `mount` takes
// `pivot_into` from the crate's `pivot` module, which here is yours. You do
// not need to change this file.
//
// It keeps step03's contract: `ex03 [--rootfs DIR] [--hostname NAME] [-x]
// [COMMAND...]`, the command's exit status, 125 when the runtime fails.
//
// The exercise builds on step02 only: step03's own `pivot_into` is not part
// of it.

/// step03's `mount` module: `/dev`, `/sys`, `/proc`, `--no-pivot`; its
/// `pub use crate::pivot::*` brings in your
/// [`pivot_into`](crate::pivot::pivot_into).
#[path = "../../../steps/step03/src/mount.rs"]
mod mount;
#[path = "../../../steps/step03/src/rootfs.rs"]
mod rootfs;
use step02::{pid, uts};

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
