//! Chapter 3: the mount namespace, pivot_root onto the rootfs, /proc, /dev, /sys.

use std::collections::BTreeSet;
use std::path::Path;

use super::uts::namespace_differs;
use super::{Check, expect_code, expect_one_line};
use crate::host;
use crate::run::{Target, run_command};

/// The checks of chapter 3.
pub const CHECKS: &[Check] = &[
    Check {
        name: "mount::rootfs_is_root",
        since: 3,
        run: rootfs_is_root,
    },
    Check {
        name: "mount::host_files_unreachable",
        since: 3,
        run: host_files_unreachable,
    },
    Check {
        name: "mount::container_mounts_only",
        since: 3,
        run: container_mounts_only,
    },
    Check {
        name: "mount::host_mounts_unchanged",
        since: 3,
        run: host_mounts_unchanged,
    },
    Check {
        name: "mount::host_mounts_unchanged_after_failure",
        since: 3,
        run: host_mounts_unchanged_after_failure,
    },
    Check {
        name: "mount::minimal_dev",
        since: 3,
        run: minimal_dev,
    },
    Check {
        name: "mount::sys_is_read_only",
        since: 3,
        run: sys_is_read_only,
    },
    Check {
        name: "mount::ipc_namespace_differs",
        since: 3,
        run: ipc_namespace_differs,
    },
    Check {
        name: "mount::cwd_is_root",
        since: 3,
        run: cwd_is_root,
    },
    Check {
        name: "mount::missing_rootfs_is_125",
        since: 3,
        run: missing_rootfs_is_125,
    },
    Check {
        name: "mount::rootfs_file_is_125",
        since: 3,
        run: rootfs_file_is_125,
    },
    Check {
        name: "mount::empty_rootfs_is_125",
        since: 3,
        run: empty_rootfs_is_125,
    },
    Check {
        name: "mount::bare_rootfs_runs",
        since: 3,
        run: bare_rootfs_runs,
    },
    Check {
        name: "mount::mount_point_symlinks_stay_inside",
        since: 3,
        run: mount_point_symlinks_stay_inside,
    },
];

/// Mount points a container may have: what the steps mount, nothing of the host.
const CONTAINER_MOUNTS: [&str; 17] = [
    "/",
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/sys",
    "/run",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/hostname",
    // The six device files, bind-mounted from the host's /dev (chapter 3).
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];
fn rootfs(t: &Target) -> Result<&Path, String> {
    t.rootfs
        .as_deref()
        .ok_or_else(|| "chapter 3 checks need a rootfs".to_owned())
}

fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn words(text: &str) -> BTreeSet<String> {
    text.split_whitespace()
        .filter(|w| *w != "." && *w != "..")
        .map(str::to_owned)
        .collect()
}

/// `ls -a /` inside shows exactly the rootfs's top level.
pub fn rootfs_is_root(t: &Target) -> Result<(), String> {
    let want = listing(rootfs(t)?);
    let out = t.run(&["ls", "-a", "/"])?;
    expect_code(&out, 0, "ls -a /")?;
    let got = words(&out.stdout);
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "`ls /` inside showed {got:?}, but the rootfs holds {want:?}: is pivot_root done onto the rootfs?"
        ))
    }
}

/// Nothing leads back to the host: no old root left, and /proc/1/root is the rootfs.
pub fn host_files_unreachable(t: &Target) -> Result<(), String> {
    let want = listing(rootfs(t)?);
    let out = t.run(&["ls", "-a", "/proc/1/root/"])?;
    // From step06 on the command may not look into PID 1 at all (no
    // CAP_SYS_PTRACE, and PID 1 holds more capabilities): that is fine too.
    let denied = out.code != 0 && out.stderr.contains("Permission denied");
    if !denied {
        expect_code(&out, 0, "ls /proc/1/root/")?;
    }
    let got = words(&out.stdout);
    if !denied && got != want {
        return Err(format!(
            "/proc/1/root inside leads to {got:?}, not to the rootfs {want:?}: the host is reachable"
        ));
    }
    for old in [
        "/old_root",
        "/.old_root",
        "/oldroot",
        "/put_old",
        "/.pivot_root",
    ] {
        let out = t.run(&["ls", "-d", old])?;
        if out.code == 0 {
            return Err(format!(
                "{old} exists inside the container: unmount (MNT_DETACH) and remove the old root"
            ));
        }
    }
    Ok(())
}

