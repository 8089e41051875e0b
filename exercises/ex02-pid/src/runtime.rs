// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step02's `main.rs`, plus a `pid` module
// that is step02's with your `init` in place of its own. You do not need to
// change this file.
//
// It keeps step02's contract: `ex02 [--hostname NAME] [-x] [COMMAND...]`,
// the command's exit status (128+N for a signal), 125 when the runtime fails.

/// step02's `pid` module, with your [`init`](crate::init::init) in place of
/// the step's: step02's `container.rs` calls `pid::init` for PID 1.
mod pid {
    // The explicit `use` shadows the `init` the glob brings in.
    pub use crate::init::init;
    pub use step02::pid::*;
}
use step02::uts;

use clap::Parser;

/// Runs COMMAND as PID 2 of a new PID namespace, under your init (PID 1),
/// with a fresh /proc and its own hostname (exercise 2).
#[derive(Parser, Debug)]
#[command(name = env!("CARGO_BIN_NAME"), version)]
struct Args {
    #[command(flatten)]
    options: container::Options,
}

fn main() {
    let args: Args = workshop::cli::parse();
    workshop::explain::init(env!("CARGO_BIN_NAME"), args.options.base.explain);
    workshop::exit::finish(run(args));
}

fn run(args: Args) -> anyhow::Result<i32> {
    workshop::cli::require_root()?;
    container::run(&container::Config::from_options(args.options)?)
}
