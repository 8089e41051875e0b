//! step03's run: step02's dance, plus a mount namespace that is really
//! used: the child pivots onto the rootfs before it becomes init.
//!
//! ```text
//! parent (host)                         child = PID 1 of the new namespaces
//! resolve the rootfs (fetch it once)
//! block signals, make the sync pipe
//! clone3(NEWPID|NEWNS|NEWUTS|NEWIPC) ─▶ prctl(PR_SET_PDEATHSIG)
//! release the sync pipe ──────────────▶ read the go-ahead
//!                                       sethostname, / private,
//!                                       bind rootfs, pivot_root, detach old root,
//!                                       /proc, /dev, /dev/pts, /dev/shm, /sys
//! supervise ◀──────────────────────────  init: the command as PID 2
//! ```

use std::path::PathBuf;

use crate::rootfs::{self, RootfsOpt};
use crate::{mount, pid, uts};
use nix::sched::CloneFlags;
use nix::sys::signal::SigSet;
use workshop::cli::Base;
use workshop::explain::{self, Role};

/// What the user asked for.
pub struct Config {
    pub hostname: String,
    pub argv: Vec<String>,
    pub rootfs: PathBuf,
}

// This step's flags, in the order `--help` lists them: `main.rs` (and an
// exercise's runtime) flattens them into its command line.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    pub rootfs: RootfsOpt,
    #[command(flatten)]
    pub base: Base,
}

impl Config {
    /// What the flags ask for. Finds the rootfs (fetching the default one
    /// on first use) before anything is created.
    pub fn from_options(opts: Options) -> anyhow::Result<Config> {
        Ok(Config {
            rootfs: rootfs::resolve(&opts.rootfs)?,
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
    let namespaces = CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
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
        mount::make_mounts_private()?;
        mount::mount_dev(&cfg.rootfs)?;
        mount::pivot_into(&cfg.rootfs)?;
        mount::mount_proc()?;
        mount::mount_sys()?;
        Ok(pid::init(&cfg.argv, signals))
    })();
    workshop::exit::child_finish(result)
}
// ANCHOR_END: container
