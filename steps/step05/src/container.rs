//! step05's run: step04's dance, inside a cgroup of its own.
//!
//! ```text
//! parent (host)                              child = PID 1 of the new namespaces
//! create cgroup contain-rs-workshop/ws-<pid>,
//!   write memory / cpu / pids limits
//! clone3(NEW*, CLONE_INTO_CGROUP on v2) ────▶ born inside the cgroup (v2)
//! v1: write the child's PID to cgroup.procs
//! veth as in step04, release the sync pipe ─▶ the same setup as step04, then init
//!                                            unshare(CLONE_NEWCGROUP): the cgroup is its root
//! supervise ◀────────────────────────────────  the command as PID 2, limited
//! read memory.events: OOM kill? → say so
//! remove the cgroup, wait for the veth to go
//! ```

use std::path::{Path, PathBuf};

use crate::cgroup::{self, Cgroup, LimitsOpt};
use crate::clone_into_cgroup::IntoCgroup;
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
    pub limits: LimitsOpt,
}

// This step's flags, in the order `--help` lists them: `main.rs` (and an
// exercise's runtime) flattens them into its command line.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    pub limits: LimitsOpt,
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
            limits: opts.limits,
        })
    }
}

// ANCHOR: run
/// Runs one container and returns the exit status for the runtime.
pub fn run(cfg: &Config) -> anyhow::Result<i32> {
    // Signals first: a Ctrl-C from here on waits for us instead of killing
    // the runtime between creating the cgroup and removing it.
    let signals = pid::block_signals()?;
    // Named after our PID, so that containers running at the same time never
    // share a cgroup, and a leftover of a killed run is recognised by the next.
    let id = format!("ws-{}", std::process::id());
    let cgroup = Cgroup::create(Path::new(cgroup::DEFAULT_ROOT), &id, &cfg.limits)?;
    let sync = pid::SyncPipe::new()?;
    let namespaces = CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET;
    // cgroup v2: the child is born inside the cgroup. v1 has no such thing:
    // the child is moved in below, while it waits on the sync pipe.
    let Some(child) = pid::clone3(namespaces, cgroup.clone_into_fd().map(IntoCgroup))? else {
        container(cfg, sync, &signals)
    };
    let lease = match host_side(cfg, &cgroup, child) {
        Ok(lease) => lease,
        Err(err) => {
            pid::abort(child);
            return Err(err);
        }
    };
    let payload = lease.map(|l| l.to_bytes().to_vec()).unwrap_or_default();
    sync.release(&payload)?;
    let code = pid::supervise(child, &signals)?;

    // The container has ended: ask the cgroup whether the kernel's OOM
    // killer struck. The command's own status stands, as with docker run:
    // 137 when the command itself was killed, its exit code when the victim
    // was another process of the container.
    if cgroup.oom_kills()? > 0 {
        eprintln!(
            "{}: {}",
            explain::program(),
            cgroup::oom_message(cgroup.memory_limit(), code)
        );
    }
    cgroup.remove()?;
    if let Some(lease) = lease {
        net::wait_host_end_gone(&lease)?;
    }
    Ok(code)
}
// ANCHOR_END: run

/// What the parent does on the host while the child waits.
fn host_side(
    cfg: &Config,
    cgroup: &Cgroup,
    child: nix::unistd::Pid,
) -> anyhow::Result<Option<Lease>> {
    if cgroup.clone_into_fd().is_none() {
        cgroup.add_task(child)?;
    }
    Ok(match cfg.network {
        Network::Veth => Some(net::setup_host(child)?),
        Network::None => None,
    })
}

// ANCHOR: container
/// PID 1 of the container: set up, then be init. Never returns.
fn container(cfg: &Config, sync: pid::SyncPipe, signals: &SigSet) -> ! {
    explain::set_role(Role::Init);
    let result = (|| {
        pid::die_with_parent()?;
        let lease = lease_from(&sync.wait());
        // In its cgroup now (the parent saw to that): make it our root.
        cgroup::enter_namespace()?;
        uts::set_hostname(&cfg.hostname)?;
        net::setup_container(lease.as_ref())?;
        mount::make_mounts_private()?;
        mount::mount_dev(&cfg.rootfs)?;
        mount::pivot_into(&cfg.rootfs)?;
        mount::mount_proc()?;
        mount::mount_sys()?;
        cgroup::mount_namespaced()?;
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
