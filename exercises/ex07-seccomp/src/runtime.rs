// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step07's `main.rs`, plus a `seccomp`
// module that is step07's with your `check_arch` and `decide` (and through
// it your `compare`) in place of its own. You do not need to change this
// file.
//
// It keeps step07's contract: `ex07 [--security-opt seccomp=FILE|unconfined]
// [-t] [-i] [-e KEY=VALUE] [--cap-add CAP] [--cap-drop CAP] [--memory SIZE]
// [--cpus N] [--pids N] [--network veth|none] [--rootfs DIR]
// [--hostname NAME] [-v] [COMMAND...]`, the command's exit status, 125 when
// the runtime fails.

/// What the runtime uses of step07's `seccomp` module, yours in place of
/// the step's: `run` below calls [`resolve`](seccomp::resolve), which reads
/// the profile as step07 does and assembles the program with your functions
/// (step07's `compile_with`); step07's `container.rs` hands it to the
/// kernel with step07's `install`.
mod seccomp {
    pub use step07::seccomp::{Filter, install};
    use step07::seccomp::{Parts, SeccompOpt};

    /// Your parts of the program (`src/filter.rs`).
    pub const YOURS: Parts = Parts {
        check_arch: crate::filter::check_arch,
        decide: crate::filter::decide,
    };

    /// step07's `resolve`, assembling with [`YOURS`].
    pub fn resolve(opt: &SeccompOpt, caps: &::caps::CapsHashSet) -> Result<Option<Filter>, String> {
        step07::seccomp::resolve_with(YOURS, opt, caps)
    }
}
use step07::{caps, cgroup, devices, environ, masked, mount, net, pid, tty, uts};

use clap::Parser;
use step07::caps::CapsOpt;
use step07::cgroup::LimitsOpt;
use step07::environ::EnvOpt;
use step07::net::NetworkOpt;
use step07::rootfs::RootfsOpt;
use step07::seccomp::SeccompOpt;
use step07::tty::TtyOpt;
use workshop::cli::Base;

/// Runs COMMAND as step06 does, under a seccomp filter assembled by your
/// code: Docker's default profile unless `--security-opt` says otherwise.
/// Calls of another ABI kill the process, what the profile does not allow
/// fails with EPERM (exercise 7).
#[derive(Parser, Debug)]
#[command(name = env!("CARGO_BIN_NAME"), version)]
struct Args {
    #[command(flatten)]
    seccomp: SeccompOpt,
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
    let rootfs = step07::rootfs::resolve(&args.rootfs)?;
    let stdio = tty::resolve(&args.tty, tty::is_terminal(0)).map_err(anyhow::Error::msg)?;
    let env = environ::resolve(
        &args.env,
        &args.base.hostname,
        stdio.tty,
        |key| std::env::var(key).ok(),
        |path| std::fs::read_to_string(path),
    )
    .map_err(anyhow::Error::msg)?;
    let caps = step07::caps::resolve(&args.caps);
    // Compiled here, before anything is created: a bad profile is one line
    // and exit 125 with nothing to clean up.
    let seccomp = seccomp::resolve(&args.seccomp, &caps).map_err(anyhow::Error::msg)?;
    container::run(&container::Config {
        argv: args.base.argv(),
        hostname: args.base.hostname,
        rootfs,
        network: args.network.network,
        host_resolv: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        limits: args.limits,
        caps,
        stdio,
        env,
        seccomp,
    })
}
