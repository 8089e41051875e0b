// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step04's `main.rs`. step04's
// `container.rs` calls `net::setup_host` and `net::setup_container`, and
// step04's `net` calls your `wire` (`crate::wire`). You do not need to
// change this file.
//
// It keeps step04's contract: `ex04 [--network veth|none] [--rootfs DIR]
// [--hostname NAME] [-x] [COMMAND...]`, the command's exit status, 125 when
// the runtime fails.
//
// The exercise builds on step03 only: step04's own `wire` is not part of it.

use step03::{mount, pid, rootfs, uts};

use clap::Parser;

/// Runs COMMAND in its own network namespace too: with `--network veth`
/// (the default) it gets eth0 at 10.200.x.2/30, wired to a host end at
/// 10.200.x.1 that is called `host` inside (both ends: your code); with
/// `--network none`, only lo (exercise 4).
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
