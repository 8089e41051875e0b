//! `create`: everything up to the moment the command would run, and
//! nothing after it. The runtime makes the container and exits; the
//! container's init waits, alone, until `start`.
//!
//! ```text
//! step10 create (host)          setup process (host)          init (PID 1)
//! read the bundle, mkdir the state, mkfifo exec.fifo
//! make the cgroup, write the limits
//! fork ───────────────────────▶ (in the cgroup) waits for Go
//! Go ─────────────────────────▶ join namespaces by path (setns)
//!                               unshare(NEWUSER) ─ UserNs ─▶
//! write uid_map, gid_map ◀──────────────────────────────────
//! Mapped ─────────────────────▶ unshare(the other new ones)
//!                               fork ────────────────────────▶ (PID 1 of its namespace)
//! ◀───────────────────── Pid(N) exits                           mounts, devices
//! ◀──────────────────────────────────────────────────────────── Hooks
//! prestart, createRuntime hooks
//! HooksDone ─────────────────────────────────────────────────▶ createContainer hooks
//!                                                               pivot_root, masks, sysctls
//! ◀──────────────────────────────────────────────────────────── Ready
//! state.json, --pid-file; exit 0                                blocks opening exec.fifo
//! ```
//!
//! Why two forks: a new PID namespace (and a joined one) takes effect for
//! the *children* of the process that made it; the setup process makes
//! the namespaces, its child is PID 1 in them. The setup process exits, so
//! init's parent becomes the host's init (or the nearest subreaper): the
//! container outlives every runtime command.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::Mode;
use nix::unistd::{ForkResult, Pid, fork};
use oci_spec::runtime::{
    ContainerState, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxIdMapping, LinuxNamespaceType,
    LinuxResources, Spec,
};

use crate::cgroups::Cgroups;
use crate::hooks;
use crate::init;
use crate::spec::{self, Bundle};
use crate::state::{self, Container, Record};
use crate::sync::{self, Channel, Msg};

/// `create`'s flags.
#[derive(Debug, Clone)]
pub struct CreateOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub root: PathBuf,
}

/// Creates the container; on an error nothing is left behind.
pub fn create(opts: &CreateOpts) -> anyhow::Result<Record> {
    let bundle = spec::load(&opts.bundle)?;
    // No `process` is allowed at create; `start` refuses such a container.
    let terminal = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if terminal && opts.console_socket.is_none() {
        bail!(
            "process.terminal is true: give --console-socket PATH, where the terminal's master is sent (or set terminal to false)"
        );
    }
    let console = match &opts.console_socket {
        Some(path) => Some(
            UnixStream::connect(path)
                .with_context(|| format!("--console-socket {}: connect", path.display()))?,
        ),
        None => None,
    };
    let container = Container::create(&opts.root, &opts.id)?;
    let mut made = Made::default();
    match create_in(&container, &bundle, opts, console, &mut made) {
        Ok(record) => Ok(record),
        Err(err) => {
            made.undo();
            let _ = container.remove();
            Err(err)
        }
    }
}

/// What to undo if `create` fails half-way.
#[derive(Default)]
struct Made {
    init: Option<Pid>,
    cgroups: Option<Cgroups>,
}

impl Made {
    fn undo(&mut self) {
        if let Some(pid) = self.init.take() {
            let _ = kill(pid, Signal::SIGKILL);
            wait_gone(pid.as_raw());
        }
        if let Some(cgroups) = self.cgroups.take() {
            let _ = cgroups.remove();
        }
    }
}

