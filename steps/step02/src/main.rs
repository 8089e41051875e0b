//! step02: a PID namespace with a real PID 1 and a fresh /proc.

mod container;

// The chapters' modules, named at the crate root so that container.rs
// says `crate::pid` etc.: an exercise compiles this same container.rs
// with its own module in place of one of them.
use step02::{pid, uts};

use clap::Parser;

/// Runs COMMAND as PID 2 of a new PID namespace, under a small init (PID 1)
/// that forwards signals and reaps zombies, with a fresh /proc and its own hostname.
#[derive(Parser, Debug)]
#[command(
    name = "step02",
    version,
    after_help = "Examples:\n  \
    cargo run -p step02 -- ps              # only the container's processes\n  \
    cargo run -p step02 -- -x sh -c 'echo $$; sleep 1 & exit 3'"
)]
struct Args {
    #[command(flatten)]
    options: container::Options,
}

fn main() {
    let args: Args = workshop::cli::parse();
    workshop::explain::init("step02", args.options.base.explain);
    workshop::exit::finish(run(args));
}

fn run(args: Args) -> anyhow::Result<i32> {
    workshop::cli::require_root()?;
    container::run(&container::Config::from_options(args.options)?)
}
