//! step06: capabilities and no_new_privs, and Docker's other defaults.

mod container;

// The chapters' modules, named at the crate root so that container.rs
// says `crate::pid` etc.: an exercise compiles this same container.rs
// with its own module in place of one of them.
use step06::{
    caps, cgroup, clone_into_cgroup, devices, environ, masked, mount, net, pid, tty, uts,
};

use clap::Parser;
use step06::caps::CapsOpt;
use step06::cgroup::LimitsOpt;
use step06::environ::EnvOpt;
use step06::net::NetworkOpt;
use step06::rootfs::RootfsOpt;
use step06::tty::TtyOpt;
use workshop::cli::Base;

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
    tty: TtyOpt,
    #[command(flatten)]
    env: EnvOpt,
    #[command(flatten)]
    caps: CapsOpt,
    #[command(flatten)]
    limits: LimitsOpt,
    #[command(flatten)]
    network: NetworkOpt,
    #[command(flatten)]
    rootfs: RootfsOpt,
    #[command(flatten)]
    base: Base,
}

fn main() {
    let args: Args = workshop::cli::parse();
    workshop::explain::init("step06", args.base.explain);
    workshop::exit::finish(run(args));
}

fn run(args: Args) -> anyhow::Result<i32> {
    workshop::cli::require_root()?;
    let rootfs = step06::rootfs::resolve(&args.rootfs)?;
    let stdio = tty::resolve(&args.tty, tty::is_terminal(0)).map_err(anyhow::Error::msg)?;
    let env = environ::resolve(
        &args.env,
        &args.base.hostname,
        stdio.tty,
        |key| std::env::var(key).ok(),
        |path| std::fs::read_to_string(path),
    )
    .map_err(anyhow::Error::msg)?;
    container::run(&container::Config {
        argv: args.base.argv(),
        hostname: args.base.hostname,
        rootfs,
        network: args.network.network,
        host_resolv: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        limits: args.limits,
        caps: step06::caps::resolve(&args.caps),
        stdio,
        env,
    })
}
