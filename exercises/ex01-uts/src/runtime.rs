// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step01's `main.rs`, with `step01::uts`
// replaced by your module `uts`. You do not need to change this file.
//
// It keeps step01's contract: `ex01 [--hostname NAME] [-x] [COMMAND...]`,
// the command's exit status, 125 when the runtime fails.

use clap::Parser;
use workshop::cli::Base;

/// Runs COMMAND in a new UTS namespace with its own hostname (exercise 1).
#[derive(Parser, Debug)]
#[command(name = env!("CARGO_BIN_NAME"), version)]
struct Args {
    #[command(flatten)]
    base: Base,
}

fn main() {
    let args: Args = workshop::cli::parse();
    workshop::explain::init(env!("CARGO_BIN_NAME"), args.base.explain);
    workshop::exit::finish(run(&args));
}

/// As step01's `run`: a new UTS namespace and a hostname (your code), then
/// the command in place of this process.
fn run(args: &Args) -> anyhow::Result<i32> {
    workshop::cli::require_root()?;
    uts::enter_new_uts(&args.base.hostname)?;
    workshop::exec::exec_command(&args.base.argv())
}
