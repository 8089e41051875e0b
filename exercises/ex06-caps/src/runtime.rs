// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step06's `main.rs`, plus a `caps` module
// that is step06's with your `resolve` and `apply` in place of its own. You
// do not need to change this file.
//
// It keeps step06's contract: `ex06 [--cap-add CAP] [--cap-drop CAP]
// [--memory SIZE] [--cpus N] [--pids N] [--network veth|none] [--rootfs DIR]
// [--hostname NAME] [-x] [COMMAND...]`, the command's exit status, 125 when
// the runtime fails.

/// What the runtime uses of step06's `caps` module, yours in place of the
/// step's: step06's `container.rs` calls
/// [`resolve`](crate::privileges::resolve) to turn the flags into a set
/// (`Config::from_options`), and [`apply`](crate::privileges::apply) in the
/// command's process just before `execve`. The rest is step06's.
mod caps {
    pub use crate::privileges::{apply, resolve};
    // The flags `resolve` reads, as step06 spells them.
    pub use step06::caps::CapsOpt;
    // PID 1's own privileges after the command started: step06's, which
    // calls step06's `apply` (the command's sets are yours).
    pub use step06::caps::confine_init;
}
use step06::{
    cgroup, clone_into_cgroup, devices, environ, masked, mount, net, pid, rootfs, tty, uts,
};

use clap::Parser;

/// Runs COMMAND as step05 does, but with Docker's default capability set
/// (your code): everything else is dropped from the bounding set,
/// inheritable and ambient are cleared, and no_new_privs is set
/// (exercise 6).
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
