//! `cargo xtask escape`: the escape lab. Every attack of `probe attack`
//! (probe/src/attack.rs) runs inside every step, step01 to step09, and the
//! results make a matrix, attacks × steps, written to
//! book/src/generated/escape-matrix.md for the chapter "Breaking out".
//!
//! It fails when step09 lets any attack through, when step06, step07 or
//! step08 lets through anything but what a later chapter closes
//! ([`OPEN_UNTIL`]), or when an attack that must work against an early step
//! stops working ([`MUST_ESCAPE`]): the lab has to keep showing which layer
//! closes which hole.
//!
//! - The probe is built static and put into a private copy of the busybox
//!   test rootfs (target/escape/rootfs, fresh each run: attacks write there);
//!   step01 and step02 have no rootfs, so they run a copy in a temp dir.
//! - step01 to step08 run as root, as they must. step09 runs as an ordinary
//!   user, rootless, as chapter 9 is about: the lab makes the system user
//!   [`ROOTLESS_USER`] if it is missing, with subordinate ids 400000-465535
//!   in /etc/subuid and /etc/subgid (if nothing else holds them), and runs
//!   step09 as that user (setgroups, setgid, setuid in `pre_exec`), from a
//!   copy of the binary it may run, on a copy of the rootfs it owns, with a
//!   home of its own ([`Rootless`]). Without a cgroup the user may write to
//!   (cgroup v1, or v2 without delegation), step09 runs without limits, so
//!   it gets no `--pids`.
//! - A host-only marker file (target/escape/host-only-marker) is what the
//!   filesystem attacks look for: seeing it from inside is reaching the host.
//! - Every run starts with a host directory open as fd 7 without
//!   close-on-exec, a descriptor "leaked" by whoever started the runtime, as
//!   runc leaked its cgroup directory in CVE-2024-21626.
//! - host-keys and host-write get a hole opened on purpose, in every column:
//!   a host directory in the container's hands, as a volume or a leaked
//!   descriptor gives one. The lab passes it as stdin ([`HeldDir`]): a
//!   root-owned 0755 directory with a root-owned 0600 key. What the
//!   container can do there is what its uid may do on the host, so these
//!   rows measure the one thing a user namespace changes: whether container
//!   root is host root. Both are judged from the host: the key's secret in
//!   what the probe printed, the written file in the host's directory.
//! - Every other run gets a terminal: its stdin is the slave of a
//!   pseudo-terminal the lab opens for that run (never the terminal of the
//!   person running the lab), and the probe is told its device number
//!   (`host-tty=DEV:RDEV`), so the terminal attacks run for real. The probe
//!   is also told the host's cgroup namespace (`host-cgroupns=INODE`), and
//!   the runtime gets `ESCAPE_LAB_HOST_ENV` in its environment.
//! - step05 to step08 run with `--pids 256`, so there is a limit to raise;
//!   the raw-socket attack runs on step06+ with `--cap-drop NET_RAW`, because
//!   the attack is "a raw socket *without* NET_RAW" and Docker's default set,
//!   step06's, grants NET_RAW (ping works); the device-node attack runs on
//!   step06+ with `--cap-add SYS_ADMIN`, because the device cgroup is what
//!   must stop it even when the container may mount.
//! - Every attack has a positive control, a column where it must get
//!   through ([`MUST_ESCAPE`], or the host column: [`HOST_CONTROL`]), so a
//!   probe that can never fire fails the lab. [`OPEN_UNTIL`] lists what
//!   step06 to step08 still let through on purpose, and the step that
//!   closes it: chapter 7's seccomp filter, chapter 8's overlay, chapter
//!   9's user namespace.
//! - The plant-rootfs attack is judged from outside: the probe writes a
//!   setuid-root copy of itself to /tmp/.escape-planted, and the lab looks
//!   for it in the host's copy of the root the step ran on (the rootfs, or
//!   the host's / for step01 and step02), then removes it.

use std::fmt::Write as _;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

#[derive(clap::Args)]
pub struct Args {
    /// Do not rebuild the probe and the step binaries first.
    #[arg(long)]
    no_build: bool,
    /// Do not rewrite book/src/generated/escape-matrix.md.
    #[arg(long)]
    no_write: bool,
}

const STEPS: [u8; 9] = [1, 2, 3, 4, 5, 6, 7, 8, 9];

/// The last step: it must block every attack, run by an ordinary user.
const LAST: u8 = 9;

/// The fd number at which every run inherits a host directory.
const LEAKED_FD: i32 = 7;

