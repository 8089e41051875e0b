//! step08's run: step07's, on a root of the container's own. The rootfs
//! (or an image's layers, pulled before anything is created) is a read-only
//! lower layer of an overlay whose upper layer belongs to this run alone;
//! the container's writes land there and are removed with it.
//!
//! ```text
//! parent (host)                              child = PID 1 of the new namespaces
//! --image: pull what the store lacks, read the image's config
//! compile the seccomp filter (a bad profile: 125, nothing created)
//! mkdir <container-dir>/ws-<pid>/{upper,work,merged}
//! create cgroup contain-rs-workshop/ws-<pid>, limits, device rules
//! clone3(NEW*, CLONE_INTO_CGROUP on v2) ────▶ born inside the cgroup (v2)
//! veth as in step04, release the sync pipe ─▶ setsid, cgroup namespace, hostname, veth,
//!                                              mounts private, mount("overlay", merged),
//!                                              /dev, pivot_root(merged), proc, sys, ...
//!                                            init forks the command: step07's defaults,
//!                                              the image's user and working directory,
//!                                              the seccomp filter, exec
//! supervise ◀────────────────────────────────  init drops its own privileges, seccomp, reaps
//! remove the cgroup, wait for the veth to go
//! rm -r ws-<pid>: the container's writes go with it
//! ```

use std::path::{Path, PathBuf};

use std::os::fd::{AsFd, AsRawFd};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::caps::{self, CapsOpt};
use crate::cgroup::{self, Cgroup, LimitsOpt};
use crate::clone_into_cgroup::IntoCgroup;
use crate::environ::EnvOpt;
use crate::image::{self, ImageOpt};
use crate::net::{self, Lease, Network, NetworkOpt};
use crate::overlay::{self, OverlayOpt, RunDir};
use crate::rootfs::{self, RootfsOpt};
use crate::seccomp::{self, Filter, SeccompOpt};
use crate::tty::{self, ConsoleSocket, RawMode, Relay, Stdio, TtyOpt};
use crate::user::{self, User};
use crate::{devices, environ, masked, mount, pid, uts};
use ::caps::CapsHashSet;
use nix::sched::CloneFlags;
use nix::sys::signal::SigSet;
use workshop::cli::Base;
use workshop::explain::{self, Role};

/// What the user asked for.
pub struct Config {
    pub hostname: String,
    pub argv: Vec<String>,
    /// The read-only layers, the base first: the rootfs, or the image's.
    pub layers: Vec<PathBuf>,
    /// Where this run's upper and work directories are made.
    pub container_dir: PathBuf,
    /// The image's working directory for the command (`None`: `/`).
    pub cwd: Option<String>,
    /// The image's user for the command (`None`: root).
    pub user: Option<User>,
    pub network: Network,
    /// The host's /etc/resolv.conf, read before the pivot hides it.
    pub host_resolv: String,
    pub limits: LimitsOpt,
    pub caps: CapsHashSet,
    /// A terminal of its own (`-t`), and whether stdin is passed (`-i`).
    pub stdio: Stdio,
    /// The command's whole environment.
    pub env: Vec<(String, String)>,
    /// The compiled filter; `None` with `--security-opt seccomp=unconfined`.
    pub seccomp: Option<Filter>,
}

