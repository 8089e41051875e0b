//! What changes when the runtime is not root: where its files go, which
//! cgroup it may use, which network it can have, and how the layers it did
//! not make can still be used. Each is a choice the kernel's rules force;
//! chapter 9 walks through them.
//!
//! | needs                        | as root (step08)         | as an ordinary user (step09)                 |
//! |------------------------------|--------------------------|----------------------------------------------|
//! | rootfs, images, run dirs     | /var/lib/contain-rs-workshop | `$XDG_DATA_HOME/contain-rs-workshop` (~/.local/share) |
//! | cgroup                       | /sys/fs/cgroup/contain-rs-workshop | a v2 subtree delegated to the user, or none |
//! | network                      | a veth pair              | pasta or slirp4netns (a user-mode TCP/IP stack), or none |
//! | /dev                         | bind mounts of six nodes | the same: mknod is refused in a user namespace |
//! | overlay                      | trusted.overlay.* xattrs | `userxattr`: user.overlay.*                  |

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};
use nix::unistd::Pid;
use workshop::explain;

use crate::userns::Maps;

/// `--network` of step09: step04's two, and the user-mode stacks.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// eth0 wired by a veth pair to the host (root only: CAP_NET_ADMIN on the host).
    Veth,
    /// Only lo.
    None,
    /// pasta (package passt): a tap device whose packets pasta turns into
    /// ordinary sockets of the user on the host.
    Pasta,
    /// slirp4netns: the same idea, older: 10.0.2.100/24, DNS at 10.0.2.3.
    Slirp4netns,
}

/// The flag.
#[derive(clap::Args, Debug, Clone)]
pub struct NetworkOpt {
    /// The container's network: veth (root: eth0 wired to the host), none
    /// (only lo), pasta or slirp4netns (a user-mode network, for a rootless
    /// container). Default: veth as root; as an ordinary user pasta, else
    /// slirp4netns, else none.
    #[arg(long, value_enum)]
    pub network: Option<Network>,
}

/// The network to use: the one asked for, or the default for who we are;
/// and, when the default had to fall back to none, the line that says why
/// (printed once everything else is known to be valid).
pub fn network(opt: &NetworkOpt, root: bool) -> anyhow::Result<(Network, Option<String>)> {
    let chosen = choose_network(opt, root)?;
    if matches!(chosen, Network::Pasta | Network::Slirp4netns) {
        // Both open /dev/net/tun inside the container's namespaces, as the
        // user: most distributions make it mode 0666; some leave it 0600.
        if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open(TUN) {
            let why = format!(
                "{chosen:?} needs {TUN}, which you cannot open ({e}); most distributions make \
                 it mode 0666 (udev), as root: chmod 0666 {TUN}"
            )
            .to_lowercase();
            if opt.network.is_some() {
                bail!("--network {why}");
            }
            let note = format!("no user-mode network: {why}; running with --network none");
            return Ok((Network::None, Some(note)));
        }
    }
    if chosen == Network::None && opt.network.is_none() {
        let note = "no user-mode network: neither pasta (package passt) nor slirp4netns is \
                    installed; running with --network none";
        return Ok((chosen, Some(note.into())));
    }
    Ok((chosen, None))
}

/// The tun/tap device pasta and slirp4netns make the container's eth0 with.
pub const TUN: &str = "/dev/net/tun";

fn choose_network(opt: &NetworkOpt, root: bool) -> anyhow::Result<Network> {
    match (opt.network, root) {
        (Some(Network::Veth), false) => bail!(
            "--network veth needs root (CAP_NET_ADMIN on the host, to create the pair and move \
             one end); use --network pasta, slirp4netns or none"
        ),
        (Some(Network::Pasta), _) if !crate::userns::on_path("pasta") => {
            bail!("--network pasta: pasta is not installed (package passt)")
        }
        (Some(Network::Slirp4netns), _) if !crate::userns::on_path("slirp4netns") => {
            bail!("--network slirp4netns: slirp4netns is not installed (package slirp4netns)")
        }
        (Some(n), _) => Ok(n),
        (None, true) => Ok(Network::Veth),
        (None, false) if crate::userns::on_path("pasta") => Ok(Network::Pasta),
        (None, false) if crate::userns::on_path("slirp4netns") => Ok(Network::Slirp4netns),
        (None, false) => Ok(Network::None),
    }
}