/// Which attacks must get through on which early steps: derived from the
/// first real run (kernel 6.18, cgroup v1 hybrid, as root), each entry with
/// the reason it must. An attack not listed may go either way on an early
/// step (it depends on the machine) and is only required to fail on step06.
pub const MUST_ESCAPE: &[(&str, &[u8])] = &[
    // step01 and step02 share the host's mount namespace and root: any jail
    // can be climbed out of, up to the host's /. From step03 pivot_root
    // detaches the host's root and the climb ends at the container's.
    ("chroot", &[1, 2]),
    // step01: PID 1 is the host's init, whose root is the host's /.
    // step02: PID 1 is the container's init, but without a mount namespace
    // of its own its root is still the host's.
    ("proc-root", &[1, 2]),
    // Before pivot_root the working directory is wherever the user was.
    ("cwd", &[1, 2]),
    // Every step has CAP_SYS_ADMIN until step06 drops it: any mount works.
    ("mount-proc", &[1, 2, 3, 4, 5]),
    ("mount-sysfs", &[1, 2, 3, 4, 5]),
    ("remount-root", &[1, 2, 3, 4, 5]),
    // step01/02 see the host's read-write /sys; step03 mounts a read-only
    // one, which CAP_SYS_ADMIN can remount read-write.
    ("remount-sys", &[1, 2, 3, 4, 5]),
    ("bind-mount", &[1, 2, 3, 4, 5]),
    // CAP_MKNOD and no device cgroup: the host's disk is readable.
    // (Also HOST_DEPENDENT: some hosts refuse even root to open the disk.)
    ("mknod-disk", &[1, 2, 3, 4, 5]),
    // step01/02 run in the caller's cgroups with the cgroup fs at hand;
    // step03+ have no cgroup fs mounted, but CAP_SYS_ADMIN mounts one.
    ("cgroup-limits", &[1, 2, 3, 4, 5]),
    // From step05 the cgroup namespace stops it too: a new v1 hierarchy
    // can only be mounted from the initial cgroup namespace (EPERM).
    ("release-agent", &[1, 2, 3, 4]),
    // Root without a user namespace passes /proc/sys's permission check.
    ("proc-sys", &[1, 2, 3, 4, 5]),
    // The clock has no namespace: CAP_SYS_TIME is the only guard.
    ("settime", &[1, 2, 3, 4, 5]),
    // From step02 the PID namespace turns reboot() into a container matter.
    ("reboot", &[1]),
    // From step02 no host process is visible.
    ("ptrace", &[1]),
    // All of root's capabilities until step06.
    ("raw-socket", &[1, 2, 3, 4, 5]),
    // no_new_privs arrives with step06.
    ("setuid", &[1, 2, 3, 4, 5]),
    // step01: the host's init; step02-05: init is a fork of the runtime
    // binary with the same capabilities as the command, so /proc/1/exe
    // opens (ETXTBSY only because it runs).
    ("runtime-exe", &[1, 2, 3, 4, 5]),
    // All of root's capabilities until step06 (HOST_DEPENDENT: a kernel
    // without module support answers ENOSYS to anyone).
    ("kernel-module", &[1, 2, 3, 4, 5]),
    // Until step06 PID 1 stays in the session and process group of the
    // caller: getsid/getpgrp name a leader outside the container.
    ("session", &[1, 2, 3, 4, 5]),
    // Until step06 the command's stdin is the terminal the runtime got.
    ("host-tty", &[1, 2, 3, 4, 5]),
    // step01: PID 1 is the host's init; step02-05: the runtime's fork with
    // all of root's capabilities.
    ("pid1-privileges", &[1, 2, 3, 4, 5]),
    // step01/02 see the host's /proc and /sys; step03-05 mount fresh ones,
    // unmasked.
    ("masked-paths", &[1, 2, 3, 4, 5]),
    // Until step06 the command inherits the runtime's environment.
    ("environment", &[1, 2, 3, 4, 5]),
    // Until step05 the container is in the host's cgroup namespace.
    ("cgroup-path", &[1, 2, 3, 4]),
    // Until step06: CAP_SYS_ADMIN mounts a dev tmpfs and no device cgroup
    // stops the open.
    ("device-node", &[1, 2, 3, 4, 5]),
    // Open in every step up to step06 (OPEN_UNTIL): no seccomp filter yet.
    // Capabilities do not guard these, or the probe asks whether the call
    // reaches the kernel at all (perf-event, bpf, kexec-load,
    // mount-syscall: see the probe's `reaches`).
    ("keyring", &[1, 2, 3, 4, 5, 6]),
    ("userns", &[1, 2, 3, 4, 5, 6]),
    ("io-uring", &[1, 2, 3, 4, 5, 6]),
    ("add-key", &[1, 2, 3, 4, 5, 6]),
    ("userfaultfd", &[1, 2, 3, 4, 5, 6]),
    ("perf-event", &[1, 2, 3, 4, 5, 6]),
    ("bpf", &[1, 2, 3, 4, 5, 6]),
    ("kexec-load", &[1, 2, 3, 4, 5, 6]),
    ("mount-syscall", &[1, 2, 3, 4, 5, 6]),
    ("other-abi", &[1, 2, 3, 4, 5, 6]),
    // Until step08 every run writes into the one rootfs: what it plants
    // there is on the host (and in the next container).
    ("plant-rootfs", &[1, 2, 3, 4, 5, 6, 7]),
    // Until step09 container root is host root: a host directory in the
    // container's hands (HeldDir) is open to it as to host root.
    ("host-keys", &[1, 2, 3, 4, 5, 6, 7, 8]),
    ("host-write", &[1, 2, 3, 4, 5, 6, 7, 8]),
    // Not listed: "leaked-fd". Every step closes the descriptors it
    // inherited (workshop::exec's close_range), so it is blocked throughout;
    // its positive control is the host column (HOST_CONTROL).
];

/// Attacks whose positive control is the host column: run straight on the
/// host, with the same leaked descriptor, they must get through.
/// (host-keys and host-write have both: the host column, where the probe
/// runs as host root, and every step up to step08.)
pub const HOST_CONTROL: &[&str] = &["leaked-fd", "host-keys", "host-write"];

/// What step06 to step08 still let through, on purpose, and the step that
/// closes it. Docker's seccomp profile (step07) closes the kernel surface
/// that capabilities do not guard: keyctl and add_key, unshare of a user
/// namespace without CAP_SYS_ADMIN, io_uring_setup, userfaultfd,
/// perf_event_open, bpf, kexec_load, mount, and every call of another ABI.
/// Each run's own overlay (step08) closes writing into the shared rootfs.
/// A user namespace (step09) closes what container root may do to host
/// files it can reach: it is no longer host root.
/// The lab requires each to get through on every step before its closing
/// one, so the chapter has something to close, and to be blocked from it on.
pub const OPEN_UNTIL: &[(&str, u8)] = &[
    ("keyring", 7),
    ("userns", 7),
    ("io-uring", 7),
    ("add-key", 7),
    ("userfaultfd", 7),
    ("perf-event", 7),
    ("bpf", 7),
    ("kexec-load", 7),
    ("mount-syscall", 7),
    ("other-abi", 7),
    ("plant-rootfs", 8),
    ("host-keys", 9),
    ("host-write", 9),
];

/// The step that closes `attack`, if a step after step06 does.
fn closed_by(attack: &str) -> Option<u8> {
    OPEN_UNTIL
        .iter()
        .find(|(a, _)| *a == attack)
        .map(|&(_, step)| step)
}

/// Entries of [`MUST_ESCAPE`] that hold only where the host itself allows
/// the attack to root outside any container (the matrix's `host` column):
/// - proc-root on step01 goes through the host's PID 1, which some hosts
///   (sandboxed VMs, hardened inits) keep from even root;
/// - mknod-disk needs a host that lets root open its disk (a VM sandbox
///   may not);
/// - kernel-module needs a kernel with module support;
/// - io-uring, userns, keyring, add-key and userfaultfd need a kernel
///   that has them switched on; other-abi an x86_64 kernel with i386
///   emulation.
pub const HOST_DEPENDENT: &[(&str, &[u8])] = &[
    ("proc-root", &[1]),
    ("mknod-disk", &[1, 2, 3, 4, 5]),
    ("kernel-module", &[1, 2, 3, 4, 5]),
    // kernel.io_uring_disabled, user.max_user_namespaces=0, a kernel
    // without CONFIG_KEYS: the host refuses root too.
    ("io-uring", &[1, 2, 3, 4, 5, 6]),
    ("userns", &[1, 2, 3, 4, 5, 6]),
    ("keyring", &[1, 2, 3, 4, 5, 6]),
    ("add-key", &[1, 2, 3, 4, 5, 6]),
    ("userfaultfd", &[1, 2, 3, 4, 5, 6]),
    ("other-abi", &[1, 2, 3, 4, 5, 6]),
];

