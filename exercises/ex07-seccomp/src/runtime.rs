// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step07's `main.rs`, plus a `seccomp`
// module that is step07's with your `check_arch` and `decide` (and through
// it your `compare`) in place of its own. You do not need to change this
// file.
//
// It keeps step07's contract: `ex07 [--security-opt seccomp=FILE|unconfined]
// [-t] [-i] [-e KEY=VALUE] [--cap-add CAP] [--cap-drop CAP] [--memory SIZE]
// [--cpus N] [--pids N] [--network veth|none] [--rootfs DIR]
// [--hostname NAME] [-x] [COMMAND...]`, the command's exit status, 125 when
// the runtime fails.

/// What the runtime uses of step07's `seccomp` module, yours in place of
/// the step's: step07's `container.rs` calls [`resolve`](seccomp::resolve)
/// (`Config::from_options`), which reads the profile as step07 does and
/// assembles the program with your functions (step07's `compile_with`),
/// and hands it to the kernel with step07's `install`.
mod seccomp {
    pub use step07::seccomp::{Filter, SeccompOpt, install};
    use step07::seccomp::Parts;

    /// Your parts of the program (`src/filter.rs`).
    pub const YOURS: Parts = Parts {
        check_arch: crate::filter::check_arch,
        decide: crate::filter::decide,
    };

    /// step07's `resolve`, assembling with [`YOURS`].
    pub fn resolve(opt: &SeccompOpt, caps: &::caps::CapsHashSet) -> Result<Option<Filter>, String> {
        step07::seccomp::resolve_with(YOURS, opt, caps)
    }
}
use step07::{
    caps, cgroup, clone_into_cgroup, devices, environ, masked, mount, net, pid, rootfs, tty, uts,
};

use clap::Parser;

/// Runs COMMAND as step06 does, under a seccomp filter assembled by your
/// code: Docker's default profile unless `--security-opt` says otherwise.
/// Calls of another ABI kill the process, what the profile does not allow
/// fails with EPERM (exercise 7).
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