// ANCHOR: apparmor
/// Ubuntu (23.10 on) lets an unprivileged process create a user namespace
/// but, with `kernel.apparmor_restrict_unprivileged_userns = 1`, gives it
/// no capabilities there unless an AppArmor profile with `userns,` confines
/// the program: every mount would fail with EPERM. Said before anything is
/// created, with the fix. `restrict` is the sysctl's value, `label` our own
/// AppArmor label (/proc/self/attr/current): "unconfined" means no profile.
pub fn apparmor_check(restrict: Option<&str>, label: Option<&str>) -> anyhow::Result<()> {
    let restricted = restrict.is_some_and(|v| v.trim() != "0");
    let unconfined = label.is_none_or(|l| l.trim().trim_end_matches('\0') == "unconfined");
    if restricted && unconfined {
        bail!(
            "AppArmor restricts unprivileged user namespaces here \
             (kernel.apparmor_restrict_unprivileged_userns = 1): the container's root would have no \
             capabilities; allow this program with the workshop's profile (the lab VM has it: \
             sudo lab/provision.sh installs /etc/apparmor.d/contain-rs-workshop), or for this boot: \
             sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
        );
    }
    Ok(())
}

/// [`apparmor_check`] on this machine.
pub fn apparmor_allows_userns() -> anyhow::Result<()> {
    let restrict =
        std::fs::read_to_string("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").ok();
    let label = std::fs::read_to_string("/proc/self/attr/apparmor/current")
        .or_else(|_| std::fs::read_to_string("/proc/self/attr/current"))
        .ok();
    apparmor_check(restrict.as_deref(), label.as_deref())
}
// ANCHOR_END: apparmor

/// Where an ordinary user's rootfs, images and run directories live:
/// `$XDG_DATA_HOME/contain-rs-workshop`, `~/.local/share/contain-rs-workshop`
/// without it.
pub fn data_home() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_DATA_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => PathBuf::from(home).join(".local/share"),
            _ => bail!("neither XDG_DATA_HOME nor HOME is set: cannot tell where your rootfs goes"),
        },
    };
    Ok(base.join("contain-rs-workshop"))
}

// ANCHOR: lower_owner
/// A lower layer must belong to an ID the container has: the files of one
/// that does not read as owned by `nobody` inside, and overlayfs cannot copy
/// them up (it would have to chown the copy to an ID it cannot name).
pub fn check_lower(layer: &Path, maps: &Maps) -> anyhow::Result<()> {
    let owner = std::fs::metadata(layer)
        .with_context(|| format!("stat {}", layer.display()))?
        .uid();
    if !maps.maps_uid(owner) {
        bail!(
            "{} belongs to uid {owner}, which the container's user namespace does not map \
             (it would be nobody inside, and read-only); use a rootfs of your own: \
             `cargo run -p rootfs-fetcher -- --dest {}` or `cp -a` it as you",
            layer.display(),
            data_home()
                .map(|d| d.join("rootfs").display().to_string())
                .unwrap_or_else(|_| "~/.local/share/contain-rs-workshop/rootfs".into())
        );
    }
    Ok(())
}
// ANCHOR_END: lower_owner

// ANCHOR: delegated
/// The cgroup v2 directory this user may create cgroups under: going up
/// from the runtime's own cgroup, the highest one still owned by the user
/// with a `cgroup.procs` the user may write. systemd gives each user such a
/// subtree (user@UID.service, `Delegate=yes`); a login session's scope is
/// not part of it, `systemd-run --user --scope` is. Moving a process
/// between two cgroups needs write access to `cgroup.procs` of their common
/// ancestor, which is why the runtime must already run inside the subtree.
pub fn delegated_cgroup(root: &Path) -> Result<PathBuf, String> {
    let statfs = nix::sys::statfs::statfs(root).map_err(|e| format!("statfs {root:?}: {e}"))?;
    if statfs.filesystem_type() != nix::sys::statfs::CGROUP2_SUPER_MAGIC {
        return Err(format!(
            "{} is cgroup v1, where only root creates cgroups",
            root.display()
        ));
    }
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(path) = own.lines().find_map(|l| l.strip_prefix("0::")) else {
        return Err("this process is in no cgroup v2".into());
    };
    let uid = nix::unistd::geteuid().as_raw();
    let ours = |dir: &Path| {
        std::fs::metadata(dir).is_ok_and(|m| m.uid() == uid)
            && nix::unistd::access(&dir.join("cgroup.procs"), nix::unistd::AccessFlags::W_OK)
                .is_ok()
    };
    let mut dir = root.join(path.trim_start_matches('/'));
    if !ours(&dir) {
        return Err(format!(
            "your cgroup {path} is not delegated to you; run under \
             `systemd-run --user --scope -p Delegate=yes` for limits"
        ));
    }
    while let Some(parent) = dir.parent() {
        if parent == root || !ours(parent) {
            break;
        }
        dir = parent.to_path_buf();
    }
    Ok(dir)
}
// ANCHOR_END: delegated

