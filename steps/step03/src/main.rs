//! step03: a mount namespace and pivot_root onto the Alpine rootfs.

mod container;

// The chapters' modules, named at the crate root so that container.rs
// says `crate::pid` etc.: an exercise compiles this same container.rs
// with its own module in place of one of them.
use step03::{mount, pid, rootfs, uts};

use clap::Parser;

/// Runs COMMAND inside the rootfs (pivot_root), with its own PID, mount,
/// UTS and IPC namespaces, a fresh /proc, a minimal /dev and a read-only /sys.
#[derive(Parser, Debug)]
#[command(
    name = "step03",
    version,
    after_help = "Examples:\n  \
    cargo run -p step03 -- cat /etc/os-release        # Alpine, not the host\n  \
    cargo run -p step03 -- --rootfs /tmp/rootfs -x ls /\n\
    The rootfs is fetched on first use; or fetch it yourself:\n  \
    cargo run -p rootfs-fetcher"
)]
struct Args {
    #[command(flatten)]
    options: container::Options,
}

fn main() {
    let args: Args = workshop::cli::parse();
    workshop::explain::init("step03", args.options.base.explain);
    workshop::exit::finish(run(args));
}

fn run(args: Args) -> anyhow::Result<i32> {
    workshop::cli::require_root()?;
    container::run(&container::Config::from_options(args.options)?)
}
