//! step04's run: step03's dance with a network namespace, wired to the host
//! by a veth pair that the parent creates while the child waits.
//!
//! ```text
//! parent (host)                              child = PID 1 of the new namespaces
//! clone3(NEWPID|NEWNS|NEWUTS|NEWIPC|NEWNET) ▶ prctl(PR_SET_PDEATHSIG), wait…
//! setup_host: veth wsvN ⇄ eth0 (created in the
//!   child's netns), 10.200.x.1/30 up
//! release the sync pipe with the lease ─────▶ setup_container: lo up, eth0 10.200.x.2/30,
//!                                             default route; pivot_root, /proc, /dev, /sys,
//!                                             /etc/hosts (`host` = the host end)
//! supervise ◀────────────────────────────────  init: the command as PID 2
//! wait until the kernel deleted wsvN
//! ```

use std::path::PathBuf;

use crate::net::{self, Lease, Network, NetworkOpt};
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
    pub network: Network,
    /// The host's /etc/resolv.conf, read before the pivot hides it.
    pub host_resolv: String,
}

// This step's flags, in the order `--help` lists them: `main.rs` (and an
// exercise's runtime) flattens them into its command line.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    pub network: NetworkOpt,
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
            network: opts.network.network,
            host_resolv: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
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
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET;
    let Some(child) = pid::clone3(namespaces, ())? else {
        container(cfg, sync, &signals)
    };
    // The child now sits in its new, empty network namespace, waiting.
    let lease = match cfg.network {
        Network::Veth => match net::setup_host(child) {
            Ok(lease) => Some(lease),
            Err(err) => {
                pid::abort(child);
                return Err(err.into());
            }
        },
        Network::None => None,
    };
    let payload = lease.map(|l| l.to_bytes().to_vec()).unwrap_or_default();
    sync.release(&payload)?;
    let code = pid::supervise(child, &signals)?;
    if let Some(lease) = lease {
        // The pair dies with the namespace; wait until the kernel is done.
        net::wait_host_end_gone(&lease)?;
    }
    Ok(code)
}
// ANCHOR_END: run

// ANCHOR: container
/// PID 1 of the container: set up, then be init. Never returns.
fn container(cfg: &Config, sync: pid::SyncPipe, signals: &SigSet) -> ! {
    explain::set_role(Role::Init);
    let result = (|| {
        pid::die_with_parent()?;
        let lease = lease_from(&sync.wait());
        uts::set_hostname(&cfg.hostname)?;
        net::setup_container(lease.as_ref())?;
        mount::make_mounts_private()?;
        mount::mount_dev(&cfg.rootfs)?;
        mount::pivot_into(&cfg.rootfs)?;
        mount::mount_proc()?;
        mount::mount_sys()?;
        // `host` resolves to the host end; DNS servers as on the host.
        net::bind_text(
            "/etc/hosts",
            &net::hosts_file(&cfg.hostname, lease.as_ref()),
        )?;
        net::bind_text("/etc/resolv.conf", &net::resolv_conf(&cfg.host_resolv))?;
        Ok(pid::init(&cfg.argv, signals))
    })();
    workshop::exit::child_finish(result)
}
// ANCHOR_END: container

fn lease_from(payload: &[u8]) -> Option<Lease> {
    payload.try_into().ok().map(Lease::from_bytes)
}
