//! Chapter 9's fixture: real unprivileged users, their own copy of the test
//! rootfs, and running a step binary as one of them.
//!
//! Rootless containers are only rootless if the runtime really runs as an
//! ordinary user: `setuid` to a uid with no capabilities on the host and no
//! groups. The checks run as root (they look from the host at what the user's
//! container did), so they need users to run the runtime as:
//!
//! - [`with_range`]: `contain-rs-rootless`, with 65536 subordinate uids and
//!   gids in /etc/subuid and /etc/subgid (a free range, never one that
//!   overlaps an existing entry or a user's uid), so the runtime can give
//!   the container a full map through newuidmap/newgidmap;
//! - [`without_range`]: `contain-rs-rootless1`, with no subordinate ids at
//!   all, for the single map `0 <uid> 1`;
//! - [`root_range`]: the first range of `root` in both files (for
//!   `--userns remap`), added if root has none. The entries this fixture
//!   adds stay: other tests (and runs at the same time) rely on them, and
//!   they are harmless: subordinate ids are only usable through the setuid
//!   newuidmap/newgidmap, by their owner.
//!
//! Users and ranges are made once, with `useradd`/`usermod` (or, on a
//! machine without them such as the qemu VM's initramfs, by appending to
//! /etc/passwd, /etc/group, /etc/subuid and /etc/subgid), under an exclusive
//! `flock` on [`HOMES`]`/.lock`, so concurrent tests and test processes
//! create them exactly once. The users have a home under [`HOMES`], no
//! login shell, and no password.
//!
//! [`user_rootfs`] is a copy of [`crate::rootfs::busybox_rootfs`] owned by
//! the user (kept in the user's home, rebuilt when the test rootfs changes),
//! and [`Rootless`] is one check's run environment: a temp dir owned by the
//! user with `HOME`, `XDG_DATA_HOME` and a private copy of that rootfs
//! (`WORKSHOP_ROOTFS`), and a [`Rootless::command`] that spawns the step
//! binary as the user (setgroups([]), setresgid, setresuid in the child
//! before exec), with a clean environment. The binary is copied to a 0755
//! temp dir when the user could not reach it where it is (a target dir
//! under a 0700 home).

use std::ffi::CString;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, lchown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::run::{Output, RUN_LIMIT, Target, run_command};

/// The user with a subordinate range.
pub const USER: &str = "contain-rs-rootless";
/// The user without one.
pub const USER_WITHOUT_RANGE: &str = "contain-rs-rootless1";
/// Where the users' homes are (and the fixture's lock).
pub const HOMES: &str = "/var/lib/contain-rs-workshop/rootless-home";
/// How many subordinate ids a full map needs (and the fixture gives).
pub const RANGE: u32 = 65536;
/// The environment variable every fixture run carries (the run's temp
/// dir), so that helpers the runtime started (pasta, slirp4netns) can be
/// found on the host afterwards.
pub const MARKER: &str = "TESTKIT_ROOTLESS_RUN";
/// The PATH a fixture run gets.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where the first free subordinate range is looked for.
const FIRST_CANDIDATE: u64 = 200_000;

/// An unprivileged user of the fixture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    /// The first of [`RANGE`] subordinate uids, if the user has them.
    pub subuid: Option<u32>,
    /// The first of [`RANGE`] subordinate gids, if the user has them.
    pub subgid: Option<u32>,
}

impl User {
    /// The `uid_map` the runtime should write for this user: the full map
    /// with a range, else the single map (the lines of /proc/PID/uid_map
    /// with the columns' spacing collapsed).
    pub fn uid_map(&self) -> Vec<String> {
        map_lines(self.uid, self.subuid)
    }

    /// The `gid_map`, as [`User::uid_map`].
    pub fn gid_map(&self) -> Vec<String> {
        map_lines(self.gid, self.subgid)
    }

    /// The host uid of uid `inside` of the container (None if unmapped).
    pub fn host_uid(&self, inside: u32) -> Option<u32> {
        host_id(self.uid, self.subuid, inside)
    }

    /// The host gid of gid `inside` of the container (None if unmapped).
    pub fn host_gid(&self, inside: u32) -> Option<u32> {
        host_id(self.gid, self.subgid, inside)
    }
}

fn map_lines(id: u32, sub: Option<u32>) -> Vec<String> {
    let mut lines = vec![format!("0 {id} 1")];
    if let Some(start) = sub {
        lines.push(format!("1 {start} {RANGE}"));
    }
    lines
}

