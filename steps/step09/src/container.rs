//! step09's run: step08's, in a user namespace of its own when the runtime
//! is not root (or as root with `--userns remap`). Root inside is an
//! ordinary user (or a range of unprivileged IDs) on the host.
//!
//! ```text
//! parent (host, any user)                    child = PID 1 of the new namespaces
//! decide: maps, network, cgroup (delegated or none), run dir in the user's home
//! compile the seccomp filter (a bad profile: 125, nothing created)
//! mkdir <container-dir>/ws-<pid>/{upper,work,merged}
//! clone3(NEWUSER|NEW*) ────────────────────▶ waits on the sync pipe, uid 65534 ("nobody")
//! write gid_map, uid_map (or newgidmap/newuidmap)
//! pasta/slirp4netns, or veth as root
//! release the sync pipe ───────────────────▶ setresgid/setresuid(0): root of its namespace
//!                                              step08's setup: hostname, mounts,
//!                                              overlay (userxattr), /dev binds, pivot_root
//!                                            init forks the command: caps, user, seccomp, exec
//! supervise ◀──────────────────────────────  init reaps
//! stop the network, remove the cgroup
//! rm -r ws-<pid> (in a user namespace with the same map, for subordinate IDs' files)
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;

use std::os::fd::{AsFd, AsRawFd};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::caps::{self, CapsOpt};
use crate::cgroup::{self, Cgroup, LimitsOpt};
use crate::clone_into_cgroup::IntoCgroup;
use crate::environ::EnvOpt;
use crate::image::{self, ImageOpt};
use crate::net::{self, Lease};
use crate::overlay::{self, OverlayOpt, RunDir};
use crate::rootfs::{self, RootfsOpt};
use crate::rootless::{self, Network, NetworkOpt, UserNet};
use crate::seccomp::{self, Filter, SeccompOpt};
use crate::tty::{self, ConsoleSocket, RawMode, Relay, Stdio, TtyOpt};
use crate::user::{self, User};
use crate::userns::{self, Maps};
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
    /// The user namespace's maps; `None`: the host's users (root, as step08).
    pub userns: Option<Maps>,
    /// Where the container's cgroup is made; `None`: no cgroup (an ordinary
    /// user without a delegated cgroup v2 subtree).
    pub cgroup_root: Option<PathBuf>,
    /// Whether the runtime runs as root on the host.
    pub root: bool,
}

/// `--userns`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsernsMode {
    /// The host's users: container root is host root (step08). Root only.
    Host,
    /// Container root is the first ID of root's range in /etc/subuid and
    /// /etc/subgid (as Docker's userns-remap). Root only.
    Remap,
}

/// The flag this step adds.
#[derive(clap::Args, Debug, Clone)]
pub struct UsernsOpt {
    /// As root: `host` (the default) runs as step08, container root is host
    /// root; `remap` maps container root to root's range in /etc/subuid and
    /// /etc/subgid. As an ordinary user there is always a user namespace: your
    /// uid is root inside, and your /etc/subuid range (if newuidmap is
    /// installed) the other IDs.
    #[arg(long, value_enum, value_name = "MODE")]
    pub userns: Option<UsernsMode>,
}

