// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step09's `main.rs`, with your `userns`
// module in place of step09's; chapters 1 to 8 are step08's modules. You
// do not need to change this file.
//
// It keeps step09's contract: `ex09 [--userns host|remap] [--image REF]
// [--pull WHEN] [--image-store DIR] [--container-dir DIR]
// [--security-opt ...] [-t] [-i] [-e KEY=VALUE] [--cap-add CAP]
// [--cap-drop CAP] [--memory SIZE] [--cpus N] [--pids N]
// [--network veth|none|pasta|slirp4netns] [--rootfs DIR] [--hostname NAME]
// [-x] [COMMAND...]`, the command's exit status, 125 when the runtime
// fails. Run by an ordinary user it needs no root: `.cargo/as-root` runs
// it as you, as it runs step09.

use step08::{
    caps, cgroup, clone_into_cgroup, devices, environ, image, masked, mount, net, overlay, pid,
    rootfs, seccomp, tty, user, uts, whiteout,
};

use clap::Parser;

/// Runs COMMAND as step08 does, in a user namespace of its own: run by an
/// ordinary user (no sudo), the container's root is that user on the host,
/// and its other users are the user's range in /etc/subuid, by maps of your
/// making (exercise 9). As root, `--userns remap` maps container root to
/// root's range in /etc/subuid.
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
    // No require_root: that is the point of this chapter.
    container::run(&container::Config::from_options(args.options)?)
}
