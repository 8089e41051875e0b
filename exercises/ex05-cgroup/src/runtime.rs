// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step05's `main.rs`, plus a `cgroup`
// module that is step05's with your `Cgroup` in place of its own. You do not
// need to change this file.
//
// It keeps step05's contract: `ex05 [--memory SIZE] [--cpus N] [--pids N]
// [--network veth|none] [--rootfs DIR] [--hostname NAME] [-x] [COMMAND...]`,
// the command's exit status (137 after an OOM kill), 125 when the runtime
// fails.

/// step05's `cgroup` module, with your [`Cgroup`](crate::limits::Cgroup) in
/// place of the step's: step05's `container.rs` calls `Cgroup::create`,
/// `clone_into_fd`, `add_task`, `oom_kills`, `memory_limit` and `remove`.
mod cgroup {
    // The explicit `use` shadows the `Cgroup` the glob brings in.
    pub use crate::limits::Cgroup;
    pub use step05::cgroup::*;
}
use step05::{clone_into_cgroup, mount, net, pid, rootfs, uts};

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
