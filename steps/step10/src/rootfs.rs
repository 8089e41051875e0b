//! The container's filesystem, as config.json describes it: chapter 3's
//! mount namespace and pivot_root, but every mount, device and path now
//! comes from the bundle instead of being fixed in code.
//!
//! In order (runc's and crun's):
//! 1. [`prepare`]: the propagation of `/` (`linux.rootfsPropagation`,
//!    default `rslave`), the rootfs bound onto itself, `mounts` in the
//!    listed order, `linux.devices` and the default devices and symlinks;
//! 2. (`createRuntime` and `createContainer` hooks);
//! 3. pivot_root (chapter 3's [`crate::mount::pivot_into`]);
//! 4. [`finish`]: `linux.maskedPaths`, `linux.readonlyPaths`,
//!    `linux.sysctl`, `root.readonly`.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use workshop::call;

/// `path` inside `root`: `..` and absolute components cannot leave it.
pub fn in_root(root: &Path, path: &Path) -> PathBuf {
    let mut out = root.to_path_buf();
    for part in path.components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::ParentDir if out != root => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// What a mount's `options` mean to mount(2).
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub flags: MsFlags,
    /// Flags that must be cleared (`rw`, `suid`, ...): matter on a remount.
    pub clear: MsFlags,
    /// MS_SHARED, MS_SLAVE, ...: applied by a second mount(2) call.
    pub propagation: MsFlags,
    /// What the filesystem itself reads (`mode=755,size=65536k`).
    pub data: Vec<String>,
    pub bind: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            flags: MsFlags::empty(),
            clear: MsFlags::empty(),
            propagation: MsFlags::empty(),
            data: Vec::new(),
            bind: false,
        }
    }
}

// ANCHOR: options
/// Splits `options` into mount(2)'s flags and the filesystem's data, as
/// mount(8) does.
pub fn parse_options(options: &[String]) -> Options {
    let mut o = Options::default();
    for opt in options {
        let (set, clear) = match opt.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "bind" => {
                o.bind = true;
                (MsFlags::MS_BIND, MsFlags::empty())
            }
            "rbind" => {
                o.bind = true;
                (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty())
            }
            other => {
                if let Some(p) = propagation(other) {
                    o.propagation |= p;
                } else {
                    o.data.push(other.to_owned());
                }
                continue;
            }
        };
        o.flags |= set;
        o.flags &= !clear;
        o.clear |= clear;
    }
    o
}

/// `private`, `rshared`, ... as mount(2) flags.
pub fn propagation(name: &str) -> Option<MsFlags> {
    let (rec, base) = match name.strip_prefix('r') {
        Some(base) if base != "o" && !base.is_empty() => (MsFlags::MS_REC, base),
        _ => (MsFlags::empty(), name),
    };
    let flag = match base {
        "private" => MsFlags::MS_PRIVATE,
        "shared" => MsFlags::MS_SHARED,
        "slave" => MsFlags::MS_SLAVE,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        _ => return None,
    };
    Some(rec | flag)
}
// ANCHOR_END: options

fn do_mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> anyhow::Result<()> {
    call(
        "mount",
        format!("{source:?}, {target:?}, {fstype:?}, {flags:?}, {data:?}"),
        || mount(source, target, fstype, flags, data),
    )?;
    Ok(())
}

// ANCHOR: prepare
/// Step 1, in the container's new mount namespace, before pivot_root.
pub fn prepare(spec: &Spec, rootfs: &Path, userns: bool) -> anyhow::Result<()> {
    let linux = spec.linux().as_ref();
    // Nothing we mount from here on may propagate back to the host: `/`
    // becomes a slave of the host's mounts, receiving but never sending.
    // runc applies `linux.rootfsPropagation` here, so that `rshared` makes
    // the container's own mounts (its rootfs bind among them) appear on the
    // host; we apply it to the new root after pivot_root ([`finish`]), where
    // `shared` makes a peer group of the container's own.
    if let Some(name) = linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        if propagation(name).is_none() {
            bail!(
                "linux.rootfsPropagation {name:?} is none of private, shared, slave, unbindable (with or without r)"
            );
        }
    }
    do_mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None,
    )?;
    // pivot_root refuses a new root whose parent mount is shared.
    make_parent_private(rootfs)?;
    do_mount(
        Some(rootfs),
        rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    for m in spec.mounts().iter().flatten() {
        mount_one(rootfs, m).with_context(|| format!("mounts: {}", m.destination().display()))?;
    }
    make_devices(rootfs, linux.and_then(|l| l.devices().as_ref()), userns)?;
    Ok(())
}
// ANCHOR_END: prepare

