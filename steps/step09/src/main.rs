//! step09: step08, in a user namespace: run by an ordinary user, no sudo,
//! root inside and that user outside.

mod container;

// The chapters' modules, named at the crate root so that container.rs
// says `crate::pid` etc.: an exercise compiles this same container.rs
// with its own module in place of one of them.
use step09::{
    caps, cgroup, clone_into_cgroup, devices, environ, image, masked, mount, net, overlay, pid,
    rootfs, rootless, seccomp, tty, user, userns, uts, whiteout,
};

use clap::Parser;

/// Runs COMMAND as step08 does, in a user namespace of its own: run by an
/// ordinary user (no sudo), the container's root is that user on the host,
/// and its other users are the user's range in /etc/subuid. What needs root
/// on the host changes: the rootfs, images and run directories are in
/// ~/.local/share/contain-rs-workshop; the network is pasta or slirp4netns;
/// the cgroup is one delegated to you, or none. As root, `--userns remap`
/// maps container root to root's range in /etc/subuid.
#[derive(Parser, Debug)]
#[command(
    name = "step09",
    version,
    after_help = "Examples (as yourself, not root):\n  \
    cargo run -p step09 -- id                                # uid=0(root) inside\n  \
    cargo run -p step09 -- cat /proc/self/uid_map            # 0 <your uid> 1 ...\n  \
    cargo run -p step09 -- sleep 60 & ps -o user,pid,cmd -C sleep   # you, outside\n  \
    cargo run -p step09 -- --network none ip addr           # only lo\n  \
    sudo target/debug/step09 --userns remap -- id            # root's range, as root"
)]
struct Args {
    #[command(flatten)]
    options: container::Options,
}

fn main() {
    let args: Args = workshop::cli::parse();
    workshop::explain::init("step09", args.options.base.explain);
    workshop::exit::finish(run(args));
}

fn run(args: Args) -> anyhow::Result<i32> {
    // No require_root: that is the point of this step.
    container::run(&container::Config::from_options(args.options)?)
}
