//! `doctor`: is this machine ready for the workshop? One line per check,
//! ✔ / ! / ✘, and a fix for every ✘. Exit 0 when nothing failed, 1 when a
//! step will fail here, 125 when doctor itself could not run (a bad flag).

use std::path::PathBuf;

use clap::Parser;

/// Checks that this machine can run every step of the workshop, and says how
/// to fix what is missing.
#[derive(Parser, Debug)]
#[command(name = "doctor", version)]
struct Args {
    /// The rootfs to check (default: where the rootfs fetcher puts it).
    #[arg(long, env = "WORKSHOP_ROOTFS", value_name = "DIR")]
    rootfs: Option<PathBuf>,

    /// Print the report as JSON: {"checks": [{name, status, detail, fix}], "problems", "warnings"}.
    #[arg(long)]
    json: bool,

    /// Print every syscall the checks make (on stderr).
    #[arg(short = 'v', long)]
    explain: bool,
}

fn main() {
    let args: Args = workshop::cli::parse();
    workshop::explain::init("doctor", args.explain);
    let options = doctor::Options {
        rootfs: args.rootfs.unwrap_or_else(rootfs_fetcher::default_dest),
    };
    // Still single-threaded here, as the forking checks require.
    let checks = doctor::run_all(&options);
    if args.json {
        print!("{}", doctor::render_json(&checks));
    } else {
        print!("{}", doctor::render_text(&checks));
    }
    std::process::exit(doctor::exit_status(&checks));
}