/// The mount that holds `path`, from /proc/self/mountinfo, made private if
/// it is shared.
fn make_parent_private(path: &Path) -> anyhow::Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut best: Option<(&str, bool)> = None;
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(point), Some(optional)) = (fields.get(4), fields.get(6..)) else {
            continue;
        };
        if path.starts_with(point) && best.is_none_or(|(b, _)| point.len() >= b.len()) {
            let shared = optional
                .iter()
                .take_while(|f| **f != "-")
                .any(|f| f.starts_with("shared:"));
            best = Some((point, shared));
        }
    }
    if let Some((point, true)) = best {
        do_mount(None, Path::new(point), None, MsFlags::MS_PRIVATE, None)?;
    }
    Ok(())
}

// ANCHOR: mount_one
/// One entry of `mounts`, inside `rootfs`.
fn mount_one(rootfs: &Path, m: &Mount) -> anyhow::Result<()> {
    let dest = in_root(rootfs, m.destination());
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().as_deref().unwrap_or("none");
    let source = m.source().as_deref();
    if opts.bind {
        let source = source.ok_or_else(|| anyhow::anyhow!("a bind mount needs a source"))?;
        let meta = std::fs::metadata(source)
            .with_context(|| format!("bind source {}", source.display()))?;
        make_target(&dest, meta.is_dir())?;
        do_mount(
            Some(source),
            &dest,
            None,
            opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC),
            None,
        )?;
        // A bind mount takes its other flags only on a remount.
        let rest = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !rest.is_empty() {
            do_mount(
                None,
                &dest,
                None,
                rest | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
                None,
            )?;
        }
    } else if typ == "cgroup" || typ == "cgroup2" {
        make_target(&dest, true)?;
        mount_cgroup(&dest, opts.flags)?;
    } else {
        make_target(&dest, true)?;
        let data = opts.data.join(",");
        let data = (!data.is_empty()).then_some(data.as_str());
        let source = source.unwrap_or(Path::new(typ));
        if let Err(err) = do_mount(Some(source), &dest, Some(typ), opts.flags, data) {
            // sysfs in a network namespace that is not the container's
            // own may not be mounted: bind the host's, as runc does.
            if typ == "sysfs" && dest.ends_with("sys") {
                do_mount(
                    Some(Path::new("/sys")),
                    &dest,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                )?;
                do_mount(
                    None,
                    &dest,
                    None,
                    opts.flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
                    None,
                )?;
            } else {
                return Err(err);
            }
        }
    }
    if !opts.propagation.is_empty() {
        do_mount(None, &dest, None, opts.propagation, None)?;
    }
    Ok(())
}
// ANCHOR_END: mount_one

/// The cgroup filesystem at `dest`: cgroup2 on a v2 host; on v1, a tmpfs
/// with one mount per hierarchy, as runc makes it. In the container's
/// cgroup namespace each shows the container's own cgroup as its root.
fn mount_cgroup(dest: &Path, flags: MsFlags) -> anyhow::Result<()> {
    let flags = flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let v2 = info
        .lines()
        .any(|l| l.contains(" /sys/fs/cgroup ") && l.contains(" - cgroup2 "));
    if v2 {
        return do_mount(
            Some(Path::new("cgroup2")),
            dest,
            Some("cgroup2"),
            flags,
            None,
        );
    }
    do_mount(
        Some(Path::new("tmpfs")),
        dest,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )?;
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = left.split(' ').collect();
        let rfields: Vec<&str> = right.split(' ').collect();
        if rfields.first() != Some(&"cgroup") {
            continue;
        }
        let (Some(point), Some(super_opts)) = (fields.get(4), rfields.get(2)) else {
            continue;
        };
        let Some(name) = point.strip_prefix("/sys/fs/cgroup/") else {
            continue;
        };
        let subsystems: Vec<&str> = super_opts
            .split(',')
            .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("release_agent"))
            .collect();
        let target = dest.join(name);
        std::fs::create_dir_all(&target)?;
        do_mount(
            Some(Path::new("cgroup")),
            &target,
            Some("cgroup"),
            flags,
            Some(&subsystems.join(",")),
        )?;
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        do_mount(
            None,
            dest,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
            None,
        )?;
    }
    Ok(())
}

