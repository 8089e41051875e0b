// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step06's `main.rs`. step06's `caps`
// re-exports your `privileges` (`container.rs` calls `caps::resolve`, which
// calls your `resolve_with`, and `caps::apply`, yours, in the command's
// process just before `execve`), and step06's `devices` re-exports your
// `dev` (`devices::restrict` on the host, `devices::root_nodev` in the
// container). You do not need to change this file.
//
// It keeps step06's contract: `ex06 [-t] [-i] [-e KEY=VALUE] [--cap-add CAP]
// [--cap-drop CAP] [--memory SIZE] [--cpus N] [--pids N] [--network
// veth|none] [--rootfs DIR] [--hostname NAME] [-x] [COMMAND...]`, the
// command's exit status, 125 when the runtime fails.
//
// The exercise builds on step05 only: step06's own `privileges` and `dev`
// are not part of it.

// step06's `caps` and `devices` call your modules and re-export them. Some
// of their items serve only later steps or the tests.
#[allow(dead_code)]
#[path = "../../../steps/step06/src/caps.rs"]
mod caps;
#[allow(dead_code)]
#[path = "../../../steps/step06/src/devices.rs"]
mod devices;
#[allow(dead_code)]
#[path = "../../../steps/step06/src/environ.rs"]
mod environ;
#[allow(dead_code)]
#[path = "../../../steps/step06/src/masked.rs"]
mod masked;
#[allow(dead_code)]
#[path = "../../../steps/step06/src/tty.rs"]
mod tty;
use step05::{cgroup, clone_into_cgroup, mount, net, pid, rootfs, uts};

use clap::Parser;

/// Runs COMMAND as step05 does, but with Docker's defaults: Docker's
/// capability set (your code: everything else dropped from the bounding
/// set, inheritable and ambient cleared, no_new_privs set), a session and a
/// terminal of its own, the masked paths, a clean environment, Docker's
/// device rules and a nodev root (your code) (exercise 6).
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
