//! The mount namespace: which filesystems a process sees, and where.
//!
//! A new mount namespace starts as a copy of the host's mount table. This
//! step turns that copy into a container: it makes the copy private, moves
//! the root onto the rootfs with `pivot_root`, detaches the host's old root
//! so nothing of it stays reachable, and mounts what programs expect:
//! `/proc`, a small `/dev`, `/dev/pts`, `/dev/shm` and a read-only `/sys`.
//! See mount_namespaces(7), pivot_root(2), mount(2), umount2(2).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag, OpenHow, ResolveFlag, open, openat2, readlinkat};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, mkdirat, umask};
use nix::unistd::{chdir, chroot, symlinkat};
use workshop::{SyscallError, call, io_errno};

pub use step02::pid::make_mounts_private;

/// `pivot_into` is the `pivot` module's: re-exported here, where
/// `container.rs` and the later steps look for it. A glob, so that exercise
/// 3, whose `pivot` module is the learner's, compiles this file as it is.
pub use crate::pivot::*;

// ANCHOR: dir_in_root
/// The real path of directory `name` inside `root`, created there when the
/// rootfs lacks it, for a mount made *before* pivot_root.
///
/// Before pivot_root a path such as `<rootfs>/dev` is resolved by the
/// host's rules: if the rootfs holds a symlink `dev -> /etc`, the host's
/// `/etc` is what a naive `mkdir` or `mount` would reach. `openat2(2)` with
/// `RESOLVE_IN_ROOT` resolves the path as if `root` were `/`: absolute
/// symlinks and `..` stay inside it, so `dev -> /etc` means `<rootfs>/etc`,
/// as it will once the container runs. Missing directories are made one
/// name at a time with `mkdirat(2)` relative to their parent's descriptor,
/// and a symlink to a missing place is followed inside the root (as runc's
/// securejoin does), so nothing is ever created outside `root`.
pub fn dir_in_root(root: &Path, name: &str) -> Result<PathBuf, SyscallError> {
    let root_fd = call("open", format!("{root:?}, O_PATH|O_DIRECTORY"), || {
        open(
            root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    })?;
    let dir = open_in_root(&root_fd, Path::new(name), 0)?;
    // Where that directory really is, as the host names it: the kernel
    // keeps the path of every open file, and /proc (still the host's here)
    // shows it.
    let fd_path = format!("/proc/self/fd/{}", dir.as_raw_fd());
    call("readlink", format!("{fd_path:?}"), || {
        nix::fcntl::readlink(fd_path.as_str())
    })
    .map(PathBuf::from)
}

/// Opens (creating as needed) `path` inside the root `root_fd` stands for.
fn open_in_root(root_fd: &OwnedFd, path: &Path, depth: u32) -> Result<OwnedFd, SyscallError> {
    // The parent of a top-level name is the root itself.
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let args = format!("rootfd, {path:?}, O_PATH|O_DIRECTORY, RESOLVE_IN_ROOT");
    match openat2_in_root(root_fd, path, how, &args) {
        Err(err) if err.errno == Errno::ENOENT => {}
        opened => return opened,
    }
    // 40 symlinks in a row is where the kernel itself gives up (ELOOP).
    if depth > 40 {
        return call("openat2", args, || Err(Errno::ELOOP));
    }
    // Missing: make its parent first, then it, by name, in the parent.
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => (parent, name),
        _ => return call("openat2", args, || Err(Errno::ENOENT)),
    };
    let parent_fd = open_in_root(root_fd, parent, depth + 1)?;
    let made = call("mkdirat", format!("parentfd, {name:?}, 0755"), || {
        mkdirat(&parent_fd, name, Mode::from_bits_truncate(0o755))
    });
    match made {
        Ok(()) => {}
        // The name is there but leads nowhere: a symlink to a missing
        // place. Make that place, inside the root.
        Err(err) if err.errno == Errno::EEXIST => {
            let target = call("readlinkat", format!("parentfd, {name:?}"), || {
                readlinkat(&parent_fd, name)
            })?;
            let target = Path::new(&target);
            let within = if target.is_absolute() {
                lexical_in_root(target)
            } else {
                lexical_in_root(&parent.join(target))
            };
            open_in_root(root_fd, &within, depth + 1)?;
        }
        Err(err) => return Err(err),
    }
    openat2_in_root(root_fd, path, how, &args)
}