/// `/proc/self/mountinfo` inside holds the container's mounts only.
pub fn container_mounts_only(t: &Target) -> Result<(), String> {
    let out = t.run(&["cat", "/proc/self/mountinfo"])?;
    expect_code(&out, 0, "cat /proc/self/mountinfo")?;
    let foreign: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| {
            !CONTAINER_MOUNTS.contains(p)
                && !p.starts_with("/proc/")
                && !p.starts_with("/sys/fs/cgroup")
                // step06's masked paths under /sys (/proc's are above).
                && !["/sys/firmware", "/sys/devices/virtual/powercap"].contains(p)
        })
        .collect();
    if foreign.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the container still sees mounts of the host: {foreign:?}; detach the old root with umount2(MNT_DETACH)"
        ))
    }
}

/// Compares two snapshots of the host's mount table.
pub fn same_mounts(
    before: &BTreeSet<String>,
    after: &BTreeSet<String>,
    when: &str,
) -> Result<(), String> {
    if before == after {
        return Ok(());
    }
    let added: Vec<_> = after.difference(before).collect();
    let removed: Vec<_> = before.difference(after).collect();
    Err(format!(
        "the host's mount table changed {when}: added {added:?}, removed {removed:?}; \
         make / private (MS_REC|MS_PRIVATE) in the new mount namespace before mounting"
    ))
}

/// The host's mount table is identical before and after a run.
pub fn host_mounts_unchanged(t: &Target) -> Result<(), String> {
    let before = host::mounts();
    // The mount inside may be refused (step06 drops CAP_SYS_ADMIN); if it is
    // made, it must stay in the container.
    let out = t.run(&["sh", "-c", "mount -t tmpfs none /mnt 2>/dev/null; ls /mnt"])?;
    expect_code(&out, 0, "a run that mounts a tmpfs on /mnt inside")?;
    same_mounts(&before, &host::mounts(), "after a run")
}

/// ... and after a run that failed halfway, after pivot_root.
pub fn host_mounts_unchanged_after_failure(t: &Target) -> Result<(), String> {
    let broken = crate::run::rootfs_that_fails_halfway()?;
    let before = host::mounts();
    let mut cmd = t.command_with_rootfs(broken.path(), &["true"]);
    cmd.stdin(std::process::Stdio::null());
    let out = run_command(cmd, crate::run::RUN_LIMIT)?;
    expect_code(
        &out,
        125,
        "a rootfs whose /proc is a file (the setup fails halfway)",
    )?;
    same_mounts(&before, &host::mounts(), "after a run that failed halfway")?;
    // The runtime may make the mount point /dev it was missing; nothing else.
    let left: BTreeSet<String> = listing(broken.path());
    let allowed = BTreeSet::from(["bin".to_owned(), "dev".to_owned(), "proc".to_owned()]);
    if !left.is_subset(&allowed) {
        return Err(format!("the failed run left {left:?} in the rootfs"));
    }
    Ok(())
}

/// `/dev` holds the usual harmless nodes and nothing of the host's.
pub fn minimal_dev(t: &Target) -> Result<(), String> {
    let out = t.run(&[
        "sh",
        "-c",
        "ls -a /dev; echo x > /dev/null && head -c 4 /dev/zero | wc -c",
    ])?;
    expect_code(&out, 0, "ls /dev")?;
    let got = words(&out.stdout);
    for need in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm",
    ] {
        if !got.contains(need) {
            return Err(format!("/dev inside has no {need:?} (it has {got:?})"));
        }
    }
    let allowed = [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx", "fd", "stdin",
        "stdout", "stderr", "console", "mqueue", "core", "4",
    ];
    let extra: Vec<&String> = got
        .iter()
        .filter(|n| !allowed.contains(&n.as_str()))
        .collect();
    if !extra.is_empty() {
        return Err(format!(
            "/dev inside has {extra:?}, which a container must not have: mount a fresh tmpfs on /dev"
        ));
    }
    Ok(())
}