/// A mount point: a directory, or an empty file for a file's bind mount.
fn make_target(path: &Path, dir: bool) -> anyhow::Result<()> {
    if dir {
        std::fs::create_dir_all(path).with_context(|| format!("mkdir -p {}", path.display()))?;
    } else if !path.exists() {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    }
    Ok(())
}

// ANCHOR: devices
/// The six devices every container has (the spec's "default devices"),
/// then `linux.devices`: made with mknod(2), or, in a user namespace where
/// mknod is refused, bound from the host's. Then the default symlinks.
fn make_devices(
    rootfs: &Path,
    devices: Option<&Vec<LinuxDevice>>,
    userns: bool,
) -> anyhow::Result<()> {
    let dev = rootfs.join("dev");
    std::fs::create_dir_all(&dev)?;
    let defaults: [(&str, i64, i64); 6] = [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ];
    let listed = |p: &str| {
        devices
            .into_iter()
            .flatten()
            .any(|d| d.path() == Path::new(p))
    };
    for (path, major, minor) in defaults {
        if !listed(path) {
            make_node(
                rootfs,
                Path::new(path),
                LinuxDeviceType::C,
                major,
                minor,
                0o666,
                0,
                0,
                userns,
            )?;
        }
    }
    for d in devices.into_iter().flatten() {
        make_node(
            rootfs,
            d.path(),
            d.typ(),
            d.major(),
            d.minor(),
            d.file_mode().unwrap_or(0o666),
            d.uid().unwrap_or(0),
            d.gid().unwrap_or(0),
            userns,
        )
        .with_context(|| format!("linux.devices: {}", d.path().display()))?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        let path = dev.join(link);
        if path.symlink_metadata().is_ok() {
            if link != "ptmx" {
                continue;
            }
            std::fs::remove_file(&path).ok();
        }
        symlink(target, &path).with_context(|| format!("symlink {}", path.display()))?;
    }
    if rootfs.join("proc/kcore").exists() && dev.join("core").symlink_metadata().is_err() {
        symlink("/proc/kcore", dev.join("core")).ok();
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn make_node(
    rootfs: &Path,
    path: &Path,
    typ: LinuxDeviceType,
    major: i64,
    minor: i64,
    mode: u32,
    uid: u32,
    gid: u32,
    userns: bool,
) -> anyhow::Result<()> {
    let target = in_root(rootfs, path);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if target.symlink_metadata().is_ok() {
        std::fs::remove_file(&target).ok();
    }
    if userns {
        // Root of a user namespace may not mknod: the host's node, bound.
        std::fs::File::create(&target)?;
        return do_mount(Some(path), &target, None, MsFlags::MS_BIND, None);
    }
    let kind = match typ {
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => bail!("type \"a\" is for cgroup rules, not a device node"),
    };
    call(
        "mknod",
        format!("{target:?}, {kind:?}|{mode:o}, {major}:{minor}"),
        || {
            mknod(
                &target,
                kind,
                Mode::from_bits_truncate(mode & 0o7777),
                makedev(major as u64, minor as u64),
            )
        },
    )?;
    // mknod's mode passes the umask; the config's mode is exact.
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode & 0o7777))?;
    nix::unistd::chown(
        &target,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )?;
    Ok(())
}
// ANCHOR_END: devices

// ANCHOR: pivot
/// Step 3: `rootfs` (bound onto itself by [`prepare`], so a mount point)
/// becomes `/`. Chapter 3's `pivot_into` binds the rootfs again first,
/// recursively: a copy that would leave out every mount the config made
/// `unbindable` (MS_BIND|MS_REC skips them). Here the first bind stands.
pub fn pivot(rootfs: &Path) -> anyhow::Result<()> {
    call("chdir", format!("{rootfs:?}"), || {
        nix::unistd::chdir(rootfs)
    })?;
    // pivot_root(".", "."): the old root lands on top of the new one, at
    // the same place; chapter 3 explains the trick.
    call("pivot_root", "\".\", \".\"", || {
        nix::unistd::pivot_root(".", ".")
    })?;
    call("umount2", "\".\", MNT_DETACH", || {
        nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH)
    })?;
    call("chdir", "\"/\"", || nix::unistd::chdir("/"))?;
    Ok(())
}
// ANCHOR_END: pivot

