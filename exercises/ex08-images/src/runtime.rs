// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step08's `main.rs`, with your `overlay`
// module in place of step08's, and an `image` module that is step08's but
// unpacks layers with your whiteout conversion. You do not need to change
// this file.
//
// It keeps step08's contract: `ex08 [--image REF] [--pull WHEN]
// [--image-store DIR] [--container-dir DIR] [--security-opt ...] [-t] [-i]
// [-e KEY=VALUE] [--cap-add CAP] [--cap-drop CAP] [--memory SIZE]
// [--cpus N] [--pids N] [--network veth|none] [--rootfs DIR]
// [--hostname NAME] [-x] [COMMAND...]`, the command's exit status, 125 when
// the runtime fails.

/// What the runtime uses of step08's `image` module: step08's
/// `container.rs` calls [`resolve`](image::resolve) (`Config::from_options`),
/// which pulls as step08 does and unpacks each layer with your
/// [`convert`](crate::whiteout::convert).
mod image {
    pub use step08::image::{Image, ImageOpt};

    /// step08's `resolve`, unpacking with your whiteout conversion.
    pub fn resolve(opt: &ImageOpt) -> anyhow::Result<Option<Image>> {
        step08::image::resolve_with(opt, crate::whiteout::convert)
    }
}
use step08::{
    caps, cgroup, clone_into_cgroup, devices, environ, masked, mount, net, pid, rootfs, seccomp,
    tty, user, uts,
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