/// Waits (up to 5 s) until `pid` is gone or a zombie.
pub fn wait_gone(pid: i32) {
    for _ in 0..500 {
        if state::start_time(pid).is_none() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

// ANCHOR: create_in
fn create_in(
    container: &Container,
    bundle: &Bundle,
    opts: &CreateOpts,
    console: Option<UnixStream>,
    made: &mut Made,
) -> anyhow::Result<Record> {
    let spec = &bundle.spec;
    container.save_config(spec)?;
    // init opens this for writing and blocks until `start` opens it for
    // reading: the whole of the create/start split is this one FIFO.
    nix::unistd::mkfifo(&container.fifo(), Mode::from_bits_truncate(0o600))
        .with_context(|| format!("mkfifo {}", container.fifo().display()))?;
    // In a user namespace init is root of the namespace only: on the host
    // it is whoever container uid 0 maps to, and must own the FIFO to open it.
    let (uid, gid) = host_root(spec);
    nix::unistd::chown(
        &container.fifo(),
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )?;
    let linux = spec.linux().as_ref();
    let resources = with_default_devices(spec)?;
    let cgroups = Cgroups::create(
        linux.and_then(|l| l.cgroups_path().as_deref()),
        &opts.id,
        resources.as_ref(),
    )?;
    made.cgroups = Some(cgroups.clone());
    let (ours, theirs) = sync::pair()?;
    // init keeps a descriptor of the state directory to open exec.fifo by
    // after pivot_root has taken the host's paths away.
    let state_dir: OwnedFd = nix::fcntl::open(
        &container.dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let lock_fd = container.lock_fd();
    // SAFETY: step10 is single-threaded here; the child only makes
    // syscalls and forks before it exits or execs.
    let setup = match unsafe { fork() }? {
        ForkResult::Child => {
            drop(ours);
            // Our copy of the state lock must not outlive `create`: init
            // lives until `start`, which takes the same lock.
            let _ = nix::unistd::close(lock_fd);
            setup_process(bundle, &opts.id, &theirs, state_dir, console)
        }
        ForkResult::Parent { child } => child,
    };
    drop(theirs);
    let result = (|| {
        cgroups.add(setup)?;
        ours.send(&Msg::Go)?;
        if wants_new(spec, LinuxNamespaceType::User) {
            ours.expect(&Msg::UserNs)?;
            write_maps(setup, spec)?;
            ours.send(&Msg::Mapped)?;
        }
        // The setup process sends init's PID after its fork returns; init,
        // running by then, may say `Hooks` first. Either order is right.
        match ours.recv()? {
            Msg::Pid(pid) => {
                ours.expect(&Msg::Hooks)?;
                Ok(Pid::from_raw(pid))
            }
            Msg::Hooks => match ours.recv()? {
                Msg::Pid(pid) => Ok(Pid::from_raw(pid)),
                other => bail!("the container's setup said {other:?} where its init's PID was due"),
            },
            other => bail!("the container's setup said {other:?} where its init's PID was due"),
        }
    })();
    let _ = nix::sys::wait::waitpid(setup, None);
    let init = result?;
    made.init = Some(init);
    let creating = state::oci_state(
        &opts.id,
        // The spec's states have no name for "namespaces made, process
        // not yet started"; hooks are told `created`, as crun tells them.
        ContainerState::Created,
        Some(init.as_raw()),
        &bundle.dir,
        spec,
    );
    let all = spec.hooks().as_ref();
    hooks::run(
        "prestart",
        all.and_then(|h| h.prestart().as_ref()),
        &creating,
    )?;
    hooks::run(
        "createRuntime",
        all.and_then(|h| h.create_runtime().as_ref()),
        &creating,
    )?;
    ours.send(&Msg::HooksDone)?;
    ours.expect(&Msg::Ready)?;
    let record = Record {
        id: opts.id.clone(),
        pid: init.as_raw(),
        start_time: state::start_time(init.as_raw())
            .ok_or_else(|| anyhow::anyhow!("the container's init ended during create"))?,
        bundle: bundle.dir.clone(),
        cgroups: cgroups.paths().to_vec(),
        created: state::now_rfc3339(),
    };
    container.save(&record)?;
    if let Some(file) = &opts.pid_file {
        state::write_atomic(file, init.as_raw().to_string().as_bytes())
            .with_context(|| format!("--pid-file {}", file.display()))?;
    }
    made.init = None;
    made.cgroups = None;
    Ok(record)
}
// ANCHOR_END: create_in

// ANCHOR: default_devices
/// `linux.resources` with the device rules every container needs after
/// the config's own: mknod of anything, its listed `linux.devices`, the six default devices,
/// its terminals (`/dev/pts/*`, `/dev/ptmx`, `/dev/console`), as runc's
/// `AllowedDevices`. A config that denies everything (the usual first
/// rule) would otherwise forbid even /dev/null, and init's own mknod of it.
fn with_default_devices(spec: &Spec) -> anyhow::Result<Option<LinuxResources>> {
    let Some(linux) = spec.linux().as_ref() else {
        return Ok(None);
    };
    let Some(resources) = linux.resources().clone() else {
        return Ok(None);
    };
    let Some(mut rules) = resources.devices().clone() else {
        return Ok(Some(resources));
    };
    let rule = |typ, major: Option<i64>, minor: Option<i64>| {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(typ)
            .access("rwm");
        if let Some(major) = major {
            b = b.major(major);
        }
        if let Some(minor) = minor {
            b = b.minor(minor);
        }
        b.build()
    };
    for d in linux.devices().iter().flatten() {
        // The device cgroup knows block and character devices only; a
        // FIFO (`p`) needs no rule, and `u` is a character device.
        let typ = match d.typ() {
            LinuxDeviceType::B => LinuxDeviceType::B,
            LinuxDeviceType::C | LinuxDeviceType::U => LinuxDeviceType::C,
            _ => continue,
        };
        rules.push(rule(typ, Some(d.major()), Some(d.minor()))?);
    }
    // mknod of any node (`m` on `c *:*` and `b *:*`): making one is no
    // danger, opening it is, and that stays denied (runc's first rules).
    let mknod_only = |typ| {
        LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(typ)
            .access("m")
            .build()
    };
    rules.push(mknod_only(LinuxDeviceType::C)?);
    rules.push(mknod_only(LinuxDeviceType::B)?);
    let c = LinuxDeviceType::C;
    for (major, minor) in [
        (Some(1), Some(3)),
        (Some(1), Some(5)),
        (Some(1), Some(7)),
        (Some(1), Some(8)),
        (Some(1), Some(9)),
        (Some(5), Some(0)),
        (Some(5), Some(1)),
        (Some(5), Some(2)),
        (Some(136), None),
    ] {
        rules.push(rule(c, major, minor)?);
    }
    let mut resources = resources;
    resources.set_devices(Some(rules));
    Ok(Some(resources))
}
// ANCHOR_END: default_devices

/// Does the config ask for a new namespace of this type (listed, no path)?
pub fn wants_new(spec: &Spec, typ: LinuxNamespaceType) -> bool {
    namespaces(spec)
        .iter()
        .any(|(t, path)| *t == typ && path.is_none())
}

/// The config's namespaces: each type, and the path to join (None: a new one).
pub fn namespaces(spec: &Spec) -> Vec<(LinuxNamespaceType, Option<PathBuf>)> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .map(|ns| (ns.typ(), ns.path().clone()))
        .collect()
}

pub fn clone_flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The namespace's file under /proc/PID/ns.
pub fn ns_file(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Time => "time",
    }
}

/// Is the namespace at `path` the one we are in already? (Same inode on
/// the same nsfs device as /proc/self/ns/<type>.)
pub fn same_namespace(path: &Path, typ: LinuxNamespaceType) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ours = format!("/proc/self/ns/{}", ns_file(typ));
    match (std::fs::metadata(path), std::fs::metadata(ours)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

/// The host's uid and gid of the container's root: 0 and 0 without a user
/// namespace, else what the maps make of container ID 0.
fn host_root(spec: &Spec) -> (u32, u32) {
    let linux = spec.linux().as_ref();
    let find = |maps: Option<&Vec<LinuxIdMapping>>| {
        maps.into_iter()
            .flatten()
            .find(|m| m.container_id() == 0)
            .map_or(0, |m| m.host_id())
    };
    if !wants_new(spec, LinuxNamespaceType::User) {
        return (0, 0);
    }
    (
        find(linux.and_then(|l| l.uid_mappings().as_ref())),
        find(linux.and_then(|l| l.gid_mappings().as_ref())),
    )
}

// ANCHOR: write_maps
/// The user namespace's maps, written by root on the host into the setup
/// process's /proc files (chapter 9's handshake, with the config's maps).
fn write_maps(pid: Pid, spec: &Spec) -> anyhow::Result<()> {
    let linux = spec.linux().as_ref();
    let lines = |maps: Option<&Vec<LinuxIdMapping>>| -> String {
        maps.into_iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect()
    };
    let uid = lines(linux.and_then(|l| l.uid_mappings().as_ref()));
    let gid = lines(linux.and_then(|l| l.gid_mappings().as_ref()));
    if !gid.is_empty() {
        crate::idmap::write_proc(&format!("/proc/{pid}/gid_map"), &gid)?;
    }
    if !uid.is_empty() {
        crate::idmap::write_proc(&format!("/proc/{pid}/uid_map"), &uid)?;
    }
    Ok(())
}
// ANCHOR_END: write_maps

// ANCHOR: setup_process
/// The setup process: joins and makes the namespaces, forks init into
/// them, reports init's PID and exits.
fn setup_process(
    bundle: &Bundle,
    id: &str,
    chan: &Channel,
    state_dir: OwnedFd,
    console: Option<UnixStream>,
) -> ! {
    let result = (|| -> anyhow::Result<i32> {
        chan.expect(&Msg::Go)?;
        let spec = &bundle.spec;
        // The paths are opened first, while our mount namespace is the
        // host's: a joined mount namespace would hide them.
        let mut joins = Vec::new();
        for (typ, path) in namespaces(spec) {
            if let Some(path) = path {
                let fd = nix::fcntl::open(&path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                    .with_context(|| {
                        format!(
                            "linux.namespaces: open the {typ:?} namespace {}",
                            path.display()
                        )
                    })?;
                joins.push((typ, path, fd));
            }
        }
        // The user namespace first: the others then belong to it.
        joins.sort_by_key(|(typ, _, _)| *typ != LinuxNamespaceType::User);
        let mut new = CloneFlags::empty();
        for (typ, path) in namespaces(spec) {
            if path.is_none() {
                new |= clone_flag(typ);
            }
        }
        let mut joined_user = false;
        for (typ, path, fd) in &joins {
            if *typ == LinuxNamespaceType::User {
                setns(fd, *typ, path)?;
                joined_user = true;
            }
        }
        if new.contains(CloneFlags::CLONE_NEWUSER) {
            unshare(CloneFlags::CLONE_NEWUSER)?;
            chan.send(&Msg::UserNs)?;
            chan.expect(&Msg::Mapped)?;
        }
        if joined_user || new.contains(CloneFlags::CLONE_NEWUSER) {
            become_root()?;
        }
        for (typ, path, fd) in &joins {
            if *typ != LinuxNamespaceType::User {
                setns(fd, *typ, path)?;
            }
        }
        // CLONE_NEWCGROUP last: the cgroup we are in (the container's,
        // `create` moved us) becomes the root of the new namespace's view.
        let rest = new - CloneFlags::CLONE_NEWUSER - CloneFlags::CLONE_NEWCGROUP;
        if !rest.is_empty() {
            unshare(rest)?;
        }
        if new.contains(CloneFlags::CLONE_NEWCGROUP) {
            unshare(CloneFlags::CLONE_NEWCGROUP)?;
        }
        let userns = new.contains(CloneFlags::CLONE_NEWUSER) || joined_user;
        // SAFETY: single-threaded; the child runs init, which execs or exits.
        match unsafe { fork() }? {
            ForkResult::Child => init::run(bundle, id, chan, state_dir, console, userns),
            ForkResult::Parent { child } => {
                chan.send(&Msg::Pid(child.as_raw()))?;
                Ok(0)
            }
        }
    })();
    report_and_exit(chan, result)
}
// ANCHOR_END: setup_process

fn setns(fd: &OwnedFd, typ: LinuxNamespaceType, path: &Path) -> anyhow::Result<()> {
    workshop::call("setns", format!("{path:?}, {typ:?}"), || {
        nix::sched::setns(fd, clone_flag(typ))
    })
    .map_err(|e| {
        let e = if e.errno == nix::errno::Errno::EINVAL {
            e.with_hint("the file is not a namespace of that type")
        } else {
            e
        };
        anyhow::anyhow!("linux.namespaces: join {path:?} as {typ:?}: {e}")
    })?;
    Ok(())
}

fn unshare(flags: CloneFlags) -> anyhow::Result<()> {
    workshop::call("unshare", workshop::explain::clone_flags(flags), || {
        nix::sched::unshare(flags)
    })?;
    Ok(())
}

/// In a new user namespace: uid and gid 0 inside, if the maps have them.
fn become_root() -> anyhow::Result<()> {
    let root_u = nix::unistd::Uid::from_raw(0);
    let root_g = nix::unistd::Gid::from_raw(0);
    // Without a mapping for 0 these fail; the process stays as it is.
    let _ = nix::unistd::setresgid(root_g, root_g, root_g);
    let _ = nix::unistd::setresuid(root_u, root_u, root_u);
    Ok(())
}

/// The end of a process `create` made: an error goes to `create` as one
/// line (and it exits 125); success exits with `code`.
pub fn report_and_exit(chan: &Channel, result: anyhow::Result<i32>) -> ! {
    let code = match result {
        Ok(code) => code,
        Err(err) => {
            // After `Ready`, `create` has gone: the error goes where the
            // container's output goes.
            if chan.send(&Msg::Error(format!("{err:#}"))).is_err() {
                eprintln!("{}: {err:#}", workshop::explain::program());
            }
            workshop::exit::RUNTIME_FAILED
        }
    };
    // SAFETY: _exit ends the process without running the parent's exit
    // handlers or flushing its copied buffers twice.
    unsafe { libc::_exit(code) }
}