/// No mount namespace: the root only changed with chroot(2), no mount
/// made (it would be the host's, and stay after the container).
pub fn chroot(rootfs: &Path) -> anyhow::Result<()> {
    call("chroot", format!("{rootfs:?}"), || {
        nix::unistd::chroot(rootfs)
    })?;
    call("chdir", "\"/\"", || nix::unistd::chdir("/"))?;
    Ok(())
}

/// What a config without a mount namespace asks for and does not get, in
/// one warning.
pub fn warn_shared_mounts(spec: &Spec) {
    let linux = spec.linux().as_ref();
    let some = |n: Option<usize>| n.is_some_and(|n| n > 0);
    let given = [
        ("mounts", some(spec.mounts().as_ref().map(Vec::len))),
        (
            "linux.devices",
            some(linux.and_then(|l| l.devices().as_ref()).map(Vec::len)),
        ),
        (
            "linux.maskedPaths",
            some(linux.and_then(|l| l.masked_paths().as_ref()).map(Vec::len)),
        ),
        (
            "linux.readonlyPaths",
            some(
                linux
                    .and_then(|l| l.readonly_paths().as_ref())
                    .map(Vec::len),
            ),
        ),
        (
            "root.readonly",
            spec.root().as_ref().and_then(|r| r.readonly()) == Some(true),
        ),
    ];
    let skipped: Vec<&str> = given
        .iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| *name)
        .collect();
    if !skipped.is_empty() {
        eprintln!(
            "{}: warning: no mount namespace: the container shares the host's mount table, so {} are not applied (add {{\"type\": \"mount\"}} to linux.namespaces)",
            workshop::explain::program(),
            skipped.join(", ")
        );
    }
}

// ANCHOR: finish
/// Step 4, after pivot_root: what is hidden, what is read-only, the
/// sysctls, and a read-only root last.
pub fn finish(spec: &Spec) -> anyhow::Result<()> {
    let linux = spec.linux().as_ref();
    for path in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        mask(Path::new(path)).with_context(|| format!("linux.maskedPaths: {path}"))?;
    }
    for path in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        readonly(Path::new(path)).with_context(|| format!("linux.readonlyPaths: {path}"))?;
    }
    for (key, value) in linux
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
    {
        let file = Path::new("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&file, value)
            .with_context(|| format!("linux.sysctl: write {value:?} to {}", file.display()))?;
    }
    if let Some(prop) = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation)
    {
        do_mount(None, Path::new("/"), None, prop, None)?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        do_mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
        )?;
    }
    Ok(())
}

/// A masked path: a directory gets an empty read-only tmpfs over it, a
/// file /dev/null bound over it. One that does not exist needs nothing.
fn mask(path: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
        Ok(meta) if meta.is_dir() => do_mount(
            Some(Path::new("tmpfs")),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
        ),
        Ok(_) => do_mount(
            Some(Path::new("/dev/null")),
            path,
            None,
            MsFlags::MS_BIND,
            None,
        ),
    }
}

/// A read-only path: bound onto itself, then the bind remounted read-only.
fn readonly(path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    do_mount(
        Some(path),
        path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    do_mount(
        None,
        path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC,
        None,
    )
}
// ANCHOR_END: finish

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_cannot_leave_the_root() {
        let root = Path::new("/r");
        assert_eq!(
            in_root(root, Path::new("/dev/../../etc")),
            Path::new("/r/etc")
        );
        assert_eq!(in_root(root, Path::new("proc")), Path::new("/r/proc"));
    }

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o = parse_options(&[
            "nosuid".into(),
            "strictatime".into(),
            "mode=755".into(),
            "size=65536k".into(),
            "rslave".into(),
        ]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.propagation, MsFlags::MS_REC | MsFlags::MS_SLAVE);
        assert_eq!(o.data, ["mode=755", "size=65536k"]);
        assert!(!o.bind);
    }

    #[test]
    fn rw_clears_ro_and_rbind_is_recursive() {
        let o = parse_options(&["ro".into(), "rw".into(), "rbind".into()]);
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert!(o.bind);
        assert_eq!(propagation("ro"), None);
        assert_eq!(
            propagation("runbindable"),
            Some(MsFlags::MS_REC | MsFlags::MS_UNBINDABLE)
        );
    }
}