/// One cell of the matrix.
#[derive(Clone)]
pub struct Cell {
    pub escaped: Option<bool>,
    pub detail: String,
}

/// Builds the static probe; returns its path.
pub fn probe_binary() -> anyhow::Result<PathBuf> {
    let root = crate::workspace_root();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "-p",
            "probe",
            "--target",
            "x86_64-unknown-linux-gnu",
        ])
        .env(
            "RUSTFLAGS",
            "-C target-feature=+crt-static -C strip=symbols",
        )
        .current_dir(&root)
        .status()
        .context("cargo build -p probe")?;
    if !status.success() {
        bail!("building the static probe failed");
    }
    let bin = target_dir().join("x86_64-unknown-linux-gnu/release/probe");
    if !bin.is_file() {
        bail!("{} was not built", bin.display());
    }
    Ok(bin)
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => crate::workspace_root().join(dir),
        None => crate::workspace_root().join("target"),
    }
}

/// The step binaries, built in the dev profile.
pub fn step_binaries(build: bool) -> anyhow::Result<Vec<PathBuf>> {
    if build {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.arg("build").current_dir(crate::workspace_root());
        for n in STEPS {
            cmd.args(["-p", &format!("step{n:02}")]);
        }
        if !cmd.status().context("cargo build -p step01..")?.success() {
            bail!("building the step binaries failed");
        }
    }
    STEPS
        .iter()
        .map(|n| {
            let bin = target_dir().join(format!("debug/step{n:02}"));
            if bin.is_file() {
                Ok(bin)
            } else {
                bail!("{} is missing; run without --no-build", bin.display())
            }
        })
        .collect()
}

/// A private copy of the busybox test rootfs with the probe at /probe.
/// Replaced wholesale on every call: attacks leave nothing there, but a
/// killed run might.
pub fn private_rootfs(probe: &Path) -> anyhow::Result<PathBuf> {
    let shared = testkit::rootfs::busybox_rootfs()?;
    let dir = target_dir().join("escape/rootfs");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("rm -r {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir.parent().expect("below target"))?;
    // cp -a keeps owners, modes and the busybox links as they are.
    let status = Command::new("cp")
        .arg("-a")
        .arg(&shared)
        .arg(&dir)
        .status()
        .context("cp -a")?;
    if !status.success() {
        bail!("cp -a {} {} failed", shared.display(), dir.display());
    }
    install(probe, &dir.join("probe"))?;
    Ok(dir)
}

fn install(src: &Path, dest: &Path) -> anyhow::Result<()> {
    std::fs::copy(src, dest)
        .with_context(|| format!("copy {} to {}", src.display(), dest.display()))?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// The names of the probe's attacks (`probe attack list`).
fn attack_names(probe: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let out = Command::new(probe).args(["attack", "list"]).output()?;
    if !out.status.success() {
        bail!("probe attack list failed");
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (n, w) = l.split_once('\t')?;
            Some((n.to_owned(), w.to_owned()))
        })
        .collect())
}

/// What every run of the lab shares.
struct Lab {
    /// The private busybox rootfs the root steps run on.
    rootfs: PathBuf,
    /// The probe, for the host column and for step01 and step02.
    host_probe: PathBuf,
    /// The host-only marker file the filesystem attacks look for.
    marker: PathBuf,
    /// The directory every run inherits as fd [`LEAKED_FD`].
    leak: std::fs::File,
    /// The host directory host-keys and host-write get as stdin.
    held: HeldDir,
    /// step09's user, binary, rootfs and home.
    rootless: Rootless,
}

/// Runs one attack in one step.
fn run_one(lab: &Lab, step: u8, bin: &Path, attack: &str) -> Cell {
    let rootless = step == ROOTLESS_STEP;
    let rootfs = if rootless {
        &lab.rootless.rootfs
    } else {
        &lab.rootfs
    };
    // Step 0 is the control: the probe alone, on the host.
    let mut cmd = Command::new(match step {
        0 => &lab.host_probe,
        ROOTLESS_STEP => &lab.rootless.bin,
        _ => bin,
    });
    if step >= 3 {
        cmd.arg("--rootfs").arg(rootfs);
    }
    // A limit flag without a cgroup is an error for an ordinary user on a
    // machine that delegates none (cgroup v1, or v2 not delegated): step09
    // runs without limits there, so the rootless run asks for none.
    if step >= 5 && !rootless {
        cmd.args(["--pids", "256"]);
    }
    if step >= 6 && attack == "raw-socket" {
        cmd.args(["--cap-drop", "NET_RAW"]);
    }
    if step >= 6 && attack == "device-node" {
        cmd.args(["--cap-add", "SYS_ADMIN"]);
    }
    let probe = if step >= 3 {
        PathBuf::from("/probe")
    } else {
        lab.host_probe.clone()
    };
    if step > 0 {
        cmd.arg(probe);
    }
    // A terminal of its own for every run: the terminal attacks need one,
    // and it must never be the terminal of whoever runs the lab.
    let pty = match nix::pty::openpty(None, None) {
        Ok(pty) => pty,
        Err(e) => {
            return Cell {
                escaped: None,
                detail: format!("openpty: {e}"),
            };
        }
    };
    let tty = nix::sys::stat::fstat(&pty.slave).map_or((0, 0), |st| (st.st_dev, st.st_rdev));
    cmd.args(["attack", attack]).arg(&lab.marker);
    cmd.arg(format!("host-tty={}:{}", tty.0, tty.1));
    cmd.arg(format!("host-cgroupns={}", host_cgroupns()));
    if rootless {
        // An ordinary user's environment, not root's: the user's own home
        // and data directory (where step09 keeps its run directories).
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &lab.rootless.home)
            .env("XDG_DATA_HOME", lab.rootless.home.join(".local/share"))
            .env("XDG_RUNTIME_DIR", lab.rootless.home.join("run"))
            .env("USER", ROOTLESS_USER)
            .env("LOGNAME", ROOTLESS_USER);
    }
    cmd.env(HOST_ENV, "from-the-host");
    cmd.env_remove("WORKSHOP_ROOTFS");
    if HELD_DIR_ATTACKS.contains(&attack) {
        // The hole host-keys and host-write need: a host directory in the
        // container's hands, as stdin (see HeldDir).
        match lab.held.open() {
            Ok(dir) => cmd.stdin(Stdio::from(dir)),
            Err(e) => {
                return Cell {
                    escaped: None,
                    detail: format!("open {}: {e}", lab.held.dir.display()),
                };
            }
        };
    } else {
        cmd.stdin(Stdio::from(pty.slave));
    }
    // The runtime starts in the directory that holds the marker, so on
    // the early steps the working directory is on the host. (Changed into
    // before pre_exec runs, while still root.)
    cmd.current_dir(lab.marker.parent().expect("the marker is in a directory"));
    let leak_fd = lab.leak.as_raw_fd();
    let user = rootless.then_some((lab.rootless.uid, lab.rootless.gid));
    // SAFETY: dup2, setgroups, setgid and setuid are async-signal-safe and
    // change only the child's fd table and credentials. The new descriptor
    // is not close-on-exec, so the runtime inherits it.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(leak_fd, LEAKED_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some((uid, gid)) = user {
                // Groups first, then the gid, then the uid: after setuid
                // there is no privilege left to change the others.
                if libc::setgroups(1, &gid) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    if attack == "host-write" {
        lab.held.remove_written();
    }
    let out = match testkit::run::run_command(cmd, Duration::from_secs(30)) {
        Ok(out) => out,
        Err(e) => {
            return Cell {
                escaped: None,
                detail: format!("run failed: {e}"),
            };
        }
    };
    drop(pty.master);
    // Through a terminal (step06's own) lines end in \r\n.
    let line = out
        .stdout
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
        .to_owned();
    let (escaped, detail) = if let Some(d) = line.strip_prefix("ESCAPED ") {
        (Some(true), d.to_owned())
    } else if let Some(d) = line.strip_prefix("BLOCKED ") {
        (Some(false), d.to_owned())
    } else {
        (
            None,
            format!(
                "exit {}: {} {}",
                out.code,
                line,
                out.stderr.lines().last().unwrap_or("")
            ),
        )
    };
    if escaped.is_some() && out.code != 0 {
        return Cell {
            escaped: None,
            detail: format!("exit {} after {line:?}: {}", out.code, out.stderr.trim()),
        };
    }
    let cell = Cell { escaped, detail };
    match attack {
        // Judged from outside: the host's copy of the root the step ran on.
        "plant-rootfs" => {
            let root = if step >= 3 { rootfs } else { Path::new("/") };
            planted_on_host(cell, &root.join("tmp/.escape-planted"))
        }
        "host-keys" => lab.held.key_read(cell),
        "host-write" => lab.held.written_on_host(cell),
        _ => cell,
    }
}

