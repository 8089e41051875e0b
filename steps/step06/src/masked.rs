//! Masked paths: files of `/proc` and `/sys` a container must not read.
//!
//! `/proc` and `/sys` are not namespaced through and through: some of their
//! files describe the whole machine. `/proc/keys` lists kernel keys,
//! `/proc/timer_list` every timer on the host with the names and PIDs of the
//! processes that set them, `/proc/kcore` is the kernel's memory,
//! `/sys/firmware` the machine's ACPI tables and boot memory map. Read-only
//! (step03's `/sys`, [`protect_proc`] below) is not enough: they must not be
//! readable at all.
//!
//! Docker's default list (moby's `oci/defaults.go`, applied by runc), masked
//! the way runc masks them: a file gets `/dev/null` bind-mounted over it
//! (reads give nothing), a directory an empty read-only tmpfs. The command,
//! without CAP_SYS_ADMIN, cannot unmount either.
//!
//! Next to them in Docker's defaults are the read-only paths: the parts of
//! `/proc` that may be read but that change the whole machine when written
//! ([`protect_proc`]).

use nix::mount::{MsFlags, mount};
use workshop::{SyscallError, call};

// ANCHOR: list
/// Docker's masked paths.
pub const MASKED: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
// ANCHOR_END: list

// ANCHOR: mask
/// Masks every path of [`MASKED`] this kernel has. Runs inside the
/// container after `/proc`, `/sys` and `/dev` are mounted.
pub fn mask_paths() -> Result<(), SyscallError> {
    for path in MASKED {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            continue; // not in this kernel
        };
        if meta.is_dir() {
            let flags =
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            call(
                "mount",
                format!("\"tmpfs\", {path:?}, \"tmpfs\", MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC"),
                || mount(Some("tmpfs"), path, Some("tmpfs"), flags, None::<&str>),
            )?;
        } else {
            call(
                "mount",
                format!("\"/dev/null\", {path:?}, NULL, MS_BIND"),
                || {
                    mount(
                        Some("/dev/null"),
                        path,
                        None::<&str>,
                        MsFlags::MS_BIND,
                        None::<&str>,
                    )
                },
            )?;
        }
    }
    Ok(())
}
// ANCHOR_END: mask

// ANCHOR: protect_proc
/// The parts of `/proc` that change the whole machine, not just the
/// container: sysctls (`/proc/sys/kernel/core_pattern` names a program the
/// *host* runs as root on every crash, a classic escape), the SysRq trigger,
/// interrupt and bus settings. Docker makes the same list read-only.
pub const READONLY_PROC: [&str; 5] = [
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/irq",
    "/proc/bus",
    "/proc/fs",
];

/// Makes [`READONLY_PROC`] read-only inside the container. Once the
/// command has lost CAP_SYS_ADMIN (step06) it cannot remount them.
pub fn protect_proc() -> Result<(), SyscallError> {
    for path in READONLY_PROC {
        if std::fs::symlink_metadata(path).is_err() {
            continue; // not in this kernel's /proc
        }
        // A bind mount of the path onto itself makes it a mount of its own;
        // only a remount can then make that mount read-only (MS_RDONLY is
        // ignored when the bind mount is created).
        call(
            "mount",
            format!("{path:?}, {path:?}, NULL, MS_BIND|MS_REC"),
            || {
                mount(
                    Some(path),
                    path,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
            },
        )?;
        let flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC;
        call(
            "mount",
            format!(
                "NULL, {path:?}, NULL, MS_BIND|MS_REMOUNT|MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC"
            ),
            || mount(None::<&str>, path, None::<&str>, flags, None::<&str>),
        )?;
    }
    Ok(())
}
// ANCHOR_END: protect_proc