// This step's flags, in the order `--help` lists them: `main.rs` (and an
// exercise's runtime) flattens them into its command line.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    pub image: ImageOpt,
    #[command(flatten)]
    pub overlay: OverlayOpt,
    #[command(flatten)]
    pub seccomp: SeccompOpt,
    #[command(flatten)]
    pub tty: TtyOpt,
    #[command(flatten)]
    pub env: EnvOpt,
    #[command(flatten)]
    pub caps: CapsOpt,
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
    /// on first use), decides about the terminal and builds the command's
    /// environment before anything is created; compiles the seccomp
    /// filter, so that a bad profile is one line with nothing to clean up.
    pub fn from_options(opts: Options) -> anyhow::Result<Config> {
        // An image is pulled first: a bad reference, a registry that is
        // down or a blob that does not verify is one line, before anything
        // is created.
        let image = image::resolve(&opts.image)?;
        let layers = match &image {
            Some(image) => image.layers.clone(),
            None => vec![rootfs::resolve(&opts.rootfs)?],
        };
        let stdio = tty::resolve(&opts.tty, tty::is_terminal(0)).map_err(anyhow::Error::msg)?;
        let resolve_env = |opt: &crate::environ::EnvOpt| {
            environ::resolve(
                opt,
                &opts.base.hostname,
                stdio.tty,
                |key| std::env::var(key).ok(),
                |path| std::fs::read_to_string(path),
            )
            .map_err(anyhow::Error::msg)
        };
        let mut env = resolve_env(&opts.env)?;
        let caps = caps::resolve(&opts.caps);
        let seccomp = seccomp::resolve(&opts.seccomp, &caps).map_err(anyhow::Error::msg)?;
        let (mut argv, mut cwd, mut user) = (opts.base.argv(), None, None);
        if let Some(image) = &image {
            let config = &image.config;
            argv = user::command(&config.entrypoint, &config.cmd, &opts.base.command)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "image {} sets no Entrypoint and no Cmd; give the command to run after the flags",
                        image.reference
                    )
                })?;
            // The defaults (PATH, HOSTNAME, HOME), then the image's Env,
            // then -e and --env-file: what the user typed wins.
            let defaults = resolve_env(&Default::default())?;
            user::merge_env(&mut env, &defaults, &config.env);
            if !config.working_dir.is_empty() {
                cwd = Some(config.working_dir.clone());
            }
            if !config.user.is_empty() {
                let found = user::resolve(&config.user, &image.layers).map_err(|e| {
                    anyhow::anyhow!("image {}: User {:?}: {e}", image.reference, config.user)
                })?;
                if let Some(home) = &found.home {
                    user::set_home(&mut env, &defaults, home);
                }
                user = Some(found);
            }
        }
        Ok(Config {
            argv,
            hostname: opts.base.hostname,
            layers,
            container_dir: opts.overlay.container_dir,
            cwd,
            user,
            network: opts.network.network,
            host_resolv: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            limits: opts.limits,
            caps,
            stdio,
            env,
            seccomp,
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
    // This run's own writable layer; removed when `run` returns, errors
    // included.
    let run_dir = RunDir::create(&cfg.container_dir, &id)?;
    let overlay = overlay::options(&cfg.layers, &run_dir)?;
    let cgroup = Cgroup::create(Path::new(cgroup::DEFAULT_ROOT), &id, &cfg.limits)?;
    // Before anything runs in it: which device nodes may be opened.
    devices::restrict(&cgroup)?;
    let sync = pid::SyncPipe::new()?;
    // -t: PID 1 sends the master of the container's terminal over this.
    let console = if cfg.stdio.tty {
        Some(ConsoleSocket::new()?)
    } else {
        None
    };
    // No -t: the host's terminals, if any, reach the container as pipes.
    let relay = Relay::new(cfg.stdio)?;
    let namespaces = CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET;
    // cgroup v2: the child is born inside the cgroup. v1 has no such thing:
    // the child is moved in below, while it waits on the sync pipe.
    let Some(child) = pid::clone3(namespaces, cgroup.clone_into_fd().map(IntoCgroup))? else {
        container(cfg, &run_dir, &overlay, sync, &signals, console, relay)
    };
    let mut copying = relay.start(cfg.stdio.stdin);
    let lease = match host_side(cfg, &cgroup, child) {
        Ok(lease) => lease,
        Err(err) => {
            pid::abort(child);
            return Err(err);
        }
    };
    let payload = lease.map(|l| l.to_bytes().to_vec()).unwrap_or_default();
    sync.release(&payload)?;
    // Restores the host terminal when dropped: on every way out of here.
    let mut raw_mode = None;
    if let Some(console) = console {
        match attach_console(console, cfg.stdio) {
            Ok((raw, threads)) => {
                raw_mode = raw;
                copying.extend(threads);
            }
            Err(err) => {
                pid::abort(child);
                return Err(err);
            }
        }
    }
    let code = pid::supervise(child, &signals)?;
    // Everything the container wrote is out before we say anything more.
    tty::finish(copying, Duration::from_secs(2));
    drop(raw_mode);

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
    // The overlay went with the container's mount namespace: what is left
    // is a directory of the container's writes.
    run_dir.remove()?;
    Ok(code)
}
// ANCHOR_END: run

// ANCHOR: attach_console
/// Parent side of `-t`: takes the master of the container's terminal from
/// PID 1, gives it the host terminal's size (and every later size), puts
/// the host terminal into raw mode when stdin is passed, and copies: stdin
/// to the master, the master to stdout. Returns the raw mode's guard and the
/// thread to wait for at the end (the copy to stdout).
fn attach_console(
    console: ConsoleSocket,
    stdio: Stdio,
) -> anyhow::Result<(Option<RawMode>, Vec<JoinHandle<()>>)> {
    let Some(master) = console.receive()? else {
        return Ok((None, Vec::new())); // the setup failed; supervise tells how
    };
    let host = (0..3).find(|&fd| tty::is_terminal(fd));
    if let Some(host) = host {
        tty::follow_window_size(host, master.as_raw_fd())?;
    }
    let mut raw = None;
    if stdio.stdin {
        if tty::is_terminal(0) {
            raw = Some(RawMode::enter()?);
        }
        if let Some(input) = tty::dup_stdin() {
            tty::pump(input, master.try_clone()?);
        }
    }
    let stdout = std::io::stdout().as_fd().try_clone_to_owned()?;
    Ok((raw, vec![tty::pump(master, stdout)]))
}
// ANCHOR_END: attach_console

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
fn container(
    cfg: &Config,
    run_dir: &RunDir,
    overlay: &str,
    sync: pid::SyncPipe,
    signals: &SigSet,
    console: Option<ConsoleSocket>,
    relay: Relay,
) -> ! {
    explain::set_role(Role::Init);
    let result = (|| {
        pid::die_with_parent()?;
        // The host's terminals go first (without -t): pipes in their place.
        relay.install()?;
        let lease = lease_from(&sync.wait());
        // Out of the host's session and process group.
        tty::new_session()?;
        // In its cgroup now (the parent saw to that): make it our root.
        cgroup::enter_namespace()?;
        uts::set_hostname(&cfg.hostname)?;
        net::setup_container(lease.as_ref())?;
        mount::make_mounts_private()?;
        // The layers, read-only, under this run's own upper layer: from
        // here on the rootfs is the overlay, and nothing the container
        // does reaches the layers themselves.
        let root = overlay::mount_overlay(overlay, run_dir)?;
        mount::mount_dev(&root)?;
        mount::pivot_into(&root)?;
        mount::mount_proc()?;
        mount::mount_sys()?;
        cgroup::mount_namespaced()?;
        // With capabilities cut, these stay as they are: /proc/sys read-only,
        // the masked paths unreadable, and no device node the container
        // makes on its own mounts can be opened.
        masked::protect_proc()?;
        masked::mask_paths()?;
        devices::root_nodev()?;
        // `host` resolves to the host end; DNS servers as on the host.
        net::bind_text(
            "/etc/hosts",
            &net::hosts_file(&cfg.hostname, lease.as_ref()),
        )?;
        net::bind_text("/etc/resolv.conf", &net::resolv_conf(&cfg.host_resolv))?;
        // -t: the container's own terminal, made from its devpts; the host
        // terminal PID 1 still held is replaced by it.
        if let Some(console) = console {
            let slave = console.send_pty()?;
            // The host terminal's size now, before the command can start:
            // set later, by the parent, it would reach the command as a
            // SIGWINCH at a moment of nobody's choosing.
            if let Some(host) = (0..3).find(|&fd| tty::is_terminal(fd)) {
                tty::copy_window_size(host, slave.as_raw_fd());
            }
            tty::install(slave.as_fd(), &[0, 1, 2])?;
        }
        // The command, in its own process, gives up its privileges just
        // before exec; then PID 1 gives up its own.
        // step06's defaults, then the filter: chapter 2's hooks run a
        // pair's first half, then its second.
        if let Some(cwd) = &cfg.cwd {
            user::make_working_dir(cwd)?;
        }
        // The image's user and working directory come after step06's
        // capability drop (setuid needs CAP_SETUID, which Docker's set
        // keeps) and before the filter.
        let process = ImageProcess {
            user: cfg.user.as_ref(),
            cwd: cfg.cwd.as_deref(),
        };
        let hooks = (Defaults { cfg }, (process, Seccomp(cfg.seccomp.as_ref())));
        Ok(pid::init_with(&cfg.argv, signals, &hooks))
    })();
    workshop::exit::child_finish(result)
}
// ANCHOR_END: container

// ANCHOR: hooks
/// Docker's defaults that are applied after PID 1 forks the command, through
/// chapter 2's hooks: in the command's process just before exec, and in PID 1
/// once the command has started.
struct Defaults<'a> {
    cfg: &'a Config,
}