/// The attacks that get [`HeldDir`] as their stdin.
const HELD_DIR_ATTACKS: &[&str] = &["host-keys", "host-write"];

/// The key file in [`HeldDir`] (the probe's `HOST_KEY`).
const HOST_KEY: &str = "escape-lab-host-key";

/// What host-write creates in [`HeldDir`] (the probe's `HOST_WRITTEN`).
const HOST_WRITTEN: &str = "escape-lab-host-written";

/// The hole host-keys and host-write go through, opened by the lab on
/// purpose: a host directory in the container's hands. Real containers get
/// one as a volume (`docker run -v /etc:/host-etc`) or as a descriptor the
/// runtime leaked (CVE-2024-21626). The steps have no volumes and close
/// every inherited descriptor above 2, so the lab hands the directory over
/// as stdin, which every step passes through as it is when it is not a
/// terminal (`stepNN ... < /that/dir` does the same from a shell).
///
/// The directory is root-owned with mode 0755 (only host root may create
/// files in it) and holds [`HOST_KEY`], root-owned with mode 0600 (only
/// host root may read it), whose line carries a secret made afresh for
/// every lab run: a probe that prints it has read it. What the container
/// can do there is what its uid may do on the host: without a user
/// namespace container root is host root, and both rows get through; in
/// step09 container root is an ordinary user, and the kernel says EACCES.
struct HeldDir {
    dir: PathBuf,
    secret: String,
}

impl HeldDir {
    fn create(work: &Path) -> anyhow::Result<HeldDir> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = work.join("host-root-only");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("rm -r {}", dir.display()))?;
        }
        std::fs::create_dir(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
        let held = HeldDir {
            dir,
            secret: random_hex()?,
        };
        std::os::unix::fs::chown(&held.dir, Some(0), Some(0))?;
        std::fs::set_permissions(&held.dir, std::fs::Permissions::from_mode(0o755))?;
        let key = held.dir.join(HOST_KEY);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key)
            .with_context(|| format!("create {}", key.display()))?;
        writeln!(f, "escape-lab host root's key {}", held.secret)?;
        std::os::unix::fs::chown(&key, Some(0), Some(0))?;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
        Ok(held)
    }

    /// A read-only descriptor of the directory, for a run's stdin.
    fn open(&self) -> std::io::Result<std::fs::File> {
        std::fs::File::open(&self.dir)
    }

    fn remove_written(&self) {
        let _ = std::fs::remove_file(self.dir.join(HOST_WRITTEN));
    }

    /// host-keys: escaped only if the probe showed the secret it read.
    fn key_read(&self, cell: Cell) -> Cell {
        match cell.escaped {
            // The secret changes with every run of the lab: shown by name,
            // so the recorded matrix does not change with it.
            Some(true) if cell.detail.contains(&self.secret) => Cell {
                escaped: Some(true),
                detail: format!(
                    "{}; that is the secret the lab wrote into the root-only key",
                    cell.detail.replace(&self.secret, "<the lab's secret>")
                ),
            },
            Some(true) => Cell {
                escaped: None,
                detail: format!(
                    "the probe says it read the key but did not show the lab's secret: {}",
                    cell.detail
                ),
            },
            _ => cell,
        }
    }

    /// host-write: escaped only if the host's directory has the file now.
    /// Removes it either way.
    fn written_on_host(&self, cell: Cell) -> Cell {
        use std::os::unix::fs::MetadataExt;
        let path = self.dir.join(HOST_WRITTEN);
        let seen = std::fs::symlink_metadata(&path);
        self.remove_written();
        match seen {
            Ok(m) => Cell {
                escaped: Some(true),
                detail: format!(
                    "{}; the host's {} now has it, owned by uid {}",
                    cell.detail,
                    self.dir.display(),
                    m.uid()
                ),
            },
            Err(_) if cell.escaped == Some(true) => Cell {
                escaped: Some(false),
                detail: format!(
                    "{}, but the host's {} has no {HOST_WRITTEN}",
                    cell.detail,
                    self.dir.display()
                ),
            },
            Err(_) => cell,
        }
    }
}

