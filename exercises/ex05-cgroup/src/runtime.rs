// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step05's `main.rs`, with step05's
// `cgroup` and `clone_into_cgroup` modules compiled here as they are. They
// take what is yours from the crate's `leaf` module: the cgroup module
// re-exports it (`pub use crate::leaf::*`) and calls `create_v2_leaf`,
// `write_v2_limits`, `create_v1_leaf`, `write_v1_limits` and `join`;
// `clone3` calls your `CloneExtra` for `IntoCgroup`. You do not need to
// change this file.
//
// It keeps step05's contract: `ex05 [--memory SIZE] [--cpus N] [--pids N]
// [--network veth|none] [--rootfs DIR] [--hostname NAME] [-x] [COMMAND...]`,
// the command's exit status (137 after an OOM kill), 125 when the runtime
// fails.
//
// The exercise builds on step04 only: step05's own leaf.rs is not part of it.

/// step05's `cgroup` module (with its unit tests, `cgroup/tests.rs`, on
/// fake cgroup trees). Parts of it serve the later steps and tools
/// (`reset`, the list of controllers, the parsers): unused here.
#[allow(dead_code, unused_imports)]
#[path = "../../../steps/step05/src/cgroup/mod.rs"]
mod cgroup;
/// step05's `IntoCgroup`, for which you write `CloneExtra` (with its
/// `CLONE_INTO_CGROUP`, unused until you do).
#[allow(dead_code)]
#[path = "../../../steps/step05/src/clone_into_cgroup.rs"]
mod clone_into_cgroup;
use step04::{mount, net, pid, rootfs, uts};

use clap::Parser;

/// Runs COMMAND inside a cgroup of its own (your code), with the limits
/// given: memory (OOM-killed past it, exit 137), CPU time (throttled past
/// it) and the number of processes (fork fails past it) (exercise 5).
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