// ANCHOR: user_network
/// A user-mode network stack started for the container's network namespace,
/// stopped with the container.
pub enum UserNet {
    /// pasta, our child; its PID file tells it has configured the tap.
    Pasta { child: Child, pid_file: PathBuf },
    /// slirp4netns runs as our child; it ends when `exit` is closed.
    Slirp { child: Child, exit: OwnedFd },
}

/// Starts pasta or slirp4netns for the namespaces of `child`, after the maps
/// are written and before the child is released: both join the child's
/// user namespace (we own it, so they may) and its network namespace, make
/// a tap device there with an address and a default route, and carry its
/// packets through ordinary sockets on the host. Returns once the network
/// is configured.
pub fn start_user_network(
    network: Network,
    child: Pid,
    run_dir: &Path,
) -> anyhow::Result<Option<UserNet>> {
    match network {
        Network::Pasta => {
            let pid_file = run_dir.join("pasta.pid");
            let mut cmd = Command::new("pasta");
            cmd.args(["--config-net", "--quiet", "--foreground"])
                .args(["--ns-ifname", "eth0", "--pid"])
                .arg(&pid_file)
                .arg(child.to_string());
            say(&cmd);
            unblock_signals(&mut cmd);
            die_with_us(&mut cmd);
            // In the foreground, our child: it ends with us even when we are
            // killed. It writes its PID file once the tap is configured.
            let mut pasta = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .context("cannot run pasta")?;
            for _ in 0..5000 {
                if std::fs::read_to_string(&pid_file).is_ok_and(|s| !s.trim().is_empty()) {
                    return Ok(Some(UserNet::Pasta {
                        child: pasta,
                        pid_file,
                    }));
                }
                if let Some(status) = pasta.try_wait()? {
                    let mut why = String::new();
                    if let Some(mut err) = pasta.stderr.take() {
                        use std::io::Read;
                        let _ = err.read_to_string(&mut why);
                    }
                    bail!("pasta failed ({status}): {}", why.trim());
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let _ = pasta.kill();
            let _ = pasta.wait();
            bail!("pasta did not configure the network within 5 s")
        }
        Network::Slirp4netns => {
            // Close-on-exec, all four: slirp4netns gets exactly its two
            // ends (cleared in pre_exec). Holding the write end of its exit
            // pipe itself, it would never see the pipe close.
            let cloexec = nix::fcntl::OFlag::O_CLOEXEC;
            let (ready_r, ready_w) = nix::unistd::pipe2(cloexec)?;
            let (exit_r, exit_w) = nix::unistd::pipe2(cloexec)?;
            let mut cmd = Command::new("slirp4netns");
            cmd.args(["--configure", "--mtu=65520", "--disable-host-loopback"])
                .arg(format!("--ready-fd={}", ready_w.as_raw_fd()))
                .arg(format!("--exit-fd={}", exit_r.as_raw_fd()))
                .arg(child.to_string())
                .arg("eth0");
            say(&cmd);
            let (ready_w_raw, exit_r_raw) = (ready_w.as_raw_fd(), exit_r.as_raw_fd());
            unblock_signals(&mut cmd);
            die_with_us(&mut cmd);
            // SAFETY: between fork and exec this only clears close-on-exec on
            // two descriptors, with fcntl, which is async-signal-safe.
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(move || {
                    for fd in [ready_w_raw, exit_r_raw] {
                        if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
            // It tells stdout and stderr about the tap fd it passes; errors
            // show as its ending before it is ready.
            let child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot run slirp4netns")?;
            drop((ready_w, exit_r));
            let mut byte = [0u8; 1];
            let n = nix::unistd::read(&ready_r, &mut byte)?;
            if n != 1 {
                bail!("slirp4netns ended before the network was configured");
            }
            Ok(Some(UserNet::Slirp {
                child,
                exit: exit_w,
            }))
        }
        Network::Veth | Network::None => Ok(None),
    }
}

impl UserNet {
    /// Stops the stack and waits until it is gone.
    pub fn stop(self) {
        match self {
            UserNet::Pasta {
                mut child,
                pid_file,
            } => {
                let pid = Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                let _ = child.wait();
                let _ = std::fs::remove_file(pid_file);
            }
            UserNet::Slirp { mut child, exit } => {
                drop(exit);
                let _ = child.wait();
            }
        }
    }
}
// ANCHOR_END: user_network

/// A program the runtime starts must not inherit its blocked signals
/// (chapter 2 blocks SIGTERM, SIGCHLD and the rest to wait for them): a
/// pasta with SIGTERM blocked cannot be stopped, and with SIGCHLD blocked it
/// never reaps its own children. The mask is emptied between fork and exec.
pub fn unblock_signals(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: sigprocmask is async-signal-safe; the closure touches nothing
    // but the new process's own signal mask.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&nix::sys::signal::SigSet::empty()),
                None,
            )
            .map_err(std::io::Error::from)
        });
    }
}

/// Ends `cmd`'s process when the runtime ends, even by SIGKILL
/// (PR_SET_PDEATHSIG): a user-mode network stack outlives the namespace it
/// serves otherwise.
fn die_with_us(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and only changes the new process.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
}

/// What a killed run may have left running: the pasta whose PID its run
/// directory names. Stopped only if that process is still a pasta of ours.
pub fn stop_stale_pasta(run_dir: &Path) {
    let Some(pid) = std::fs::read_to_string(run_dir.join("pasta.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let ours = std::fs::metadata(format!("/proc/{pid}"))
        .is_ok_and(|m| m.uid() == nix::unistd::geteuid().as_raw());
    if ours && (comm.starts_with("pasta") || comm.starts_with("passt")) {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

fn say(cmd: &Command) {
    explain::say(format_args!(
        "run {} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    ));
}

/// The nameserver for the container's /etc/resolv.conf: slirp4netns
/// answers DNS at 10.0.2.3; pasta and veth use the host's servers.
pub fn resolv_for(network: Network, host_resolv: &str) -> String {
    match network {
        Network::Slirp4netns => "nameserver 10.0.2.3\n".into(),
        _ => host_resolv.into(),
    }
}

/// Chapter 8's whiteout conversion for a store an ordinary user unpacks:
/// `trusted.*` attributes need CAP_SYS_ADMIN over the host, so an opaque
/// directory is marked `user.overlay.opaque=y`, which overlayfs reads when
/// mounted with `userxattr` (as it is in a user namespace).
pub fn convert_user(dir: BorrowedFd<'_>, name: &[u8]) -> Result<bool, String> {
    if name == crate::whiteout::OPAQUE {
        set_xattr(dir, c"user.overlay.opaque", b"y").map_err(|e| {
            format!("makes its directory opaque, but fsetxattr(user.overlay.opaque) failed: {e}")
        })?;
        return Ok(true);
    }
    crate::whiteout::convert(dir, name)
}

fn set_xattr(fd: BorrowedFd<'_>, name: &std::ffi::CStr, value: &[u8]) -> std::io::Result<()> {
    // SAFETY: `fd` is open for the call's duration, `name` is NUL-terminated,
    // and the pointer/length describe `value`, which outlives the call.
    let rc = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

// ANCHOR: shifted_copy
/// `--userns remap` as root: a copy of `layer` whose every file belongs to
/// the same IDs plus the range's start, made once per range and kept, as
/// Docker's userns-remap keeps /var/lib/docker/UID.GID/. Host root's files
/// would otherwise be nobody's inside (unmapped) and could not be copied up.
/// `trusted.overlay.opaque` becomes `user.overlay.opaque`: overlayfs in a
/// user namespace reads only the latter.
pub fn shifted_copy(layer: &Path, cache: &Path, maps: &Maps) -> anyhow::Result<PathBuf> {
    use sha2::Digest;
    let meta = std::fs::metadata(layer).with_context(|| format!("stat {}", layer.display()))?;
    // Keyed by the layer's path and its top directory's change time: a
    // rootfs unpacked anew gets a new copy.
    let key = hex::encode(sha2::Sha256::digest(format!(
        "{}\0{}.{}",
        layer.display(),
        meta.ctime(),
        meta.ctime_nsec()
    )));
    let dir = cache.join(format!("remap-{}.{}", maps.root_uid(), maps.root_gid()));
    let dest = dir.join(&key[..16]);
    if dest.exists() {
        return Ok(dest);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    explain::say(format_args!(
        "copy {} to {}, IDs + {}",
        layer.display(),
        dest.display(),
        maps.root_uid()
    ));
    let mut links = std::collections::HashMap::new();
    let copied = copy_tree(layer, &tmp, maps, &mut links);
    if let Err(err) = copied {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(err.context(format!("shifted copy of {}", layer.display())));
    }
    match std::fs::rename(&tmp, &dest) {
        Ok(()) => Ok(dest),
        // Another run made it first: use theirs.
        Err(_) if dest.exists() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dest)
        }
        Err(e) => Err(e).with_context(|| format!("rename to {}", dest.display())),
    }
}
// ANCHOR_END: shifted_copy

fn copy_tree(
    src: &Path,
    dst: &Path,
    maps: &Maps,
    links: &mut std::collections::HashMap<(u64, u64), PathBuf>,
) -> anyhow::Result<()> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(src)?;
    let ft = meta.file_type();
    let shift = |id: u32, base: u32| {
        id.checked_add(base)
            .filter(|_| id < crate::userns::RANGE)
            .unwrap_or(base + 65534)
    };
    let (uid, gid) = (
        shift(meta.uid(), maps.root_uid()),
        shift(meta.gid(), maps.root_gid()),
    );
    if !ft.is_dir() && meta.nlink() > 1 {
        if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
            std::fs::hard_link(first, dst)?;
            return Ok(());
        }
        links.insert((meta.dev(), meta.ino()), dst.to_path_buf());
    }
    if ft.is_dir() {
        std::fs::create_dir(dst)?;
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(src)?, dst)?;
    } else if ft.is_file() {
        std::fs::copy(src, dst)?;
    } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
        let kind = nix::sys::stat::SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT);
        nix::sys::stat::mknod(
            dst,
            kind,
            nix::sys::stat::Mode::from_bits_truncate(meta.mode() & 0o7777),
            meta.rdev(),
        )?;
    } else {
        return Ok(()); // a socket: nothing to copy
    }
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        dst,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    if ft.is_symlink() {
        return Ok(());
    }
    // After the chown, which clears set-id bits.
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    if ft.is_dir() {
        if xattr_is(src, c"trusted.overlay.opaque", b"y") {
            let dir = std::fs::File::open(dst)?;
            use std::os::fd::AsFd;
            set_xattr(dir.as_fd(), c"user.overlay.opaque", b"y")?;
        }
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            copy_tree(&entry.path(), &dst.join(entry.file_name()), maps, links)?;
        }
    }
    Ok(())
}

fn xattr_is(path: &Path, name: &std::ffi::CStr, want: &[u8]) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    let mut value = [0u8; 8];
    // SAFETY: both strings are NUL-terminated; `value` is writable for its length.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            name.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    usize::try_from(n).is_ok_and(|n| &value[..n] == want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_is_refused_without_root_and_defaults_follow_who_runs() {
        let opt = |n| NetworkOpt { network: n };
        assert!(network(&opt(Some(Network::Veth)), false).is_err());
        assert_eq!(network(&opt(None), true).unwrap(), (Network::Veth, None));
        assert_eq!(
            network(&opt(Some(Network::None)), false).unwrap(),
            (Network::None, None)
        );
    }

    #[test]
    fn apparmor_refuses_only_restricted_and_unconfined() {
        assert!(apparmor_check(None, None).is_ok());
        assert!(apparmor_check(Some("0\n"), Some("unconfined\n")).is_ok());
        assert!(apparmor_check(Some("1\n"), Some("unconfined\n")).is_err());
        assert!(apparmor_check(Some("1\n"), None).is_err());
        let profile = "contain-rs-workshop-step09 (unconfined)\n";
        assert!(apparmor_check(Some("1\n"), Some(profile)).is_ok());
    }

    #[test]
    fn slirp_gets_its_own_nameserver() {
        assert_eq!(
            resolv_for(Network::Slirp4netns, "nameserver 1.1.1.1\n"),
            "nameserver 10.0.2.3\n"
        );
        assert_eq!(resolv_for(Network::Pasta, "x"), "x");
    }
}