fn host_id(id: u32, sub: Option<u32>, inside: u32) -> Option<u32> {
    match (inside, sub) {
        (0, _) => Some(id),
        (n, Some(start)) if n <= RANGE => Some(start + n - 1),
        _ => None,
    }
}

/// `contain-rs-rootless`, created with a subordinate range if needed.
pub fn with_range() -> Result<User> {
    locked(|| {
        let (uid, gid, home) = ensure_user(USER)?;
        let (subuid, subgid) = ensure_range(USER, uid)?;
        Ok(User {
            name: USER.into(),
            uid,
            gid,
            home,
            subuid: Some(subuid),
            subgid: Some(subgid),
        })
    })
}

/// `contain-rs-rootless1`, created if needed, and with no subordinate ids
/// (any it was given, by useradd's defaults or by hand, are removed).
pub fn without_range() -> Result<User> {
    locked(|| {
        let (uid, gid, home) = ensure_user(USER_WITHOUT_RANGE)?;
        remove_ranges(USER_WITHOUT_RANGE, uid)?;
        Ok(User {
            name: USER_WITHOUT_RANGE.into(),
            uid,
            gid,
            home,
            subuid: None,
            subgid: None,
        })
    })
}

/// root's first range of at least [`RANGE`] ids in /etc/subuid and
/// /etc/subgid (what `--userns remap` maps the container's root to),
/// added if root has none. Returns (first subuid, first subgid).
pub fn root_range() -> Result<(u32, u32)> {
    locked(|| ensure_range("root", 0))
}

/// Runs `f` under the fixture's exclusive lock.
fn locked<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    if !nix::unistd::geteuid().is_root() {
        bail!("the rootless fixture creates users and must run as root: run the tests as root");
    }
    fs::create_dir_all(HOMES).with_context(|| format!("create {HOMES}"))?;
    fs::set_permissions(HOMES, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod {HOMES}"))?;
    let lock_path = Path::new(HOMES).join(".lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("open {}", lock_path.display()))?;
    let _lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| errno)
        .with_context(|| format!("flock {}", lock_path.display()))?;
    f()
}

