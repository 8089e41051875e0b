//! step08: step06, and a seccomp filter over everything the container runs.

mod container;

// The chapters' modules, named at the crate root so that container.rs
// says `crate::pid` etc.: an exercise compiles this same container.rs
// with its own module in place of one of them.
use step08::{
    caps, cgroup, clone_into_cgroup, devices, environ, masked, mount, net, pid, rootfs, seccomp,
    tty, uts,
};

use clap::Parser;

/// Runs COMMAND as step06 does, under a seccomp filter: Docker's default
/// profile unless `--security-opt` says otherwise. The kernel runs the
/// filter on every syscall of the container: calls of another ABI kill the
/// process, clone3 fails with ENOSYS, what Docker's profile does not allow
/// fails with EPERM (keyctl, add_key, io_uring_setup, unshare and clone of
/// namespaces, bpf, perf_event_open, userfaultfd, kexec_load, mount, ...).
#[derive(Parser, Debug)]
#[command(
    name = "step08",
    version,
    after_help = "Examples:\n  \
    cargo run -p step08 -- grep Seccomp /proc/self/status      # Seccomp: 2 (a filter)\n  \
    cargo run -p step08 -- unshare -U true                     # Operation not permitted\n  \
    cargo run -p step08 -- --security-opt seccomp=unconfined unshare -U true   # works\n  \
    cargo run -p step08 -- --security-opt seccomp=default.json ls   # moby's own profile\n  \
    cargo run -p step08 -- -x true 2>&1 | grep seccomp         # what the kernel received"
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