impl Drop for Rootless {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for HeldDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// 16 random hex digits.
fn random_hex() -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("read /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The step that runs rootless: as an ordinary user, in a user namespace.
const ROOTLESS_STEP: u8 = 9;

/// The ordinary user the lab runs step09 as, made by the lab if missing
/// (a system user, no home, no login shell) and kept, like Docker's
/// `dockremap`; `userdel contain-rs-escape` plus removing its lines from
/// /etc/subuid and /etc/subgid undoes it.
pub const ROOTLESS_USER: &str = "contain-rs-escape";

/// Its subordinate uids and gids (first, count): 400000-465535, given only
/// if no other entry of /etc/subuid or /etc/subgid overlaps them.
const SUBIDS: (u64, u64) = (400_000, 65_536);

/// What step09's runs need as [`ROOTLESS_USER`]: its ids, and a directory
/// (root-owned, 0755, removed on drop) with a copy of step09 it may run, a
/// copy of the lab's rootfs it owns (container root is the user, so its
/// files are root's inside), and a home of its own, where step09 keeps its
/// run directories (`$XDG_DATA_HOME/contain-rs-workshop/containers`).
struct Rootless {
    uid: u32,
    gid: u32,
    bin: PathBuf,
    rootfs: PathBuf,
    home: PathBuf,
    dir: PathBuf,
}

impl Rootless {
    fn set_up(work: &Path, step_bin: &Path, rootfs: &Path) -> anyhow::Result<Rootless> {
        let (uid, gid) = ensure_user()?;
        // Every directory above must let the user through: the lab's work
        // directory if it does, else the system's temp directory.
        let base = if world_searchable(work) {
            work.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        // One fixed name (what a killed run left is replaced), so that the
        // recorded matrix names the same paths every time.
        let dir = base.join("contain-rs-escape-rootless");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("rm -r {}", dir.display()))?;
        }
        std::fs::create_dir(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
        let rootless = Rootless {
            uid,
            gid,
            bin: dir.join("step09"),
            rootfs: dir.join("rootfs"),
            home: dir.join("home"),
            dir,
        };
        // From here on a failure removes the directory (Drop).
        rootless.fill(step_bin, rootfs)?;
        Ok(rootless)
    }

    fn fill(&self, step_bin: &Path, rootfs: &Path) -> anyhow::Result<()> {
        let (uid, gid) = (self.uid, self.gid);
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o755))?;
        install(step_bin, &self.bin)?;
        let own_rootfs = &self.rootfs;
        let home = &self.home;
        for d in [home.join(".local/share"), home.join("run")] {
            std::fs::create_dir_all(&d)?;
        }
        std::fs::set_permissions(home.join("run"), std::fs::Permissions::from_mode(0o700))?;
        run_checked(Command::new("cp").arg("-a").arg(rootfs).arg(own_rootfs))?;
        let owner = format!("{uid}:{gid}");
        run_checked(
            Command::new("chown")
                .args(["-R", "-h", &owner])
                .arg(own_rootfs)
                .arg(home),
        )
    }

