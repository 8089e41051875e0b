// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step08's `main.rs`, with step08's
// `image`, `rundir` and `user` modules compiled here as they are; your
// `overlay` and `whiteout` modules take the place of step08's. You do not
// need to change this file.
//
// It keeps step08's contract: `ex08 [--image REF] [--pull WHEN]
// [--image-store DIR] [--container-dir DIR] [--security-opt ...] [-t] [-i]
// [-e KEY=VALUE] [--cap-add CAP] [--cap-drop CAP] [--memory SIZE]
// [--cpus N] [--pids N] [--network veth|none] [--rootfs DIR]
// [--hostname NAME] [-x] [COMMAND...]`, the command's exit status, 125 when
// the runtime fails.
//
// The exercise builds on step07 only: step08's own overlay and whiteout
// code is not part of it.

/// step08's registry client and image store; it unpacks each layer with
/// your `whiteout::convert`.
#[path = "../../../steps/step08/src/image/mod.rs"]
mod image;
/// step08's run directories (`ws-<pid>/{upper,work,merged}`).
#[path = "../../../steps/step08/src/rundir.rs"]
mod rundir;
/// step08's image user (`USER` of the image config).
#[path = "../../../steps/step08/src/user.rs"]
mod user;
use step07::{
    caps, cgroup, clone_into_cgroup, devices, environ, masked, mount, net, pid, rootfs, seccomp,
    tty, uts,
};

use clap::Parser;

/// Runs COMMAND as step07 does, on a root of its own: an overlay of your
/// making over the rootfs, or over the layers of an image pulled with
/// --image (exercise 8).
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
