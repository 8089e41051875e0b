// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step07's `main.rs`, with step07's
// `seccomp` module compiled here as it is (the profiles, the BPF assembler
// and interpreter, `Filter`, `install`). That module takes `check_arch`,
// `decide` and `compare` from the crate's `filter` module, which here is
// yours. You do not need to change this file.
//
// It keeps step07's contract: `ex07 [--security-opt seccomp=FILE|unconfined]
// [-t] [-i] [-e KEY=VALUE] [--cap-add CAP] [--cap-drop CAP] [--memory SIZE]
// [--cpus N] [--pids N] [--network veth|none] [--rootfs DIR]
// [--hostname NAME] [-x] [COMMAND...]`, the command's exit status, 125 when
// the runtime fails.
//
// The exercise builds on step06 only: step07's own filter is not part of it.

/// step07's `seccomp` module; its `pub use crate::filter::*` brings in your
/// functions, and its `compile` assembles the program with them. Parts of
/// it serve the later steps, or your functions once written: unused here.
#[allow(dead_code)]
#[path = "../../../steps/step07/src/seccomp/mod.rs"]
mod seccomp;
use step06::{
    caps, cgroup, clone_into_cgroup, devices, environ, masked, mount, net, pid, rootfs, tty, uts,
};

use clap::Parser;

/// Runs COMMAND as step06 does, under a seccomp filter assembled by your
/// code: Docker's default profile unless `--security-opt` says otherwise.
/// Calls of another ABI kill the process, what the profile does not allow
/// fails with EPERM (exercise 7).
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
