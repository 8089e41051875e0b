//! step02's run: the parent/child dance.
//!
//! ```text
//! parent (host)                         child = PID 1 of the new namespaces
//! ─────────────                         ───────────────────────────────────
//! block signals, make the sync pipe
//! clone3(NEWPID|NEWNS|NEWUTS) ────────▶ prctl(PR_SET_PDEATHSIG)
//! release the sync pipe ──────────────▶ read the go-ahead
//!                                       sethostname, / private, mount /proc
//! supervise: forward signals,           init: fork the command (PID 2),
//!            wait for PID 1               forward signals, reap zombies
//! exit with PID 1's status ◀─────────── exit with the command's status
//! ```

use crate::{pid, uts};
use nix::sched::CloneFlags;
use nix::sys::signal::SigSet;
use workshop::cli::Base;
use workshop::explain::{self, Role};

/// What the user asked for.
pub struct Config {
    pub hostname: String,
    pub argv: Vec<String>,
}

// This step's flags, in the order `--help` lists them: `main.rs` (and an
// exercise's runtime) flattens them into its command line.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    pub base: Base,
}

impl Config {
    /// What the flags ask for.
    pub fn from_options(opts: Options) -> anyhow::Result<Config> {
        Ok(Config {
            argv: opts.base.argv(),
            hostname: opts.base.hostname,
        })
    }
}

// ANCHOR: run
/// Runs one container and returns the exit status for the runtime.
pub fn run(cfg: &Config) -> anyhow::Result<i32> {
    let signals = pid::block_signals()?;
    let sync = pid::SyncPipe::new()?;
    let namespaces = CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS;
    match pid::clone3(namespaces, ())? {
        None => container(cfg, sync, &signals),
        Some(child) => {
            sync.release(&[])?;
            Ok(pid::supervise(child, &signals)?)
        }
    }
}
// ANCHOR_END: run

// ANCHOR: container
/// PID 1 of the container: set up, then be init. Never returns.
fn container(cfg: &Config, sync: pid::SyncPipe, signals: &SigSet) -> ! {
    explain::set_role(Role::Init);
    let result = (|| {
        pid::die_with_parent()?;
        sync.wait();
        uts::set_hostname(&cfg.hostname)?;
        pid::make_mounts_private()?;
        pid::mount_proc()?;
        Ok(pid::init(&cfg.argv, signals))
    })();
    workshop::exit::child_finish(result)
}
// ANCHOR_END: container
