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
/// step's: `run` below calls [`resolve`](crate::privileges::resolve), and
/// step06's `container.rs` calls [`apply`](crate::privileges::apply) in the
/// command's process just before `execve`. Nothing else of step06's module
/// is needed.
mod caps {
    pub use crate::privileges::{apply, resolve};
    // PID 1's own privileges after the command started: step06's, which
    // calls step06's `apply` (the command's sets are yours).
    pub use step06::caps::confine_init;
}
use step06::{cgroup, clone_into_cgroup, devices, environ, masked, mount, net, pid, tty, uts};

use clap::Parser;
use step06::caps::CapsOpt;
use step06::cgroup::LimitsOpt;
use step06::environ::EnvOpt;
use step06::tty::TtyOpt;
use step06::net::NetworkOpt;
use step06::rootfs::RootfsOpt;
use workshop::cli::Base;

/// Runs COMMAND as step05 does, but with Docker's default capability set
/// (your code): everything else is dropped from the bounding set,
/// inheritable and ambient are cleared, and no_new_privs is set
/// (exercise 6).
#[derive(Parser, Debug)]
#[command(name = env!("CARGO_BIN_NAME"), version)]
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
    workshop::explain::init(env!("CARGO_BIN_NAME"), args.base.explain);
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
        caps: caps::resolve(&args.caps),
        stdio,
        env,
    })
}