/// `openat2` with `RESOLVE_IN_ROOT` fails with EAGAIN when a rename or a
/// mount anywhere on the machine raced with its lookup: the kernel can
/// then not prove that a `..` stayed inside the root. openat2(2) says the
/// caller may retry, and other containers starting at the same moment are
/// enough to cause it.
fn openat2_in_root(
    root_fd: &OwnedFd,
    path: &Path,
    how: OpenHow,
    args: &str,
) -> Result<OwnedFd, SyscallError> {
    let mut tries = 1;
    loop {
        match call("openat2", args, || openat2(root_fd, path, how)) {
            Err(err) if err.errno == Errno::EAGAIN && tries < 100 => tries += 1,
            opened => return opened,
        }
    }
}

/// `path` as a relative path below the root, `..` stopping at the root as
/// the kernel's does (`/../etc` is `/etc`).
fn lexical_in_root(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}
// ANCHOR_END: dir_in_root

/// A directory in the container's own tree, made when missing, for a
/// mount made after pivot_root (or chroot). `/` is the rootfs by then, so
/// nothing outside it can be reached; the same walk as [`dir_in_root`]
/// still follows a symlink to a missing place (`proc -> /elsewhere`) by
/// making that place.
pub fn ensure_dir(path: &str) -> Result<(), SyscallError> {
    if Path::new(path).is_dir() {
        return Ok(());
    }
    let root = call("open", "\"/\", O_PATH|O_DIRECTORY", || {
        open(
            "/",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    })?;
    open_in_root(&root, Path::new(path.trim_start_matches('/')), 0).map(drop)
}

/// A fresh `/proc` (chapter 2's mount) on the new root, whose rootfs may
/// not have the directory.
pub fn mount_proc() -> Result<(), SyscallError> {
    ensure_dir("/proc")?;
    step02::pid::mount_proc()
}

// ANCHOR: no_pivot
/// `--no-pivot`: for a root that pivot_root refuses, the initial ramfs
/// above all (a machine booted from an initramfs that never switched to a
/// real root: pivot_root(2) says EINVAL, since that root has no parent
/// mount to move). This is runc's `--no-pivot`: move the rootfs mount onto
/// `/` with `MS_MOVE`, then `chroot(".")` into it.
///
/// It is weaker, and the book says why: the host's root stays mounted in
/// the container's mount namespace, underneath, merely out of sight of
/// path lookups; and a chroot is a per-process setting that a process with
/// CAP_SYS_CHROOT can leave (chroot into a subdirectory, then walk `..`
/// past the old root). step06 keeps CAP_SYS_CHROOT, as Docker does.
pub fn move_root_and_chroot() -> Result<(), SyscallError> {
    call("mount", "\".\", \"/\", NULL, MS_MOVE", || {
        mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
    })?;
    call("chroot", "\".\"", || chroot("."))?;
    call("chdir", "\"/\"", || chdir("/"))
}
// ANCHOR_END: no_pivot

/// Set by `--no-pivot` (see [`crate::rootfs::RootfsOpt`]): [`pivot_into`]
/// then moves the root and chroots instead.
static NO_PIVOT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes [`pivot_into`] use `MS_MOVE` and `chroot` instead of pivot_root.
pub fn set_no_pivot(on: bool) {
    NO_PIVOT.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether `--no-pivot` was given.
pub fn no_pivot() -> bool {
    NO_PIVOT.load(std::sync::atomic::Ordering::Relaxed)
}

// ANCHOR: dev
/// The device files every program may open: the defaults of the OCI
/// runtime specification, bind-mounted from the host's `/dev`.
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// A fresh, minimal `/dev` in `rootfs`, made before pivot_root while the
/// host's `/dev` is still in reach: a tmpfs mounted `nodev`, the six devices
/// bind-mounted into it, the `/dev/fd` links, a private devpts instance for
/// terminals, and `/dev/shm`.
///
/// The container must not see the host's `/dev`: with it a process could
/// open the host's disks. And it must not be able to make such a node
/// itself: Docker's capability set keeps CAP_MKNOD (step06), and `mknod` of
/// the host's disk inside a container is an old way out. `nodev` makes every
/// device node on this tmpfs unopenable; the six bind mounts still open,
/// because a bind mount keeps the flags of the mount it comes from.
pub fn mount_dev(rootfs: &Path) -> Result<(), SyscallError> {
    let dev = dir_in_root(rootfs, "dev")?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_STRICTATIME;
    call(
        "mount",
        format!(
            "\"tmpfs\", {dev:?}, \"tmpfs\", MS_NOSUID|MS_NODEV|MS_STRICTATIME, \"mode=755,size=64k\""
        ),
        || {
            mount(
                Some("tmpfs"),
                &dev,
                Some("tmpfs"),
                flags,
                Some("mode=755,size=64k"),
            )
        },
    )?;
    for name in DEVICES {
        let host = format!("/dev/{name}");
        let target = dev.join(name);
        // A bind mount needs something to cover: an empty file.
        call(
            "open",
            format!("{target:?}, O_CREAT|O_WRONLY|O_CLOEXEC, 0644"),
            || std::fs::File::create(&target).map(drop).map_err(io_errno),
        )?;
        call(
            "mount",
            format!("{host:?}, {target:?}, NULL, MS_BIND"),
            || {
                mount(
                    Some(host.as_str()),
                    &target,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
            },
        )?;
    }

    for (target, link) in [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ] {
        let link = dev.join(link);
        call("symlink", format!("{target:?}, {link:?}"), || {
            symlinkat(target, AT_FDCWD, &link)
        })?;
    }

    // A new devpts instance: the container's terminals are numbered from 0
    // and it cannot see the host's. Not nodev: its nodes are the terminals.
    let pts = dev.join("pts");
    mkdir(&pts, 0o755)?;
    call(
        "mount",
        format!(
            "\"devpts\", {pts:?}, \"devpts\", MS_NOSUID|MS_NOEXEC, \"newinstance,ptmxmode=0666,mode=0620\""
        ),
        || {
            mount(
                Some("devpts"),
                &pts,
                Some("devpts"),
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                Some("newinstance,ptmxmode=0666,mode=0620"),
            )
        },
    )?;
    let shm = dev.join("shm");
    mkdir(&shm, 0o1777)?;
    call(
        "mount",
        format!("\"shm\", {shm:?}, \"tmpfs\", MS_NOSUID|MS_NODEV, \"mode=1777,size=64m\""),
        || {
            mount(
                Some("shm"),
                &shm,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some("mode=1777,size=64m"),
            )
        },
    )
}
// ANCHOR_END: dev

// ANCHOR: sys
/// `/sys`, read-only: programs read it (the network interfaces, the CPUs),
/// but a container must not write kernel settings through it.
pub fn mount_sys() -> Result<(), SyscallError> {
    ensure_dir("/sys")?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    call(
        "mount",
        "\"sysfs\", \"/sys\", \"sysfs\", MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC",
        || mount(Some("sysfs"), "/sys", Some("sysfs"), flags, None::<&str>),
    )
}
// ANCHOR_END: sys

fn mkdir(path: &Path, mode: u32) -> Result<(), SyscallError> {
    let old_umask = umask(Mode::empty());
    let made = call("mkdir", format!("{path:?}, {mode:#o}"), || {
        nix::unistd::mkdir(path, Mode::from_bits_truncate(mode))
    });
    umask(old_umask);
    made
}
