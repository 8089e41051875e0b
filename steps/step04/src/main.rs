//! step04: a network namespace with a veth pair to the host.

mod container;

// The chapters' modules, named at the crate root so that container.rs
// says `crate::pid` etc.: an exercise compiles this same container.rs
// with its own module in place of one of them.
use step04::{mount, net, pid, rootfs, uts};

use clap::Parser;

/// Runs COMMAND in its own network namespace too: with `--network veth`
/// (the default) it gets eth0 at 10.200.x.2/30, wired to a host end at
/// 10.200.x.1 that is called `host` inside; with `--network none`, only lo.
#[derive(Parser, Debug)]
#[command(
    name = "step04",
    version,
    after_help = "Examples:\n  \
    cargo run -p step04 -- ip addr                 # lo and eth0\n  \
    cargo run -p step04 -- ping -c 1 host          # the host end answers\n  \
    cargo run -p step04 -- --network none ip link  # lo only"
)]
struct Args {
    #[command(flatten)]
    options: container::Options,
}

fn main() {
    let args: Args = workshop::cli::parse();
    workshop::explain::init("step04", args.options.base.explain);
    workshop::exit::finish(run(args));
}

fn run(args: Args) -> anyhow::Result<i32> {
    workshop::cli::require_root()?;
    container::run(&container::Config::from_options(args.options)?)
}
