//! step05: cgroup limits on memory, CPU and processes.

mod container;

// The chapters' modules, named at the crate root so that container.rs
// says `crate::pid` etc.: an exercise compiles this same container.rs
// with its own module in place of one of them.
use step05::{cgroup, clone_into_cgroup, mount, net, pid, rootfs, uts};

use clap::Parser;

/// Runs COMMAND inside a cgroup of its own, with the limits given: memory
/// (OOM-killed past it, exit 137), CPU time (throttled past it) and the
/// number of processes (fork fails past it). cgroup v2, or v1 where the
/// controllers are still on v1.
#[derive(Parser, Debug)]
#[command(
    name = "step05",
    version,
    after_help = "Examples:\n  \
    cargo run -p step05 -- --memory 32m sh -c 'cat /proc/self/cgroup'\n  \
    cargo run -p step05 -- --cpus 0.2 sh -c 'while :; do :; done'   # 20% of one CPU\n  \
    cargo run -p step05 -- --pids 10 sh                              # a fork bomb stops at 10"
)]
struct Args {
    #[command(flatten)]
    options: container::Options,
}

fn main() {
    let args: Args = workshop::cli::parse();
    workshop::explain::init("step05", args.options.base.explain);
    workshop::exit::finish(run(args));
}

fn run(args: Args) -> anyhow::Result<i32> {
    workshop::cli::require_root()?;
    container::run(&container::Config::from_options(args.options)?)
}
