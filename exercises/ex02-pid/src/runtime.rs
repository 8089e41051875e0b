// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step02's `main.rs`, with step02's `pid`
// module compiled here as it is. That module takes `init` from the crate's
// `init` module, which here is yours. You do not need to change this file.
//
// It keeps step02's contract: `ex02 [--hostname NAME] [-x] [COMMAND...]`,
// the command's exit status (128+N for a signal), 125 when the runtime fails.
//
// The exercise builds on step01 only: step02's own `init` is not part of it.

/// step02's `pid` module: `clone3`, the sync pipe, `supervise`, `/proc`; its
/// `pub use crate::init::*` brings in your [`init`](crate::init::init).
/// (`abort` is for later steps, whose parent has host-side work to undo.)
#[allow(dead_code)]
#[path = "../../../steps/step02/src/pid.rs"]
mod pid;
use step01::uts;

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
