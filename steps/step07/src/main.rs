//! step07: step06, and a seccomp filter over everything the container runs.

mod container;

// The chapters' modules, named at the crate root so that container.rs
// says `crate::pid` etc.: an exercise compiles this same container.rs
// with its own module in place of one of them.
use step07::{caps, cgroup, devices, environ, masked, mount, net, pid, seccomp, tty, uts};

use clap::Parser;
use step07::caps::CapsOpt;
use step07::cgroup::LimitsOpt;
use step07::environ::EnvOpt;
use step07::net::NetworkOpt;
use step07::rootfs::RootfsOpt;
use step07::seccomp::SeccompOpt;
use step07::tty::TtyOpt;
use workshop::cli::Base;

/// Runs COMMAND as step06 does, under a seccomp filter: Docker's default
/// profile unless `--security-opt` says otherwise. The kernel runs the
/// filter on every syscall of the container: calls of another ABI kill the
/// process, clone3 fails with ENOSYS, what Docker's profile does not allow
/// fails with EPERM (keyctl, add_key, io_uring_setup, unshare and clone of
/// namespaces, bpf, perf_event_open, userfaultfd, kexec_load, mount, ...).
#[derive(Parser, Debug)]
#[command(
    name = "step07",
    version,
    after_help = "Examples:\n  \
    cargo run -p step07 -- grep Seccomp /proc/self/status      # Seccomp: 2 (a filter)\n  \
    cargo run -p step07 -- unshare -U true                     # Operation not permitted\n  \
    cargo run -p step07 -- --security-opt seccomp=unconfined unshare -U true   # works\n  \
    cargo run -p step07 -- --security-opt seccomp=default.json ls   # moby's own profile\n  \
    cargo run -p step07 -- --explain true 2>&1 | grep seccomp  # what the kernel received"
)]
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
    workshop::explain::init("step07", args.base.explain);
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