    /// What step09 left in the user's container directory.
    fn left_behind(&self) -> Vec<String> {
        let dir = self
            .home
            .join(".local/share/contain-rs-workshop/containers");
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

fn run_checked(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("{cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// Whether `path` and every directory above it let anyone through (o+x).
fn world_searchable(path: &Path) -> bool {
    path.ancestors().all(|d| {
        std::fs::metadata(d).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o001 != 0)
    })
}

/// Makes [`ROOTLESS_USER`] and its subordinate ids if they are missing;
/// returns its uid and gid.
fn ensure_user() -> anyhow::Result<(u32, u32)> {
    let lookup = || nix::unistd::User::from_name(ROOTLESS_USER).context("getpwnam");
    let user = match lookup()? {
        Some(user) => user,
        None => {
            run_checked(Command::new("useradd").args([
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                "--comment",
                "contain-rs-workshop escape lab (step09 rootless)",
                ROOTLESS_USER,
            ]))?;
            lookup()?.with_context(|| format!("useradd made no {ROOTLESS_USER}"))?
        }
    };
    let uid = user.uid.as_raw();
    for (file, flag) in [
        ("/etc/subuid", "--add-subuids"),
        ("/etc/subgid", "--add-subgids"),
    ] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        match subid_problem(&text, ROOTLESS_USER, uid, SUBIDS) {
            SubIds::Has => {}
            SubIds::Overlaps(line) => bail!(
                "{ROOTLESS_USER} has no range of {} ids in {file}, and {}-{} overlaps {line:?}: \
                 give it one by hand (usermod {flag} FIRST-LAST {ROOTLESS_USER})",
                SUBIDS.1,
                SUBIDS.0,
                SUBIDS.0 + SUBIDS.1 - 1
            ),
            SubIds::Free => run_checked(Command::new("usermod").args([
                flag,
                &format!("{}-{}", SUBIDS.0, SUBIDS.0 + SUBIDS.1 - 1),
                ROOTLESS_USER,
            ]))?,
        }
    }
    Ok((uid, user.gid.as_raw()))
}

#[derive(Debug, PartialEq)]
enum SubIds {
    /// The user has a range of at least `want.1` ids.
    Has,
    /// It has none, and `want` is free.
    Free,
    /// It has none, and this line's range overlaps `want`.
    Overlaps(String),
}

/// What /etc/subuid (or subgid) `text` says about `name` (uid `uid`) and
/// the range `want` (first, count).
fn subid_problem(text: &str, name: &str, uid: u32, want: (u64, u64)) -> SubIds {
    let entries = text.lines().filter_map(|l| {
        let mut f = l.trim().split(':');
        let (who, first, count) = (f.next()?, f.next()?, f.next()?);
        Some((
            who,
            first.parse::<u64>().ok()?,
            count.parse::<u64>().ok()?,
            l,
        ))
    });
    let mut overlap = None;
    for (who, first, count, line) in entries {
        if (who == name || who == uid.to_string()) && count >= want.1 {
            return SubIds::Has;
        }
        if first < want.0 + want.1 && want.0 < first + count && overlap.is_none() {
            overlap = Some(line.to_owned());
        }
    }
    overlap.map_or(SubIds::Free, SubIds::Overlaps)
}

/// plant-rootfs: the probe wrote a setuid-root file; escaped only if the
/// host's copy of the rootfs has it now. Removes it either way.
fn planted_on_host(cell: Cell, planted: &Path) -> Cell {
    use std::os::unix::fs::MetadataExt;
    let seen = std::fs::symlink_metadata(planted);
    let _ = std::fs::remove_file(planted);
    match (cell.escaped, seen) {
        (Some(true), Ok(m)) if m.uid() == 0 && m.mode() & 0o4000 != 0 => Cell {
            escaped: Some(true),
            detail: format!(
                "{}; the host's rootfs now has {} (setuid root)",
                cell.detail,
                planted.display()
            ),
        },
        (Some(true), _) => Cell {
            escaped: Some(false),
            detail: format!(
                "{}, but the host's rootfs has no {}: the write stayed in the run's own layer",
                cell.detail,
                planted.display()
            ),
        },
        _ => cell,
    }
}

/// One attack's results.
#[derive(Clone)]
pub struct Row {
    pub attack: String,
    /// What the real breakout did, from `probe attack list`.
    pub what: String,
    /// The probe run straight on the host, as root, in no container: what
    /// this machine allows anyway (the control).
    pub host: Cell,
    /// One cell per step, step01 first.
    pub steps: Vec<Cell>,
}

/// The whole matrix, one row per attack.
pub type Matrix = Vec<Row>;

/// Runs every attack in every step.
pub fn run_matrix(build: bool) -> anyhow::Result<Matrix> {
    let probe = probe_binary_or_built(build)?;
    let bins = step_binaries(build)?;
    let rootfs = private_rootfs(&probe)?;
    let work = target_dir().join("escape");
    let marker = work.join("host-only-marker");
    std::fs::write(
        &marker,
        "This file is on the host only: an attack that sees it got out.\n",
    )?;
    let host_dir = tempfile::Builder::new()
        .prefix("escape-lab-")
        .tempdir_in(&work)?;
    let host_probe = host_dir.path().join("probe");
    install(&probe, &host_probe)?;
    // World-searchable, so that the setuid attack's uid-65534 child can run
    // a copy placed next to the probe.
    std::fs::set_permissions(host_dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let leak = std::fs::File::open(&work).context("open the directory to leak")?;
    let held = HeldDir::create(&work)?;
    let rootless_bin = STEPS
        .iter()
        .zip(&bins)
        .find(|(n, _)| **n == ROOTLESS_STEP)
        .map(|(_, b)| b)
        .context("STEPS has no rootless step")?;
    let rootless = Rootless::set_up(&work, rootless_bin, &rootfs)?;
    let lab = Lab {
        rootfs: rootfs.clone(),
        host_probe,
        marker: marker.clone(),
        leak,
        held,
        rootless,
    };

    let mounts_before = testkit::host::mounts();
    let cgroups_before = own_cgroup_lines();
    let mut matrix = Vec::new();
    for (attack, what) in attack_names(&probe)? {
        let host = run_one(&lab, 0, &lab.host_probe, &attack);
        eprintln!("  {attack:<14} host    {:<8} {}", word(&host), host.detail);
        let mut steps = Vec::new();
        for (&step, bin) in STEPS.iter().zip(&bins) {
            let cell = run_one(&lab, step, bin, &attack);
            eprintln!(
                "  {attack:<14} step{step:02}  {:<8} {}",
                word(&cell),
                cell.detail
            );
            steps.push(cell);
        }
        matrix.push(Row {
            attack,
            what,
            host,
            steps,
        });
    }
    // The probes clean up after themselves; make sure.
    let mounts_after = testkit::host::mounts();
    if mounts_before != mounts_after {
        bail!(
            "the attacks changed the host's mount table: {:?}",
            mounts_after
                .symmetric_difference(&mounts_before)
                .collect::<Vec<_>>()
        );
    }
    if cgroups_before != own_cgroup_lines() {
        bail!(
            "a cgroup hierarchy the release-agent attack mounted is still there: see /proc/self/cgroup"
        );
    }
    let left = lab.rootless.left_behind();
    if !left.is_empty() {
        bail!(
            "step{ROOTLESS_STEP:02} left {left:?} in {}/.local/share/contain-rs-workshop/containers",
            lab.rootless.home.display()
        );
    }
    for dir in [
        Path::new("/tmp"),
        &rootfs.join("tmp"),
        &lab.rootless.rootfs.join("tmp"),
        host_dir.path(),
    ] {
        let left: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".probe-"))
            .collect();
        if !left.is_empty() {
            bail!("the attacks left {left:?} in {}", dir.display());
        }
    }
    let _ = std::fs::remove_file(&marker);
    Ok(matrix)
}

fn probe_binary_or_built(build: bool) -> anyhow::Result<PathBuf> {
    if build {
        return probe_binary();
    }
    let bin = target_dir().join("x86_64-unknown-linux-gnu/release/probe");
    if bin.is_file() {
        Ok(bin)
    } else {
        bail!("{} is missing; run without --no-build", bin.display())
    }
}

/// The variable the runtime gets and the command must not see.
const HOST_ENV: &str = "ESCAPE_LAB_HOST_ENV";

/// The inode of the host's cgroup namespace (ours).
fn host_cgroupns() -> u64 {
    std::fs::read_link("/proc/self/ns/cgroup")
        .ok()
        .and_then(|t| {
            let t = t.to_string_lossy().into_owned();
            t.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
        })
        .unwrap_or(0)
}

fn own_cgroup_lines() -> String {
    std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default()
}

fn word(cell: &Cell) -> &'static str {
    match cell.escaped {
        Some(true) => "ESCAPED",
        Some(false) => "BLOCKED",
        None => "ERROR",
    }
}

