//! step06: capabilities and no_new_privs, and Docker's other defaults.

mod container;

// The chapters' modules, named at the crate root so that container.rs
// says `crate::pid` etc.: an exercise compiles this same container.rs
// with its own module in place of one of them.
use step06::{
    caps, cgroup, clone_into_cgroup, devices, environ, masked, mount, net, pid, rootfs, tty, uts,
};

use clap::Parser;

/// Runs COMMAND as step05 does, but with Docker's defaults: Docker's
/// capability set instead of all of root's (the rest dropped from the
/// bounding set, inheritable and ambient cleared, no_new_privs set), a
/// session and, with a terminal, a pseudo-terminal of its own, the masked
/// paths, a clean environment, Docker's device rules, and a PID 1 that keeps
/// nothing it does not use.
#[derive(Parser, Debug)]
#[command(
    name = "step06",
    version,
    after_help = "Examples:\n  \
    cargo run -p step06 -- grep Cap /proc/self/status    # CapEff 00000000a80425fb\n  \
    cargo run -p step06 -- hostname x                    # EPERM: CAP_SYS_ADMIN is gone\n  \
    cargo run -p step06 -- --cap-add SYS_ADMIN mount -t tmpfs none /mnt\n  \
    cargo run -p step06 -- --cap-drop NET_RAW ping -c1 host   # fails\n  \
    cargo run -p step06 -- -e GREETING=hi env             # PATH HOSTNAME HOME GREETING"
)]
struct Args {
    #[command(flatten)]
    options: container::Options,
}

fn main() {
    let args: Args = workshop::cli::parse();
    workshop::explain::init("step06", args.options.base.explain);
    workshop::exit::finish(run(args));
}

fn run(args: Args) -> anyhow::Result<i32> {
    workshop::cli::require_root()?;
    container::run(&container::Config::from_options(args.options)?)
}