impl pid::InitHooks for Defaults<'_> {
    fn before_exec(&self) -> anyhow::Result<()> {
        if self.cfg.stdio.tty {
            tty::take_terminal()?;
        } else {
            tty::new_session()?;
        }
        environ::apply(&self.cfg.env);
        // Last: the capability sets, then no_new_privs.
        Ok(caps::apply(&self.cfg.caps)?)
    }

    fn after_start(&self) -> anyhow::Result<()> {
        Ok(caps::confine_init(&self.cfg.caps)?)
    }
}
// ANCHOR_END: hooks

// ANCHOR: image_hook
/// The image's `User` and `WorkingDir`, in the command's process: after the
/// capability sets are cut (as root, with CAP_SETUID and CAP_SETGID still in
/// the effective set), before the seccomp filter. A switch to a user other
/// than root clears the effective and permitted sets, so such a command
/// runs with no capabilities at all, as with docker.
struct ImageProcess<'a> {
    user: Option<&'a User>,
    cwd: Option<&'a str>,
}

impl pid::InitHooks for ImageProcess<'_> {
    fn before_exec(&self) -> anyhow::Result<()> {
        if let Some(user) = self.user {
            user::switch(user)?;
        }
        if let Some(cwd) = self.cwd {
            user::enter_working_dir(cwd)?;
        }
        Ok(())
    }

    fn after_start(&self) -> anyhow::Result<()> {
        Ok(())
    }
}
// ANCHOR_END: image_hook

// ANCHOR: seccomp_hook
/// The filter, installed after step06's defaults: in the command's process
/// it is the last thing before execve (no_new_privs is set by then), and in
/// PID 1 it follows PID 1's own privilege drop. From here on every syscall
/// goes through it, execve itself included.
struct Seccomp<'a>(Option<&'a Filter>);

impl pid::InitHooks for Seccomp<'_> {
    fn before_exec(&self) -> anyhow::Result<()> {
        self.install()
    }

    fn after_start(&self) -> anyhow::Result<()> {
        self.install()
    }
}

impl Seccomp<'_> {
    fn install(&self) -> anyhow::Result<()> {
        if let Some(filter) = self.0 {
            seccomp::install(filter)?;
        }
        Ok(())
    }
}
// ANCHOR_END: seccomp_hook

fn lease_from(payload: &[u8]) -> Option<Lease> {
    payload.try_into().ok().map(Lease::from_bytes)
}
