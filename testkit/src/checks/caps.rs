//! Chapter 6: capabilities and no_new_privs, seen from inside.

use super::{Check, expect_code, expect_one_line};
use crate::run::Target;

/// The checks of chapter 6.
pub const CHECKS: &[Check] = &[
    Check {
        name: "caps::docker_default_set",
        since: 6,
        run: docker_default_set,
    },
    Check {
        name: "caps::mount_and_hostname_are_refused",
        since: 6,
        run: mount_and_hostname_are_refused,
    },
    Check {
        name: "caps::cap_add_sys_admin_allows_mount",
        since: 6,
        run: cap_add_sys_admin_allows_mount,
    },
    Check {
        name: "caps::cap_drop_net_raw_breaks_ping",
        since: 6,
        run: cap_drop_net_raw_breaks_ping,
    },
    Check {
        name: "caps::unknown_capability_is_125",
        since: 6,
        run: unknown_capability_is_125,
    },
];

/// Docker's default capability set, as /proc/PID/status shows it.
pub const DOCKER_DEFAULT_MASK: &str = "00000000a80425fb";

fn status_field<'a>(status: &'a str, field: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// CapEff/CapPrm/CapBnd are Docker's set, CapInh/CapAmb are empty, NoNewPrivs is 1.
pub fn docker_default_set(t: &Target) -> Result<(), String> {
    let out = t.run(&["cat", "/proc/self/status"])?;
    expect_code(&out, 0, "cat /proc/self/status")?;
    let want = [
        ("CapEff", DOCKER_DEFAULT_MASK),
        ("CapPrm", DOCKER_DEFAULT_MASK),
        ("CapBnd", DOCKER_DEFAULT_MASK),
        ("CapInh", "0000000000000000"),
        ("CapAmb", "0000000000000000"),
        ("NoNewPrivs", "1"),
    ];
    for (field, value) in want {
        match status_field(&out.stdout, field) {
            Some(got) if got == value => {}
            got => {
                return Err(format!(
                    "{field} inside the container was {got:?}, expected {value:?}{}",
                    if field == "CapBnd" {
                        ": drop every other capability from the bounding set, or execve gives them back"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    Ok(())
}

/// Without CAP_SYS_ADMIN, mounting and setting the hostname fail with EPERM.
pub fn mount_and_hostname_are_refused(t: &Target) -> Result<(), String> {
    for (argv, what) in [
        (
            &["mount", "-t", "tmpfs", "none", "/mnt"][..],
            "mount -t tmpfs none /mnt",
        ),
        (&["hostname", "x"][..], "hostname x"),
    ] {
        let out = t.run(argv)?;
        if out.code == 0 {
            return Err(format!(
                "`{what}` succeeded inside the container: CAP_SYS_ADMIN was not dropped"
            ));
        }
        // busybox words EPERM either way, depending on the applet.
        let stderr = out.stderr.to_lowercase();
        if !stderr.contains("operation not permitted") && !stderr.contains("permission denied") {
            return Err(format!(
                "`{what}` failed, but not with EPERM: {:?}",
                out.stderr.trim()
            ));
        }
    }
    Ok(())
}

/// `--cap-add SYS_ADMIN` gives mounting back.
pub fn cap_add_sys_admin_allows_mount(t: &Target) -> Result<(), String> {
    let out = t.run(&[
        "--cap-add",
        "SYS_ADMIN",
        "mount",
        "-t",
        "tmpfs",
        "none",
        "/mnt",
    ])?;
    expect_code(&out, 0, "--cap-add SYS_ADMIN mount -t tmpfs none /mnt")
}

/// `ping` works with the default set and fails after `--cap-drop NET_RAW`.
pub fn cap_drop_net_raw_breaks_ping(t: &Target) -> Result<(), String> {
    let ping = ["ping", "-c", "1", "-W", "2", "host"];
    let out = t.run(&ping)?;
    expect_code(&out, 0, "ping -c 1 host with the default capabilities")?;
    let mut argv = vec!["--cap-drop", "NET_RAW"];
    argv.extend(ping);
    let out = t.run(&argv)?;
    if out.code == 0 {
        Err("ping still worked after --cap-drop NET_RAW: the capability was not dropped".into())
    } else {
        Ok(())
    }
}

/// An unknown capability name: 125 and one line naming it.
pub fn unknown_capability_is_125(t: &Target) -> Result<(), String> {
    let out = t.run(&["--cap-add", "FLY", "true"])?;
    expect_code(&out, 125, "--cap-add FLY")?;
    expect_one_line(&out, &["FLY"], "--cap-add FLY")
}

/// `/proc/sys` cannot be written: `core_pattern` names a program the host
/// runs as root, so a writable one is a way out of the container.
pub fn proc_sys_is_read_only(t: &Target) -> Result<(), String> {
    // `: >>` opens the file for writing and writes nothing: harmless even
    // when the check fails (the host's core_pattern is left as it was).
    let out = t.run(&["sh", "-c", ": >> /proc/sys/kernel/core_pattern"])?;
    if out.code == 0 {
        return Err(
            "/proc/sys/kernel/core_pattern could be opened for writing inside the container: \
                    make /proc/sys read-only (bind it onto itself, remount MS_RDONLY)"
                .into(),
        );
    }
    if !out.stderr.contains("Read-only file system") {
        return Err(format!(
            "the write to /proc/sys failed, but not because /proc/sys is read-only: {:?}",
            out.stderr.trim()
        ));
    }
    Ok(())
}

/// CAP_MKNOD stays (Docker's set), so the container can make device nodes;
/// none it makes may open: `/dev`, `/dev/shm`, `/run` and `/` are `nodev`.
/// The node made here is /dev/null's (1:3): harmless if the check fails.
pub fn made_devices_cannot_be_opened(t: &Target) -> Result<(), String> {
    for dir in ["/tmp", "/dev"] {
        let script = format!(
            "mknod {dir}/probe-node c 1 3 && cat {dir}/probe-node; r=$?; rm -f {dir}/probe-node; exit $r"
        );
        let out = t.run(&["sh", "-c", &script])?;
        if out.code == 0 {
            return Err(format!(
                "a device node made in {dir} inside the container could be opened: mount {dir} nodev \
                 (with CAP_MKNOD, the node of the host's disk would open too)"
            ));
        }
        if !out.stderr.contains("Permission denied") {
            return Err(format!(
                "the device node in {dir} failed, but not with EACCES: {:?}",
                out.stderr.trim()
            ));
        }
    }
    Ok(())
}