// This step's flags, in the order `--help` lists them: `main.rs` (and an
// exercise's runtime) flattens them into its command line.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    pub userns: UsernsOpt,
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
    pub fn from_options(mut opts: Options) -> anyhow::Result<Config> {
        let root = nix::unistd::geteuid().is_root();
        let maps = maps_for(opts.userns.userns, root)?;
        let (network, network_note) = rootless::network(&opts.network, root)?;
        if !root {
            // Your own rootfs, images and run directories, in your home.
            let home = rootless::data_home()?;
            if opts.image.image_store == Path::new(image::DEFAULT_STORE) {
                opts.image.image_store = home.join("images");
            }
            if opts.overlay.container_dir == Path::new(overlay::DEFAULT_DIR) {
                opts.overlay.container_dir = home.join("containers");
            }
            if opts.rootfs.rootfs.is_none() {
                let dest = home.join("rootfs");
                fetch_if_missing(&dest)?;
                opts.rootfs.rootfs = Some(dest);
            }
        }
        // An image is pulled first: a bad reference, a registry that is
        // down or a blob that does not verify is one line, before anything
        // is created. An ordinary user's store marks opaque directories with
        // user.* attributes (trusted.* needs root).
        let convert = if root {
            crate::whiteout::convert
        } else {
            rootless::convert_user
        };
        let image = image::resolve_with(&opts.image, convert)?;
        let mut layers = match &image {
            Some(image) => image.layers.clone(),
            None => vec![rootfs::resolve(&opts.rootfs)?],
        };
        if let Some(maps) = &maps {
            if root {
                // --userns remap: layers owned by the range, made once.
                layers = layers
                    .iter()
                    .map(|l| rootless::shifted_copy(l, &opts.overlay.container_dir, maps))
                    .collect::<anyhow::Result<_>>()?;
            } else {
                for layer in &layers {
                    rootless::check_lower(layer, maps)?;
                }
            }
        }
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
        // `--cap-add ALL` is every capability the command can be given. In a
        // user namespace that is all the kernel knows, whatever the runtime
        // holds on the host (an ordinary user holds none).
        let caps = match &maps {
            Some(_) => caps::resolve_with(&opts.caps, &caps::kernel_known(caps::last_cap())),
            None => caps::resolve(&opts.caps),
        };
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
        let (cgroup_root, cgroup_note) = cgroup_root(root, &opts.limits)?;
        // All is valid: now what runs differently without root, one line each.
        for note in [network_note, cgroup_note].into_iter().flatten() {
            eprintln!("{}: {note}", explain::program());
        }
        Ok(Config {
            argv,
            hostname: opts.base.hostname,
            layers,
            container_dir: opts.overlay.container_dir,
            cwd,
            user,
            network,
            host_resolv: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            limits: opts.limits,
            caps,
            stdio,
            env,
            seccomp,
            userns: maps,
            cgroup_root,
            root,
        })
    }
}

// ANCHOR: maps_for
/// Which user namespace, if any: always one for an ordinary user (their
/// own uid as root, their subordinate range if they have one); as root,
/// one only with `--userns remap`.
fn maps_for(mode: Option<UsernsMode>, root: bool) -> anyhow::Result<Option<Maps>> {
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    match (mode, root) {
        (Some(UsernsMode::Host), false) => anyhow::bail!(
            "--userns host needs root: as an ordinary user the container always gets a user \
             namespace (drop --userns)"
        ),
        (Some(UsernsMode::Remap), false) => anyhow::bail!(
            "--userns remap needs root: as an ordinary user your own uid is already root inside \
             (drop --userns)"
        ),
        (None | Some(UsernsMode::Host), true) => Ok(None),
        (None, false) => {
            rootless::apparmor_allows_userns()?;
            Ok(Some(userns::for_user(uid, gid)))
        }
        (Some(UsernsMode::Remap), true) => {
            let range = |file: &str| userns::subordinate(Path::new(file), "root", 0);
            match (range("/etc/subuid"), range("/etc/subgid")) {
                (Some(u), Some(g)) => Ok(Some(Maps::remap(u, g))),
                _ => anyhow::bail!(
                    "--userns remap: /etc/subuid and /etc/subgid give root no range of {} IDs; \
                     add one with: usermod --add-subuids 1000000-1065535 --add-subgids \
                     1000000-1065535 root",
                    userns::RANGE
                ),
            }
        }
    }
}
// ANCHOR_END: maps_for

// ANCHOR: cgroup_root
/// Where the container's cgroup goes. Root: the workshop's own place, as in
/// step05. An ordinary user: the cgroup v2 subtree systemd delegated to
/// them, if the runtime runs inside it; otherwise no cgroup at all, said in
/// one line, and refused when a limit was asked for.
fn cgroup_root(
    root: bool,
    limits: &LimitsOpt,
) -> anyhow::Result<(Option<PathBuf>, Option<String>)> {
    if root {
        return Ok((Some(PathBuf::from(cgroup::DEFAULT_ROOT)), None));
    }
    match rootless::delegated_cgroup(Path::new(cgroup::DEFAULT_ROOT)) {
        Ok(dir) => Ok((Some(dir), None)),
        Err(why) if limits.is_empty() => Ok((
            None,
            Some(format!("no cgroup: {why}; running without limits")),
        )),
        Err(why) => anyhow::bail!(
            "--memory, --cpus and --pids need a cgroup, and there is none for you: {why}"
        ),
    }
}
// ANCHOR_END: cgroup_root