/// `/sys` is mounted read-only.
pub fn sys_is_read_only(t: &Target) -> Result<(), String> {
    let out = t.run(&["cat", "/proc/self/mountinfo"])?;
    expect_code(&out, 0, "cat /proc/self/mountinfo")?;
    let sys = out
        .stdout
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/sys"));
    match sys {
        None => Err("/sys is not mounted inside the container".into()),
        Some(line)
            if line
                .split(' ')
                .nth(5)
                .is_some_and(|o| o.split(',').any(|o| o == "ro")) =>
        {
            Ok(())
        }
        Some(line) => Err(format!(
            "/sys is mounted read-write ({line}); mount it with MS_RDONLY"
        )),
    }
}

/// `/proc/self/ns/ipc` inside is not the host's.
pub fn ipc_namespace_differs(t: &Target) -> Result<(), String> {
    namespace_differs(t, "ipc")
}

/// The command starts in `/` of the container.
pub fn cwd_is_root(t: &Target) -> Result<(), String> {
    let out = t.run(&["pwd"])?;
    expect_code(&out, 0, "pwd")?;
    match out.out() {
        "/" => Ok(()),
        other => Err(format!(
            "the command started in {other:?}, expected \"/\": chdir(\"/\") after pivot_root"
        )),
    }
}

fn bad_rootfs(t: &Target, rootfs: &Path, words: &[&str], what: &str) -> Result<(), String> {
    let mut cmd = t.command_with_rootfs(rootfs, &["true"]);
    cmd.stdin(std::process::Stdio::null());
    let out = run_command(cmd, crate::run::RUN_LIMIT)?;
    expect_code(&out, 125, what)?;
    expect_one_line(&out, words, what)
}

/// A rootfs that does not exist: 125 and the exact fetch command.
pub fn missing_rootfs_is_125(t: &Target) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let missing = dir.path().join("no-rootfs-here");
    bad_rootfs(
        t,
        &missing,
        &["rootfs-fetcher", "no-rootfs-here"],
        "--rootfs pointing nowhere",
    )?;
    if missing.exists() {
        return Err("the failed run created the missing rootfs directory".into());
    }
    Ok(())
}

/// A rootfs that is a file: 125.
pub fn rootfs_file_is_125(t: &Target) -> Result<(), String> {
    let file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    bad_rootfs(
        t,
        file.path(),
        &["not a directory"],
        "--rootfs pointing at a file",
    )
}

/// A rootfs without /bin/sh: 125.
pub fn empty_rootfs_is_125(t: &Target) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    bad_rootfs(
        t,
        dir.path(),
        &["empty", "rootfs-fetcher"],
        "--rootfs pointing at an empty directory",
    )
}

/// What a bare rootfs (`bin/busybox` and `etc/`, nothing else) must show
/// inside: a real /proc, the devices and /sys, all on mount points the
/// runtime made.
const BARE_SCRIPT: &str = "/bin/busybox ls -d /proc/self/status /sys/kernel /dev/null /dev/pts \
    && /bin/busybox echo bare-ok";

/// Runs [`BARE_SCRIPT`] in `rootfs`.
fn run_bare_script(t: &Target, rootfs: &Path) -> Result<crate::run::Output, String> {
    let mut cmd = t.command_with_rootfs(rootfs, &["/bin/busybox", "sh", "-c", BARE_SCRIPT]);
    cmd.stdin(std::process::Stdio::null());
    run_command(cmd, crate::run::RUN_LIMIT)
}

/// The script ran, and found /proc, /sys and /dev.
fn expect_bare_ok(out: &crate::run::Output, what: &str) -> Result<(), String> {
    expect_code(out, 0, what)?;
    if out.stdout.contains("bare-ok") {
        Ok(())
    } else {
        Err(format!(
            "{what}: /proc, /sys or /dev was missing inside: {:?} {:?}",
            out.stdout, out.stderr
        ))
    }
}