/// What is wrong with a matrix: step09 letting anything through, step06 to
/// step08 letting through more than [`OPEN_UNTIL`], an early step no longer letting
/// through what it must, or a run that failed.
pub fn problems(matrix: &Matrix) -> Vec<String> {
    let mut out = Vec::new();
    let listed = |table: &[(&str, &[u8])], attack: &str, step: u8| {
        table
            .iter()
            .find(|(a, _)| *a == attack)
            .is_some_and(|(_, steps)| steps.contains(&step))
    };
    for row in matrix {
        let attack = &row.attack;
        if row.host.escaped.is_none() {
            out.push(format!("{attack} on the host: {}", row.host.detail));
        }
        let control = MUST_ESCAPE.iter().any(|(a, _)| a == attack);
        if HOST_CONTROL.contains(&attack.as_str()) {
            if row.host.escaped != Some(true) {
                out.push(format!(
                    "{attack}: must get through on the host (its positive control) but was blocked: {}",
                    row.host.detail
                ));
            }
        } else if !control {
            out.push(format!(
                "{attack}: no positive control (no column where it must get through): \
                 add it to MUST_ESCAPE or HOST_CONTROL"
            ));
        }
        let open_until = closed_by(attack);
        for (&step, cell) in STEPS.iter().zip(&row.steps) {
            let must = listed(MUST_ESCAPE, attack, step)
                && !(listed(HOST_DEPENDENT, attack, step) && row.host.escaped == Some(false));
            match cell.escaped {
                None => out.push(format!("{attack} on step{step:02}: {}", cell.detail)),
                Some(true) if step == LAST => out.push(format!(
                    "{attack}: step{LAST:02} let it through: {}",
                    cell.detail
                )),
                Some(true) if step >= 6 && open_until.is_none_or(|closing| step >= closing) => {
                    out.push(format!(
                        "{attack}: step{step:02} let it through: {}",
                        cell.detail
                    ))
                }
                Some(false) if must => out.push(format!(
                    "{attack}: must get through on step{step:02} (the lab shows the hole) but was blocked: {}",
                    cell.detail
                )),
                _ => {}
            }
        }
    }
    for (attack, _) in MUST_ESCAPE {
        if !matrix.iter().any(|r| r.attack == *attack) {
            out.push(format!(
                "{attack}: listed in MUST_ESCAPE but the probe has no such attack"
            ));
        }
    }
    out
}