/// The rootfs in an ordinary user's home, fetched there (as them) on first use.
fn fetch_if_missing(dest: &Path) -> anyhow::Result<()> {
    if !matches!(
        rootfs_fetcher::status(dest),
        rootfs_fetcher::Status::Missing
    ) {
        return Ok(());
    }
    eprintln!(
        "{}: no rootfs at {} yet: fetching the Alpine minirootfs (first use)",
        explain::program(),
        dest.display()
    );
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    rootfs_fetcher::Options::pinned_for_host(dest.to_path_buf())
        .and_then(|opts| rootfs_fetcher::fetch(&opts).map(drop))
        .map_err(|err| {
            anyhow::anyhow!(
                "no rootfs at {} and fetching it failed ({err}); fetch it with: {}",
                dest.display(),
                rootfs_fetcher::fetch_command(dest)
            )
        })
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
    if let Some(maps) = &cfg.userns {
        sweep_stale(&cfg.container_dir, maps);
    }
    let run_dir = RunDir::create(&cfg.container_dir, &id)?;
    let mut overlay = overlay::options(&cfg.layers, &run_dir)?;
    if let Some(maps) = &cfg.userns {
        // Mounted by root of the user namespace: it must own the writable
        // layer, and overlayfs there keeps its marks in user.* attributes.
        own_run_dir(&run_dir, maps)?;
        overlay.push_str(",userxattr");
    }
    let cgroup = match &cfg.cgroup_root {
        Some(root) => Some(Cgroup::create(root, &id, &cfg.limits)?),
        None => None,
    };
    // Before anything runs in it: which device nodes may be opened. Only
    // root may attach the filter (a BPF program on v2); in a user
    // namespace the kernel refuses mknod anyway, and /dev holds binds.
    if let (Some(cgroup), true) = (&cgroup, cfg.root) {
        devices::restrict(cgroup)?;
    }
    let sync = pid::SyncPipe::new()?;
    // -t: PID 1 sends the master of the container's terminal over this.
    let console = if cfg.stdio.tty {
        Some(ConsoleSocket::new()?)
    } else {
        None
    };
    // No -t: the host's terminals, if any, reach the container as pipes.
    let relay = Relay::new(cfg.stdio)?;
    // ANCHOR: clone
    let mut namespaces = CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET;
    if cfg.userns.is_some() {
        // Created first by the kernel, whatever the order of the flags: the
        // other new namespaces belong to it, so root inside may administer
        // them (mount, set the hostname, configure its network).
        namespaces |= CloneFlags::CLONE_NEWUSER;
    }
    // cgroup v2: the child is born inside the cgroup. v1 has no such thing:
    // the child is moved in below, while it waits on the sync pipe.
    let into = cgroup
        .as_ref()
        .and_then(|c| c.clone_into_fd())
        .map(IntoCgroup);
    let Some(child) = pid::clone3(namespaces, into)? else {
        container(cfg, &run_dir, &overlay, sync, &signals, console, relay)
    };
    // ANCHOR_END: clone
    let mut copying = relay.start(cfg.stdio.stdin);
    let (lease, user_net) = match host_side(cfg, cgroup.as_ref(), child, &run_dir) {
        Ok(done) => done,
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
    if let Some(net) = user_net {
        net.stop();
    }
    if let Some(cgroup) = cgroup {
        if cgroup.oom_kills()? > 0 {
            eprintln!(
                "{}: {}",
                explain::program(),
                cgroup::oom_message(cgroup.memory_limit(), code)
            );
        }
        cgroup.remove()?;
    }
    if let Some(lease) = lease {
        net::wait_host_end_gone(&lease)?;
    }
    // The overlay went with the container's mount namespace: what is left
    // is a directory of the container's writes.
    remove_run_dir(&run_dir, cfg.userns.as_ref())?;
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

// ANCHOR: host_side
/// What the parent does on the host while the child waits: the cgroup (v1),
/// the user namespace's maps, then the network, which needs them (pasta
/// and slirp4netns join the child's user namespace to configure its tap).
fn host_side(
    cfg: &Config,
    cgroup: Option<&Cgroup>,
    child: nix::unistd::Pid,
    run_dir: &RunDir,
) -> anyhow::Result<(Option<Lease>, Option<UserNet>)> {
    if let Some(cgroup) = cgroup {
        if cgroup.clone_into_fd().is_none() {
            cgroup.add_task(child)?;
        }
    }
    if let Some(maps) = &cfg.userns {
        userns::write_maps(child, maps)?;
    }
    Ok(match cfg.network {
        Network::Veth => (Some(net::setup_host(child)?), None),
        Network::None => (None, None),
        user_mode => (
            None,
            rootless::start_user_network(user_mode, child, &run_dir.path)?,
        ),
    })
}
// ANCHOR_END: host_side

/// The writable layer belongs to root of the container's namespace: for a
/// rootless run that is the user, who made it; for `--userns remap` the
/// range's first IDs.
fn own_run_dir(run_dir: &RunDir, maps: &Maps) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let (uid, gid) = (
        nix::unistd::Uid::from_raw(maps.root_uid()),
        nix::unistd::Gid::from_raw(maps.root_gid()),
    );
    for dir in [&run_dir.upper, &run_dir.work] {
        nix::unistd::chown(dir.as_path(), Some(uid), Some(gid))
            .map_err(|e| anyhow::anyhow!("chown {}: {e}", dir.display()))?;
    }
    Ok(())
}

// ANCHOR: remove_run_dir
/// Removes the run's directory. Files the container made as one of the
/// user's subordinate IDs (after a `chown` inside, or in directories such
/// IDs own) cannot be removed by the user on the host, nor can overlayfs's
/// mode-0 `work/work`: their removal runs in a helper process that is root
/// of a user namespace with the same map (root there may ignore modes on
/// files of IDs it has).
fn remove_run_dir(run_dir: &RunDir, maps: Option<&Maps>) -> anyhow::Result<()> {
    match (run_dir.remove(), maps) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(maps)) if !nix::unistd::geteuid().is_root() => {
            let path = run_dir.path.clone();
            userns::run_as_root_of(maps, move || Ok(std::fs::remove_dir_all(&path)?))
                .with_context(|| format!("remove {}", run_dir.path.display()))
        }
        (Err(err), _) => Err(err),
    }
}
// ANCHOR_END: remove_run_dir