/// Whether `program` is on the fixture's PATH.
pub fn on_path(program: &str) -> Option<PathBuf> {
    PATH.split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// The user `name` (uid, gid, home), created if it does not exist, with
/// its home made and owned by it.
fn ensure_user(name: &str) -> Result<(u32, u32, PathBuf)> {
    let home = Path::new(HOMES).join(name);
    let user = match lookup(name)? {
        Some(user) => user,
        None => {
            create_user(name, &home)?;
            lookup(name)?.with_context(|| format!("user {name} was created but is not found"))?
        }
    };
    let (uid, gid) = (user.uid.as_raw(), user.gid.as_raw());
    if uid == 0 {
        bail!(
            "user {name} has uid 0: the rootless checks need an unprivileged user; remove it (userdel {name})"
        );
    }
    if user.dir != home {
        bail!(
            "user {name} exists with the home {}, not {}: it is not the fixture's; remove it \
             (userdel {name}) and the tests make their own",
            user.dir.display(),
            home.display()
        );
    }
    fs::create_dir_all(&home).with_context(|| format!("create {}", home.display()))?;
    let meta = fs::symlink_metadata(&home)?;
    if !meta.is_dir() {
        bail!("{} is not a directory", home.display());
    }
    if meta.uid() != uid || meta.gid() != gid {
        lchown(&home, Some(uid), Some(gid)).with_context(|| format!("chown {}", home.display()))?;
    }
    fs::set_permissions(&home, fs::Permissions::from_mode(0o755))?;
    Ok((uid, gid, home))
}

fn lookup(name: &str) -> Result<Option<nix::unistd::User>> {
    nix::unistd::User::from_name(name).with_context(|| format!("getpwnam({name:?})"))
}

fn create_user(name: &str, home: &Path) -> Result<()> {
    if on_path("useradd").is_some() {
        let out = Command::new("useradd")
            .args([
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "--comment",
                "contain-rs-workshop rootless tests",
                // No subordinate ids from login.defs: the fixture gives
                // (or withholds) them itself.
                "-K",
                "SUB_UID_COUNT=0",
                "-K",
                "SUB_GID_COUNT=0",
                "--home-dir",
            ])
            .arg(home)
            .arg(name)
            .stdin(Stdio::null())
            .output()
            .context("run useradd")?;
        // 9: the user exists (made since we looked, by another process).
        if !out.status.success() && out.status.code() != Some(9) {
            bail!(
                "useradd {name}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        return Ok(());
    }
    // No useradd (the qemu VM's initramfs): the files themselves.
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = fs::read_to_string("/etc/group").unwrap_or_default();
    let taken = |text: &str| -> Vec<u64> {
        text.lines()
            .filter_map(|l| l.split(':').nth(2)?.parse().ok())
            .collect()
    };
    let (uids, gids) = (taken(&passwd), taken(&group));
    let id = (1000u64..60000)
        .find(|id| !uids.contains(id) && !gids.contains(id))
        .context("no free uid between 1000 and 60000")?;
    append(
        "/etc/group",
        &format!("{name}:x:{id}:\n"),
        !group.is_empty() && !group.ends_with('\n'),
    )?;
    append(
        "/etc/passwd",
        &format!(
            "{name}:x:{id}:{id}:contain-rs-workshop rootless tests:{}:/usr/sbin/nologin\n",
            home.display()
        ),
        !passwd.is_empty() && !passwd.ends_with('\n'),
    )
}

fn append(path: &str, line: &str, newline_first: bool) -> Result<()> {
    use std::io::Write;
    let mut f = File::options()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("open {path}"))?;
    if newline_first {
        f.write_all(b"\n")?;
    }
    f.write_all(line.as_bytes())
        .with_context(|| format!("write {path}"))
}

/// One line of /etc/subuid or /etc/subgid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubRange {
    /// A user name or a uid, as written.
    pub owner: String,
    pub start: u64,
    pub count: u64,
}

/// The entries of /etc/subuid or /etc/subgid (none if it does not exist).
pub fn read_ranges(path: &str) -> Vec<SubRange> {
    parse_ranges(&fs::read_to_string(path).unwrap_or_default())
}

fn parse_ranges(text: &str) -> Vec<SubRange> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let owner = f.next()?.to_owned();
            let start = f.next()?.parse().ok()?;
            let count = f.next()?.parse().ok()?;
            Some(SubRange {
                owner,
                start,
                count,
            })
        })
        .collect()
}

/// The first range of `name` (or of its uid) with at least [`RANGE`] ids.
fn first_range(ranges: &[SubRange], name: &str, uid: u32) -> Option<u32> {
    ranges
        .iter()
        .find(|r| (r.owner == name || r.owner == uid.to_string()) && r.count >= RANGE as u64)
        .and_then(|r| u32::try_from(r.start).ok())
}

/// The first block of [`RANGE`] ids at or above [`FIRST_CANDIDATE`] that
/// overlaps no entry of either file and no uid or gid of a user or group.
fn free_start(taken: &[SubRange], ids: &[u64]) -> Option<u64> {
    let mut start = FIRST_CANDIDATE;
    while start + RANGE as u64 <= u32::MAX as u64 {
        let end = start + RANGE as u64;
        let clash = taken
            .iter()
            .any(|r| r.start < end && start < r.start + r.count)
            || ids.iter().any(|id| (start..end).contains(id));
        if !clash {
            return Some(start);
        }
        start += RANGE as u64;
    }
    None
}