/// A rootfs that is only `bin/busybox` and `etc/` runs: the runtime makes
/// the missing mount points (`/dev`, `/proc`, `/sys`, `/run`) inside it,
/// as runc does, and a command runs without any `/bin/sh`.
pub fn bare_rootfs_runs(t: &Target) -> Result<(), String> {
    let bare = crate::run::bare_rootfs(&[])?;
    let before = host::mounts();
    let out = run_bare_script(t, bare.path())?;
    expect_bare_ok(&out, "a rootfs of only bin/busybox and etc/")?;
    same_mounts(&before, &host::mounts(), "after a run on a bare rootfs")?;
    if t.step >= 8 {
        // From chapter 8 the rootfs is a read-only lower layer: the mount
        // points are made in the run's own layer, and the rootfs keeps
        // exactly what it had.
        let left = listing(bare.path());
        let had: BTreeSet<String> = ["bin", "etc"].iter().map(|s| s.to_string()).collect();
        if left != had {
            return Err(format!(
                "the bare rootfs changed: it had {had:?}, now {left:?}; from chapter 8 the \
                 mount points belong in the run's upper layer, not in the rootfs"
            ));
        }
        return Ok(());
    }
    for dir in ["dev", "proc", "sys"] {
        if !bare.path().join(dir).is_dir() {
            return Err(format!(
                "the mount point /{dir} was not made inside the bare rootfs (it has {:?})",
                listing(bare.path())
            ));
        }
    }
    Ok(())
}

/// Mount points that are symlinks leading out of the rootfs (`dev ->
/// /tmp/...`, `proc -> ../../..`, `run -> /etc`) are followed *inside* it,
/// as the container will see them: nothing is made or mounted on the host.
pub fn mount_point_symlinks_stay_inside(t: &Target) -> Result<(), String> {
    let outside = std::env::temp_dir().join(format!("ws-mount-point-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&outside);
    let dev_target = format!("{}/dev", outside.display());
    let bare = crate::run::bare_rootfs(&[
        ("dev", dev_target.as_str()),
        ("proc", "../../../ws-proc-here"),
        ("run", "/etc"),
    ])?;
    let host_etc = listing(Path::new("/etc"));
    let before = host::mounts();
    let out = run_bare_script(t, bare.path())?;
    let escaped = outside.exists();
    let _ = std::fs::remove_dir_all(&outside);
    if escaped {
        return Err(format!(
            "the rootfs's symlink dev -> {dev_target} made {} on the host: resolve mount points \
             inside the rootfs (openat2 with RESOLVE_IN_ROOT) before pivot_root",
            outside.display()
        ));
    }
    expect_bare_ok(
        &out,
        "a rootfs whose dev, proc and run are symlinks out of it",
    )?;
    same_mounts(
        &before,
        &host::mounts(),
        "after a run on a rootfs with symlinked mount points",
    )?;
    if listing(Path::new("/etc")) != host_etc {
        return Err("the host's /etc changed during a run whose rootfs has run -> /etc".into());
    }
    let inside = bare.path().join(dev_target.trim_start_matches('/'));
    if t.step >= 8 {
        // The targets were made in the run's own layer, not in the rootfs.
        if inside.exists() || bare.path().join("ws-proc-here").exists() {
            return Err(format!(
                "{} or {} was made in the rootfs itself: from chapter 8 it is a read-only \
                 lower layer, and the run's writes go to its upper layer",
                inside.display(),
                bare.path().join("ws-proc-here").display()
            ));
        }
        return Ok(());
    }
    if !inside.is_dir() || !bare.path().join("ws-proc-here").is_dir() {
        return Err(format!(
            "the symlinks' targets were not made inside the rootfs ({} and {})",
            inside.display(),
            bare.path().join("ws-proc-here").display()
        ));
    }
    Ok(())
}
