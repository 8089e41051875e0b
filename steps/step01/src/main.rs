//! step01: run a command with its own hostname.

use clap::Parser;
use workshop::cli::Base;

/// Runs COMMAND in a new UTS namespace with its own hostname.
#[derive(Parser, Debug)]
#[command(
    name = "step01",
    version,
    after_help = "Examples:\n  \
    cargo run -p step01 -- --hostname box-1 hostname     # prints box-1; the host keeps its name\n  \
    cargo run -p step01 -- -x                            # a shell, narrating each syscall"
)]
struct Args {
    #[command(flatten)]
    base: Base,
}

fn main() {
    let args: Args = workshop::cli::parse();
    workshop::explain::init("step01", args.base.explain);
    workshop::exit::finish(run(&args));
}

// ANCHOR: run
/// The whole container, in three calls: a new UTS namespace, a hostname,
/// and the command in place of this process (so its exit status and its
/// signals are simply the command's own).
fn run(args: &Args) -> anyhow::Result<i32> {
    workshop::cli::require_root()?;
    step01::uts::enter_new_uts(&args.base.hostname)?;
    workshop::exec::exec_command(&args.base.argv())
}
// ANCHOR_END: run