/// What killed runs left ([`overlay::stale_runs`]): their user-mode
/// network stopped, their directories removed as [`remove_run_dir`] does
/// (step08's own sweep cannot remove files of subordinate IDs).
fn sweep_stale(dir: &Path, maps: &Maps) {
    for path in overlay::stale_runs(dir) {
        rootless::stop_stale_pasta(&path);
        if std::fs::remove_dir_all(&path).is_err() && !nix::unistd::geteuid().is_root() {
            let _ = userns::run_as_root_of(maps, move || Ok(std::fs::remove_dir_all(&path)?));
        }
    }
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
        // The maps are written: become root of the user namespace.
        if cfg.userns.is_some() {
            userns::become_root()?;
        }
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
        if cfg.userns.is_some() {
            // In a user namespace proc and sysfs go on before pivot_root:
            // see `kernel_filesystems`.
            kernel_filesystems(&root)?;
        }
        mount::mount_dev(&root)?;
        mount::pivot_into(&root)?;
        if cfg.userns.is_none() {
            mount::mount_proc()?;
            mount::mount_sys()?;
        }
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
        net::bind_text(
            "/etc/resolv.conf",
            &net::resolv_conf(&rootless::resolv_for(cfg.network, &cfg.host_resolv)),
        )?;
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

// ANCHOR: kernel_filesystems
/// `/proc` and `/sys` of a container in a user namespace, mounted on the new
/// root *before* pivot_root. The kernel lets root of a user namespace mount
/// proc or sysfs only while a full view of the same filesystem is already
/// visible in its mount namespace (the host's /proc and /sys, not yet
/// detached): a fresh mount must not reveal what mounts over the old one
/// hide (`mount_too_revealing` in fs/namespace.c). After pivot_root and the
/// detach of the old root there is none, and the mount fails with EPERM.
/// sysfs also needs the network namespace to belong to the user namespace.
fn kernel_filesystems(root: &Path) -> anyhow::Result<()> {
    use nix::mount::{MsFlags, mount};
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    for (fs, flags, shown) in [
        ("proc", nosuid, "MS_NOSUID|MS_NODEV|MS_NOEXEC"),
        (
            "sysfs",
            nosuid | MsFlags::MS_RDONLY,
            "MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC",
        ),
    ] {
        let dir = mount::dir_in_root(root, if fs == "proc" { "proc" } else { "sys" })?;
        workshop::call("mount", format!("{fs:?}, {dir:?}, {fs:?}, {shown}"), || {
            mount(Some(fs), &dir, Some(fs), flags, None::<&str>)
        })?;
    }
    Ok(())
}
// ANCHOR_END: kernel_filesystems

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
