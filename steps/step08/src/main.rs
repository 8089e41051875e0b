//! step08: step07, on a root of the container's own: an overlay over the
//! rootfs or an image's layers, pulled from a registry.

mod container;

// The chapters' modules, named at the crate root so that container.rs
// says `crate::pid` etc.: an exercise compiles this same container.rs
// with its own module in place of one of them.
use step08::{
    caps, cgroup, clone_into_cgroup, devices, environ, image, masked, mount, net, overlay, pid,
    rootfs, seccomp, tty, user, uts,
};

use clap::Parser;

/// Runs COMMAND as step07 does, on a root of its own: the rootfs (or the
/// layers of an image pulled with --image) is a read-only lower layer of an
/// overlay, and everything the container writes goes to this run's upper
/// layer, removed when the container ends. The rootfs stays as it was, and
/// two containers on one rootfs never see each other's files. An image's
/// config is honoured: Entrypoint and Cmd (when no COMMAND is given), Env,
/// WorkingDir, User.
#[derive(Parser, Debug)]
#[command(
    name = "step08",
    version,
    after_help = "Examples:\n  \
    cargo run -p step08 -- sh -c 'echo hi > /etc/motd; cat /etc/motd'   # a write of this run\n  \
    cargo run -p step08 -- cat /etc/motd                    # the rootfs's own: the write is gone\n  \
    cargo run -p step08 -- grep ' / / ' /proc/self/mountinfo   # / is an overlay\n  \
    cargo run -p step08 -- --image alpine:3.23              # pulled from Docker Hub, its Cmd\n  \
    cargo run -p step08 -- -x --image alpine:3.23 true 2>&1 | grep GET   # the registry API calls"
)]
struct Args {
    #[command(flatten)]
    options: container::Options,
}

fn main() {
    let args: Args = workshop::cli::parse();
    workshop::explain::init("step08", args.options.base.explain);
    workshop::exit::finish(run(args));
}

fn run(args: Args) -> anyhow::Result<i32> {
    workshop::cli::require_root()?;
    container::run(&container::Config::from_options(args.options)?)
}