/// The matrix as Markdown: the table, then what each run said.
pub fn markdown(matrix: &Matrix) -> String {
    let mut md =
        String::from("<!-- generated by `cargo xtask escape` from a real run; do not edit -->\n\n");
    md.push_str("| attack | what the real breakout did | host |");
    for n in STEPS {
        let _ = write!(md, " step{n:02} |");
    }
    md.push_str("\n|---|---|:---:|");
    for _ in STEPS {
        md.push_str(":---:|");
    }
    md.push('\n');
    let mark = |cell: &Cell| match cell.escaped {
        Some(true) => "**ESCAPED**",
        Some(false) => "blocked",
        None => "error",
    };
    for row in matrix {
        let _ = write!(
            md,
            "| `{}` | {} | {} |",
            row.attack,
            row.what,
            mark(&row.host)
        );
        for cell in &row.steps {
            let _ = write!(md, " {} |", mark(cell));
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "\nThe host column and step01 to step{:02} ran as root; step{ROOTLESS_STEP:02} ran as \
         the ordinary user `{ROOTLESS_USER}`, rootless.",
        ROOTLESS_STEP - 1
    );
    md.push_str("\n<details><summary>What each probe printed</summary>\n\n");
    for row in matrix {
        let _ = writeln!(md, "**`{}`**\n", row.attack);
        let _ = writeln!(md, "- host: {} {}", word(&row.host), row.host.detail);
        for (n, cell) in STEPS.iter().zip(&row.steps) {
            let _ = writeln!(md, "- step{n:02}: {} {}", word(cell), cell.detail);
        }
        md.push('\n');
    }
    md.push_str("</details>\n");
    md
}

/// `cargo xtask escape`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("the escape lab runs containers: run it as root");
    }
    let matrix = run_matrix(!args.no_build)?;
    println!(
        "\n{:<16}{:<9}{}",
        "attack",
        "host",
        STEPS.map(|n| format!("step{n:02}   ")).join("")
    );
    for row in &matrix {
        let cells: String = row
            .steps
            .iter()
            .map(|c| format!("{:<9}", word(c)))
            .collect();
        println!("{:<16}{:<9}{cells}", row.attack, word(&row.host));
    }
    if !args.no_write {
        let path = crate::workspace_root().join("book/src/generated/escape-matrix.md");
        std::fs::write(&path, markdown(&matrix))
            .with_context(|| format!("write {}", path.display()))?;
        eprintln!("escape: wrote {}", path.display());
    }
    let problems = problems(&matrix);
    if problems.is_empty() {
        println!(
            "\nescape: step{LAST:02} blocks every attack; step06 to step08 every one but {} \
             (each blocked from the step named); every probe fired where it must",
            OPEN_UNTIL
                .iter()
                .map(|(a, s)| format!("{a} (step{s:02})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    } else {
        for p in &problems {
            eprintln!("escape: {p}");
        }
        bail!("{} problem(s) in the escape matrix", problems.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(escaped: Option<bool>) -> Cell {
        Cell {
            escaped,
            detail: "d".into(),
        }
    }

    fn row(attack: &str, host: Cell, steps: Vec<Cell>) -> Row {
        Row {
            attack: attack.into(),
            what: "w".into(),
            host,
            steps,
        }
    }

    #[test]
    fn step06_letting_through_is_a_problem_and_early_blocks_of_must_attacks_too() {
        let mut cells = vec![cell(Some(true)); STEPS.len()];
        let matrix: Matrix = vec![row("reboot", cell(Some(true)), cells.clone())];
        let p = problems(&matrix);
        assert!(
            p.iter().any(|p| p.contains("step06 let it through")),
            "{p:?}"
        );
        cells[5] = cell(Some(false));
        cells[6] = cell(Some(false));
        cells[0] = cell(Some(false));
        let p = problems(&vec![row("reboot", cell(Some(true)), cells)]);
        assert!(
            p.iter().any(|p| p.contains("must get through on step01")),
            "{p:?}"
        );
        // Every MUST_ESCAPE attack missing from this matrix is named too.
        assert!(p.iter().any(|p| p.starts_with("chroot: listed")), "{p:?}");
    }

    #[test]
    fn a_full_matrix_as_expected_has_no_problems_and_renders() {
        let matrix: Matrix = MUST_ESCAPE
            .iter()
            .map(|(a, steps)| {
                let cells = STEPS
                    .iter()
                    .map(|n| cell(Some(steps.contains(n))))
                    .collect();
                row(a, cell(Some(true)), cells)
            })
            .collect();
        assert_eq!(problems(&matrix), Vec::<String>::new());
        let md = markdown(&matrix);
        assert!(
            md.contains("| `reboot` | w | **ESCAPED** | **ESCAPED** | blocked |"),
            "{md}"
        );
    }

    #[test]
    fn a_host_dependent_hole_is_required_only_where_the_host_allows_it() {
        let mut cells = vec![cell(Some(false)); STEPS.len()];
        let blocked_host = vec![row("mknod-disk", cell(Some(false)), cells.clone())];
        let p = problems(&blocked_host);
        assert!(p.iter().all(|p| !p.starts_with("mknod-disk")), "{p:?}");
        let open_host = vec![row("mknod-disk", cell(Some(true)), cells.clone())];
        let p = problems(&open_host);
        assert!(
            p.iter().any(|p| p.contains("must get through on step03")),
            "{p:?}"
        );
        // step06 letting it through is wrong whatever the host allows.
        cells[5] = cell(Some(true));
        let p = problems(&vec![row("mknod-disk", cell(Some(false)), cells)]);
        assert!(
            p.iter().any(|p| p.contains("step06 let it through")),
            "{p:?}"
        );
    }

    #[test]
    fn step07_letting_through_what_step06_may_is_a_problem() {
        let mut cells = vec![cell(Some(true)); STEPS.len()];
        cells[7] = cell(Some(false));
        cells[8] = cell(Some(false));
        let ok = problems(&vec![row("keyring", cell(Some(true)), {
            let mut c = cells.clone();
            c[6] = cell(Some(false));
            c
        })]);
        assert!(ok.iter().all(|p| !p.starts_with("keyring")), "{ok:?}");
        // plant-rootfs is chapter 8's: open on step07, closed on step08.
        let ok = problems(&vec![row("plant-rootfs", cell(Some(true)), cells.clone())]);
        assert!(ok.iter().all(|p| !p.starts_with("plant-rootfs")), "{ok:?}");
        let mut open8 = cells.clone();
        open8[7] = cell(Some(true));
        let p = problems(&vec![row("plant-rootfs", cell(Some(true)), open8)]);
        assert!(
            p.iter().any(|p| p.contains("step08 let it through")),
            "{p:?}"
        );
        cells[6] = cell(Some(true));
        let p = problems(&vec![row("keyring", cell(Some(true)), cells)]);
        assert!(
            p.iter().any(|p| p.contains("step07 let it through")),
            "{p:?}"
        );
    }

    #[test]
    fn every_probe_needs_a_positive_control_that_fires() {
        let blocked = || vec![cell(Some(false)); STEPS.len()];
        let p = problems(&vec![row("new-probe", cell(Some(true)), blocked())]);
        assert!(p.iter().any(|p| p.contains("no positive control")), "{p:?}");
        let p = problems(&vec![row("leaked-fd", cell(Some(false)), blocked())]);
        assert!(
            p.iter().any(|p| p.contains("must get through on the host")),
            "{p:?}"
        );
        let p = problems(&vec![row("leaked-fd", cell(Some(true)), blocked())]);
        assert!(p.iter().all(|p| !p.starts_with("leaked-fd")), "{p:?}");
    }

    #[test]
    fn what_stays_open_must_fire_on_step06_and_the_rest_must_not() {
        let mut cells = vec![cell(Some(true)); STEPS.len()];
        cells[6] = cell(Some(false));
        cells[7] = cell(Some(false));
        cells[8] = cell(Some(false));
        let p = problems(&vec![row("keyring", cell(Some(true)), cells.clone())]);
        assert!(p.iter().all(|p| !p.starts_with("keyring")), "{p:?}");
        cells[5] = cell(Some(false));
        let p = problems(&vec![row("keyring", cell(Some(true)), cells)]);
        assert!(
            p.iter().any(|p| p.contains("must get through on step06")),
            "{p:?}"
        );
        let p = problems(&vec![row(
            "session",
            cell(Some(false)),
            vec![cell(Some(true)); STEPS.len()],
        )]);
        assert!(
            p.iter().any(|p| p.contains("step06 let it through")),
            "{p:?}"
        );
    }

    #[test]
    fn a_failed_run_is_a_problem() {
        let matrix: Matrix = vec![row(
            "leaked-fd",
            cell(Some(false)),
            vec![cell(None); STEPS.len()],
        )];
        assert_eq!(
            problems(&matrix)
                .iter()
                .filter(|p| p.starts_with("leaked-fd on"))
                .count(),
            STEPS.len()
        );
    }

    #[test]
    fn host_files_stay_open_until_the_user_namespace_and_its_step_must_close_them() {
        for attack in HELD_DIR_ATTACKS {
            // Open on the host and step01-08 (root), blocked on step09.
            let mut cells = vec![cell(Some(true)); STEPS.len()];
            cells[8] = cell(Some(false));
            let p = problems(&vec![row(attack, cell(Some(true)), cells.clone())]);
            assert!(p.iter().all(|p| !p.starts_with(attack)), "{p:?}");
            // step09 letting it through is the failure issue 16 is about.
            cells[8] = cell(Some(true));
            let p = problems(&vec![row(attack, cell(Some(true)), cells.clone())]);
            assert!(
                p.iter().any(|p| p.contains("step09 let it through")),
                "{p:?}"
            );
            // A probe that never fires fails on its controls: the host, step08.
            let p = problems(&vec![row(
                attack,
                cell(Some(false)),
                vec![cell(Some(false)); STEPS.len()],
            )]);
            assert!(
                p.iter().any(|p| p.contains("must get through on the host")),
                "{p:?}"
            );
            assert!(
                p.iter().any(|p| p.contains("must get through on step08")),
                "{p:?}"
            );
        }
    }

    #[test]
    fn every_attack_is_blocked_on_the_last_step_whatever_else_it_may() {
        assert_eq!(STEPS.last(), Some(&LAST));
        assert_eq!(LAST, ROOTLESS_STEP);
        for (attack, steps) in MUST_ESCAPE {
            assert!(
                !steps.contains(&LAST),
                "{attack} must escape on step{LAST:02}?"
            );
        }
        for (attack, closing) in OPEN_UNTIL {
            assert!(*closing <= LAST, "{attack} is closed by no step of the lab");
        }
    }

    #[test]
    fn subordinate_ids_are_taken_only_where_nobody_has_them() {
        let want = (400_000, 65_536);
        let root_only = "root:100000:65536\n";
        assert_eq!(subid_problem(root_only, "u", 999, want), SubIds::Free);
        let has = "root:100000:65536\nu:400000:65536\n";
        assert_eq!(subid_problem(has, "u", 999, want), SubIds::Has);
        // By uid too, as newuidmap reads it.
        let by_uid = "999:500000:65536\n";
        assert_eq!(subid_problem(by_uid, "u", 999, want), SubIds::Has);
        // Too small a range is no range; an overlapping one is named.
        let small = "u:400000:10\n";
        assert_eq!(
            subid_problem(small, "u", 999, want),
            SubIds::Overlaps("u:400000:10".into())
        );
        let other = "alice:465535:65536\n";
        assert_eq!(
            subid_problem(other, "u", 999, want),
            SubIds::Overlaps("alice:465535:65536".into())
        );
        let next_to = "alice:465536:65536\nbob:334464:65536\n";
        assert_eq!(subid_problem(next_to, "u", 999, want), SubIds::Free);
    }
}