/// (first subuid, first subgid) of `name`, added where it has none.
fn ensure_range(name: &str, uid: u32) -> Result<(u32, u32)> {
    let subuid = read_ranges("/etc/subuid");
    let subgid = read_ranges("/etc/subgid");
    let have_u = first_range(&subuid, name, uid);
    let have_g = first_range(&subgid, name, uid);
    if let (Some(u), Some(g)) = (have_u, have_g) {
        return Ok((u, g));
    }
    let mut taken = subuid.clone();
    taken.extend(subgid.iter().cloned());
    let mut ids = Vec::new();
    for file in ["/etc/passwd", "/etc/group"] {
        ids.extend(
            fs::read_to_string(file)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split(':').nth(2)?.parse::<u64>().ok()),
        );
    }
    let start = free_start(&taken, &ids).context("no free block of 65536 subordinate ids")?;
    let spec = format!("{start}-{}", start + RANGE as u64 - 1);
    if on_path("usermod").is_some() {
        let mut cmd = Command::new("usermod");
        if have_u.is_none() {
            cmd.args(["--add-subuids", &spec]);
        }
        if have_g.is_none() {
            cmd.args(["--add-subgids", &spec]);
        }
        let out = cmd
            .arg(name)
            .stdin(Stdio::null())
            .output()
            .context("run usermod")?;
        if !out.status.success() {
            bail!(
                "usermod --add-subuids/--add-subgids {spec} {name}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    } else {
        let line = format!("{name}:{start}:{RANGE}\n");
        for (have, file) in [(have_u, "/etc/subuid"), (have_g, "/etc/subgid")] {
            if have.is_none() {
                let text = fs::read_to_string(file).unwrap_or_default();
                append(file, &line, !text.is_empty() && !text.ends_with('\n'))?;
            }
        }
    }
    let u = first_range(&read_ranges("/etc/subuid"), name, uid);
    let g = first_range(&read_ranges("/etc/subgid"), name, uid);
    match (u, g) {
        (Some(u), Some(g)) => Ok((u, g)),
        _ => bail!(
            "adding the subordinate range {spec} to {name} left /etc/subuid or /etc/subgid without it"
        ),
    }
}

/// Removes every entry of `name` (or its uid) from /etc/subuid and /etc/subgid.
fn remove_ranges(name: &str, uid: u32) -> Result<()> {
    for (file, flag) in [
        ("/etc/subuid", "--del-subuids"),
        ("/etc/subgid", "--del-subgids"),
    ] {
        let mine: Vec<SubRange> = read_ranges(file)
            .into_iter()
            .filter(|r| r.owner == name || r.owner == uid.to_string())
            .collect();
        if mine.is_empty() {
            continue;
        }
        if on_path("usermod").is_some() {
            for r in &mine {
                let spec = format!("{}-{}", r.start, r.start + r.count.max(1) - 1);
                let out = Command::new("usermod")
                    .args([flag, &spec, name])
                    .stdin(Stdio::null())
                    .output()
                    .context("run usermod")?;
                if !out.status.success() {
                    bail!(
                        "usermod {flag} {spec} {name}: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                }
            }
        } else {
            let text = fs::read_to_string(file)?;
            let kept: String = text
                .lines()
                .filter(|l| {
                    let owner = l.split(':').next().unwrap_or("");
                    owner != name && owner != uid.to_string()
                })
                .map(|l| format!("{l}\n"))
                .collect();
            fs::write(file, kept).with_context(|| format!("write {file}"))?;
        }
    }
    Ok(())
}

/// A copy of the busybox test rootfs owned by `user` (every entry,
/// symlinks included, chowned to its uid and gid; modes kept), in its home.
/// Made once, and again when the test rootfs changes.
pub fn user_rootfs(user: &User) -> Result<PathBuf> {
    let base = crate::rootfs::busybox_rootfs()?;
    let stamp_want = crate::rootfs::sha256_file(crate::rootfs::busybox_tarball()?)?;
    locked(|| {
        let dest = user.home.join("rootfs");
        let stamp = user.home.join("rootfs.stamp");
        let owned = fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir() && m.uid() == user.uid);
        if owned && fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == stamp_want) {
            return Ok(dest.clone());
        }
        let tmp = user
            .home
            .join(format!(".rootfs.tmp-{}", crate::rootfs::unique()));
        let built = copy_tree(&base, &tmp).and_then(|()| chown_tree(&tmp, user.uid, user.gid));
        if let Err(e) = built {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let old = user
            .home
            .join(format!(".rootfs.old-{}", crate::rootfs::unique()));
        if fs::symlink_metadata(&dest).is_ok() {
            fs::rename(&dest, &old).with_context(|| format!("move {} aside", dest.display()))?;
        }
        fs::rename(&tmp, &dest).with_context(|| format!("rename into {}", dest.display()))?;
        fs::write(&stamp, format!("{stamp_want}\n"))?;
        let _ = fs::remove_dir_all(&old);
        Ok(dest)
    })
}

/// `cp -a src dest` (dest must not exist).
pub fn copy_tree(src: &Path, dest: &Path) -> Result<()> {
    let out = Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(dest)
        .stdin(Stdio::null())
        .output()
        .context("run cp -a")?;
    if !out.status.success() {
        bail!(
            "cp -a {} {}: {}",
            src.display(),
            dest.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `lchown` of every entry under `root` (root included), never following a
/// symlink (the rootfs's `/bin/sh -> /bin/busybox` would be the host's).
pub fn chown_tree(root: &Path, uid: u32, gid: u32) -> Result<()> {
    let meta = fs::symlink_metadata(root).with_context(|| format!("stat {}", root.display()))?;
    lchown(root, Some(uid), Some(gid)).with_context(|| format!("chown {}", root.display()))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    // chown clears set-id bits; put the mode back as it was.
    fs::set_permissions(root, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    if meta.is_dir() {
        for entry in fs::read_dir(root)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Whether a user other than the owner (and not in its group) can execute
/// `path`: the file has `o+x` and every directory above it `o+x`.
fn others_can_execute(path: &Path) -> bool {
    let Ok(path) = fs::canonicalize(path) else {
        return false;
    };
    let x = |p: &Path| fs::metadata(p).is_ok_and(|m| m.mode() & 0o001 != 0);
    x(&path) && path.ancestors().skip(1).all(x)
}

/// A base for temp dirs the user can reach: `$TMPDIR` if others can
/// enter it, else /tmp.
fn reachable_temp_dir() -> PathBuf {
    let tmp = std::env::temp_dir();
    if others_can_execute(&tmp) {
        tmp
    } else {
        PathBuf::from("/tmp")
    }
}

/// Which /dev/net/tun a fixture run sees.
///
/// pasta and slirp4netns open /dev/net/tun as the user. Most distributions
/// make it mode 0666; a machine without udev may leave it 0600 (this
/// project's CI machines do). So that the checks do not depend on that, and
/// never change the host's node, a run gets a private mount namespace (made
/// in the child, as root, before it drops to the user) with a tun node of
/// the fixture's own (10:200, in the run's temp dir) bind-mounted over
/// /dev/net/tun. The container's namespaces are made from that one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Tun {
    /// A node of mode 0666: what most distributions have.
    #[default]
    Open,
    /// A node of mode 0600 owned by root: the user cannot open it.
    Closed,
    /// The host's own /dev/net/tun, whatever its mode.
    Host,
}

/// How [`Rootless::command_with`] starts the runtime.
#[derive(Debug, Clone, Default)]
pub struct Spawn {
    /// A `cgroup.procs` the child writes itself into (as root) first.
    pub cgroup_procs: Option<PathBuf>,
    pub tun: Tun,
}

/// One check's rootless run environment (see the module's docs). Dropping
/// it removes the temp dir and everything the runs left in it.
#[derive(Debug)]
pub struct Rootless {
    pub user: User,
    /// The step binary, as the user runs it.
    pub bin: PathBuf,
    /// The run's temp dir (owned by the user): `home/`, `data/`, `rootfs/`.
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
    _bin_copy: Option<tempfile::TempDir>,
}

impl Rootless {
    /// A fresh environment for `user` to run `t`'s binary in.
    pub fn new(t: &Target, user: &User) -> Result<Rootless, String> {
        let err = |e: anyhow::Error| format!("the rootless fixture: {e:#}");
        let shared = user_rootfs(user).map_err(err)?;
        // Absolute: the run's working directory is its temp dir.
        let abs = fs::canonicalize(&t.bin).map_err(|e| format!("{}: {e}", t.bin.display()))?;
        let (bin, bin_copy) = if others_can_execute(&abs) {
            (abs, None)
        } else {
            let (dir, copy) = crate::run::world_executable_copy(&t.bin)?;
            (copy, Some(dir))
        };
        let tmp = tempfile::Builder::new()
            .prefix("testkit-rootless-")
            .tempdir_in(reachable_temp_dir())
            .map_err(|e| format!("create a temp dir: {e}"))?;
        let dir = tmp.path().to_path_buf();
        let made = (|| -> Result<()> {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
            lchown(&dir, Some(user.uid), Some(user.gid))?;
            for sub in ["home", "data"] {
                let p = dir.join(sub);
                fs::create_dir(&p)?;
                lchown(&p, Some(user.uid), Some(user.gid))?;
                fs::set_permissions(&p, fs::Permissions::from_mode(0o700))?;
            }
            copy_tree(&shared, &dir.join("rootfs"))?;
            for (name, mode) in [("tun-0666", 0o666), ("tun-0600", 0o600)] {
                let node = dir.join(name);
                nix::sys::stat::mknod(
                    &node,
                    nix::sys::stat::SFlag::S_IFCHR,
                    nix::sys::stat::Mode::from_bits_truncate(mode),
                    nix::sys::stat::makedev(10, 200),
                )
                .with_context(|| format!("mknod {}", node.display()))?;
                fs::set_permissions(&node, fs::Permissions::from_mode(mode))?;
            }
            Ok(())
        })();
        made.map_err(err)?;
        Ok(Rootless {
            user: user.clone(),
            bin,
            dir,
            _tmp: tmp,
            _bin_copy: bin_copy,
        })
    }

    /// The user's private rootfs for this check (`WORKSHOP_ROOTFS`).
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// `$XDG_DATA_HOME`.
    pub fn data_home(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Where step09 keeps run directories for this user by default:
    /// `$XDG_DATA_HOME/contain-rs-workshop/containers`.
    pub fn container_dir(&self) -> PathBuf {
        self.data_home().join("contain-rs-workshop/containers")
    }

    /// The marker's value: [`MARKER`]`=<dir>` is in every fixture run's
    /// environment.
    pub fn marker(&self) -> String {
        format!("{MARKER}={}", self.dir.display())
    }

    /// The step binary with `args`, run as the user: no groups, uid and gid
    /// the user's (real, effective and saved), stdin null, the working
    /// directory the run's temp dir, and only this environment: PATH, HOME,
    /// USER, LOGNAME, XDG_DATA_HOME, WORKSHOP_ROOTFS and the [`MARKER`].
    /// /dev/net/tun is one anybody may open ([`Tun::Open`]).
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_with(&Spawn::default(), args)
    }

    /// [`Rootless::command`] with the cgroup to start in and the tun device
    /// of `spawn`.
    pub fn command_with(&self, spawn: &Spawn, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env_clear()
            .env("PATH", PATH)
            .env("HOME", self.dir.join("home"))
            .env("USER", &self.user.name)
            .env("LOGNAME", &self.user.name)
            .env("XDG_DATA_HOME", self.data_home())
            .env("WORKSHOP_ROOTFS", self.rootfs())
            .env(MARKER, &self.dir)
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        let tun = match spawn.tun {
            Tun::Host => None,
            Tun::Open => Some(self.dir.join("tun-0666")),
            Tun::Closed => Some(self.dir.join("tun-0600")),
        };
        as_user(
            &mut cmd,
            self.user.uid,
            self.user.gid,
            spawn.cgroup_procs.as_deref(),
            tun.as_deref(),
        );
        cmd
    }

    /// Runs `args` as the user to the end (or [`RUN_LIMIT`]).
    pub fn run(&self, args: &[&str]) -> Result<Output, String> {
        run_command(self.command(args), RUN_LIMIT).map_err(|e| {
            format!(
                "`{} {}` as {}: {e}",
                self.bin.display(),
                args.join(" "),
                self.user.name
            )
        })
    }
}

impl Drop for Rootless {
    /// Whatever still carries this run's [`MARKER`] (a helper the runtime
    /// started and did not stop) is this check's: SIGKILL, before the temp
    /// dir goes.
    fn drop(&mut self) {
        let marker = self.marker();
        for _ in 0..20 {
            let left = processes_with(&marker);
            if left.is_empty() {
                return;
            }
            for pid in left {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// Makes `cmd`'s child drop to `uid`/`gid` with no supplementary groups
/// before exec, after first (as root) joining the cgroup whose
/// `cgroup.procs` is given, and, with `tun`, entering a private mount
/// namespace where that node is bind-mounted over /dev/net/tun (see
/// [`Tun`]). Root is needed for both, hence not std's `Command::uid`.
pub fn as_user(
    cmd: &mut Command,
    uid: u32,
    gid: u32,
    cgroup_procs: Option<&Path>,
    tun: Option<&Path>,
) {
    let cstr = |p: &Path| CString::new(p.as_os_str().as_bytes()).ok();
    let procs = cgroup_procs.and_then(cstr);
    let tun = tun.filter(|_| Path::new(TUN).exists()).and_then(cstr);
    let closure = move || -> std::io::Result<()> {
        // Only async-signal-safe calls below: this runs between fork and exec.
        let fail = || Err(std::io::Error::last_os_error());
        if let Some(procs) = &procs {
            // SAFETY: procs is a NUL-terminated string that lives across the
            // call; the descriptor is closed right after the write.
            let fd = unsafe { libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
            if fd < 0 {
                return fail();
            }
            // SAFETY: fd is open, the buffer is a static byte string of the given length.
            let n = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
            let write_err = std::io::Error::last_os_error();
            // SAFETY: fd is ours and open.
            unsafe { libc::close(fd) };
            if n != 1 {
                return Err(write_err);
            }
        }
        if let Some(node) = &tun {
            // SAFETY: plain syscall on an integer argument.
            if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
                return fail();
            }
            // Nothing of ours may propagate back to the host.
            // SAFETY: NUL-terminated static strings; null data is allowed.
            let private = unsafe {
                libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                )
            };
            if private != 0 {
                return fail();
            }
            // SAFETY: node is a NUL-terminated string that lives across the
            // call, the target a static one; null fstype and data are allowed
            // for a bind mount.
            let bind = unsafe {
                libc::mount(
                    node.as_ptr(),
                    c"/dev/net/tun".as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                )
            };
            if bind != 0 {
                return fail();
            }
        }
        // SAFETY: setgroups with a count of 0 reads nothing from the pointer.
        if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 {
            return fail();
        }
        // SAFETY: plain syscalls on integer arguments.
        if unsafe { libc::setresgid(gid, gid, gid) } != 0 {
            return fail();
        }
        // SAFETY: as above.
        if unsafe { libc::setresuid(uid, uid, uid) } != 0 {
            return fail();
        }
        Ok(())
    };
    // SAFETY: the closure makes only async-signal-safe calls (open, write,
    // close, unshare, mount, setgroups, setresgid, setresuid) and allocates
    // nothing.
    unsafe { cmd.pre_exec(closure) };
}

/// The host's tun device.
pub const TUN: &str = "/dev/net/tun";

// ------------------------------------------------- looking from the host

/// Every descendant of `pid` (children, their children, ...), now.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for child in crate::host::children_of(p) {
            if !found.contains(&child) {
                found.push(child);
                todo.push(child);
            }
        }
    }
    found
}

/// The four ids of a `Uid:` or `Gid:` line of /proc/PID/status (real,
/// effective, saved, filesystem), as the host sees them.
pub fn status_ids(pid: u32, field: &str) -> Option<Vec<u32>> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?;
    line.split_whitespace().map(|v| v.parse().ok()).collect()
}

/// `readlink /proc/PID/ns/<kind>`.
pub fn namespace_of(pid: u32, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// The lines of a /proc/PID/{uid,gid}_map read from the host, columns'
/// spacing collapsed.
pub fn id_map(pid: u32, which: &str) -> Vec<String> {
    normalize_map(&fs::read_to_string(format!("/proc/{pid}/{which}")).unwrap_or_default())
}

/// `0          1000          1` -> `0 1000 1`, per line.
pub fn normalize_map(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// Processes whose environment holds `marker` (`NAME=VALUE`): what a
/// fixture run started that kept the runtime's environment.
pub fn processes_with(marker: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if environ.split(|b| *b == 0).any(|v| v == marker.as_bytes()) && crate::host::alive(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// The command name of a process (`/proc/PID/comm`).
pub fn comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim().to_owned())
        .unwrap_or_default()
}

/// A process's arguments.
pub fn cmdline(pid: u32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

// ------------------------------------------------- a delegated cgroup v2

/// A cgroup v2 subtree delegated to a user, as systemd's `Delegate=yes`
/// does: root makes `/sys/fs/cgroup/testkit-rootless-<id>` (controllers
/// enabled for its children), and in it `deleg/` and `deleg/runner/`, each
/// with the directory, `cgroup.procs`, `cgroup.subtree_control` and
/// `cgroup.threads` chowned to the user. A runtime started in `runner`
/// (see [`Spawn::cgroup_procs`]) finds `deleg` as its delegated
/// subtree. Dropping it kills what is left in the subtree and removes it,
/// deepest first.
#[derive(Debug)]
pub struct Delegated {
    top: PathBuf,
}

/// The cgroup v2 mount.
pub const CGROUP2: &str = "/sys/fs/cgroup";

impl Delegated {
    pub fn new(user: &User) -> Result<Delegated, String> {
        if !crate::host::cgroup_v2() {
            return Err("a delegated subtree needs cgroup v2 at /sys/fs/cgroup".into());
        }
        let root = Path::new(CGROUP2);
        let top = root.join(format!("testkit-rootless-{}", crate::rootfs::unique()));
        fs::create_dir(&top).map_err(|e| format!("mkdir {}: {e}", top.display()))?;
        let d = Delegated { top };
        let wanted = ["memory", "pids", "cpu"];
        // The root's children must have the controllers for ours to.
        enable(root, &wanted)?;
        enable(&d.top, &wanted)?;
        for dir in [d.delegated(), d.delegated().join("runner")] {
            fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
            for f in [
                "",
                "cgroup.procs",
                "cgroup.subtree_control",
                "cgroup.threads",
            ] {
                let p = if f.is_empty() {
                    dir.clone()
                } else {
                    dir.join(f)
                };
                lchown(&p, Some(user.uid), Some(user.gid))
                    .map_err(|e| format!("chown {}: {e}", p.display()))?;
            }
        }
        Ok(d)
    }

    /// The delegated subtree (owned by the user).
    pub fn delegated(&self) -> PathBuf {
        self.top.join("deleg")
    }

    /// The `cgroup.procs` of the leaf the runtime starts in.
    pub fn runner_procs(&self) -> PathBuf {
        self.delegated().join("runner/cgroup.procs")
    }

    /// Every cgroup directory in the subtree, deepest first.
    pub fn dirs(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in fs::read_dir(dir).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&e.path(), out);
                }
            }
            out.push(dir.to_path_buf());
        }
        let mut out = Vec::new();
        if self.top.is_dir() {
            walk(&self.top, &mut out);
        }
        out
    }
}

/// Writes `+c` for each of `controllers` that `dir` may give its children
/// and does not yet.
fn enable(dir: &Path, controllers: &[&str]) -> Result<(), String> {
    let read = |f: &str| fs::read_to_string(dir.join(f)).unwrap_or_default();
    let available = read("cgroup.controllers");
    let enabled = read("cgroup.subtree_control");
    for c in controllers {
        let has = |text: &str| text.split_whitespace().any(|w| w == *c);
        if has(&available) && !has(&enabled) {
            let path = dir.join("cgroup.subtree_control");
            fs::write(&path, format!("+{c}"))
                .map_err(|e| format!("write +{c} to {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

impl Drop for Delegated {
    fn drop(&mut self) {
        for _ in 0..50 {
            let dirs = self.dirs();
            if dirs.is_empty() {
                return;
            }
            for dir in &dirs {
                let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            for dir in &dirs {
                let _ = fs::remove_dir(dir);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_the_free_block_avoids_every_overlap() {
        let r = parse_ranges(
            "root:100000:65536\n# comment\nalice:200000:65536\nbad line\n1001:265536:10\n",
        );
        assert_eq!(r.len(), 3);
        assert_eq!(first_range(&r, "alice", 1000), Some(200000));
        assert_eq!(
            first_range(&r, "bob", 1001),
            None,
            "10 ids are not a full range"
        );
        assert_eq!(first_range(&r, "root", 0), Some(100000));
        // 200000.. is alice's, 265536.. overlaps 1001's ten ids.
        assert_eq!(free_start(&r, &[]), Some(331072));
        assert_eq!(free_start(&[], &[200005]), Some(265536));
        assert_eq!(free_start(&[], &[]), Some(FIRST_CANDIDATE));
    }

    #[test]
    fn maps_and_host_ids() {
        let u = User {
            name: "u".into(),
            uid: 1001,
            gid: 1002,
            home: PathBuf::new(),
            subuid: Some(200000),
            subgid: Some(300000),
        };
        assert_eq!(u.uid_map(), ["0 1001 1", "1 200000 65536"]);
        assert_eq!(u.gid_map(), ["0 1002 1", "1 300000 65536"]);
        assert_eq!(u.host_uid(0), Some(1001));
        assert_eq!(u.host_uid(1), Some(200000));
        assert_eq!(u.host_gid(1000), Some(300999));
        assert_eq!(u.host_uid(65536), Some(265535));
        assert_eq!(u.host_uid(65537), None);
        let single = User {
            subuid: None,
            subgid: None,
            ..u
        };
        assert_eq!(single.uid_map(), ["0 1001 1"]);
        assert_eq!(single.host_uid(1), None);
        assert_eq!(
            normalize_map("         0       1001          1\n"),
            ["0 1001 1"]
        );
    }
}
