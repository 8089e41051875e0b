//! Chapter 1: the hostname, and the runtime's contract (exit codes, errors,
//! descriptors) that every later chapter keeps.

use super::{Check, expect_code, expect_one_line};
use crate::host;
use crate::run::{Target, run_command, world_executable_copy};

/// The checks of chapter 1.
pub const CHECKS: &[Check] = &[
    Check {
        name: "uts::hostname_inside",
        since: 1,
        run: hostname_inside,
    },
    Check {
        name: "uts::host_hostname_unchanged",
        since: 1,
        run: host_hostname_unchanged,
    },
    Check {
        name: "uts::uts_namespace_differs",
        since: 1,
        run: uts_namespace_differs,
    },
    Check {
        name: "uts::exit_status_passes_through",
        since: 1,
        run: exit_status_passes_through,
    },
    Check {
        name: "uts::signal_death_is_128_plus_n",
        since: 1,
        run: signal_death_is_128_plus_n,
    },
    Check {
        name: "uts::missing_command_is_127",
        since: 1,
        run: missing_command_is_127,
    },
    Check {
        name: "uts::long_hostname_is_125",
        since: 1,
        run: long_hostname_is_125,
    },
    Check {
        name: "uts::not_root_is_125",
        since: 1,
        run: not_root_is_125,
    },
    Check {
        name: "uts::only_std_fds",
        since: 1,
        run: only_std_fds,
    },
];

/// `--hostname box-1 hostname` prints box-1.
pub fn hostname_inside(t: &Target) -> Result<(), String> {
    let out = t.run(&["--hostname", "box-1", "hostname"])?;
    expect_code(&out, 0, "hostname")?;
    match out.out() {
        "box-1" => Ok(()),
        other => Err(format!(
            "hostname inside the container was {other:?}, expected \"box-1\""
        )),
    }
}

/// The host's hostname is the same before and after.
pub fn host_hostname_unchanged(t: &Target) -> Result<(), String> {
    let before = host::hostname();
    let out = t.run(&["--hostname", "changed-inside", "hostname"])?;
    expect_code(&out, 0, "hostname")?;
    let after = host::hostname();
    if before == after {
        Ok(())
    } else {
        Err(format!(
            "the host's hostname changed from {before:?} to {after:?}: sethostname ran in the host's UTS namespace"
        ))
    }
}

/// `/proc/self/ns/uts` inside is not the host's.
pub fn uts_namespace_differs(t: &Target) -> Result<(), String> {
    namespace_differs(t, "uts")
}

/// Shared by every "this namespace is new" check.
pub fn namespace_differs(t: &Target, kind: &str) -> Result<(), String> {
    let path = format!("/proc/self/ns/{kind}");
    let out = t.run(&["readlink", &path])?;
    expect_code(&out, 0, &format!("readlink {path}"))?;
    let host = host::namespace(kind);
    if out.out().is_empty() || out.out() == host {
        Err(format!(
            "the container's {kind} namespace is the host's ({host}): CLONE_NEW{} is missing",
            kind.to_uppercase()
        ))
    } else {
        Ok(())
    }
}

/// `sh -c 'exit 42'` makes the runtime exit 42.
pub fn exit_status_passes_through(t: &Target) -> Result<(), String> {
    let out = t.run(&["sh", "-c", "exit 42"])?;
    expect_code(&out, 42, "sh -c 'exit 42'")
}

/// A command killed by SIGKILL makes the runtime exit 137.
pub fn signal_death_is_128_plus_n(t: &Target) -> Result<(), String> {
    let out = t.run(&["sh", "-c", "kill -9 $$"])?;
    expect_code(&out, 137, "a command killed by SIGKILL (128+9)")
}

/// A command that does not exist gives 127 and says so.
pub fn missing_command_is_127(t: &Target) -> Result<(), String> {
    let out = t.run(&["no-such-command-xyz"])?;
    expect_code(&out, 127, "a command that does not exist")?;
    expect_one_line(
        &out,
        &["no-such-command-xyz"],
        "a command that does not exist",
    )
}

/// A 65-byte hostname is refused with 125 and one line.
pub fn long_hostname_is_125(t: &Target) -> Result<(), String> {
    let long = "h".repeat(65);
    let out = t.run(&["--hostname", &long, "true"])?;
    expect_code(&out, 125, "a 65-byte --hostname")?;
    expect_one_line(&out, &["64"], "a 65-byte --hostname")
}

/// Run as `nobody`, the runtime refuses with 125 and one line about root.
pub fn not_root_is_125(t: &Target) -> Result<(), String> {
    let (_dir, bin) = world_executable_copy(&t.bin)?;
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin);
    // From chapter 9 on an ordinary user may run the runtime (that is the
    // chapter): only what needs root is refused, such as the host's users.
    let (what, word) = if t.step >= 9 {
        cmd.args(["--userns", "host"]);
        (
            "running as an unprivileged user with --userns host",
            "needs root",
        )
    } else {
        ("running as an unprivileged user", "root")
    };
    if let Some(rootfs) = &t.rootfs {
        cmd.arg("--rootfs").arg(rootfs);
    }
    cmd.arg("true").stdin(std::process::Stdio::null());
    let out = run_command(cmd, crate::run::RUN_LIMIT)?;
    expect_code(&out, 125, what)?;
    expect_one_line(&out, &[word], what)
}

/// The command starts with only stdin, stdout and stderr open.
pub fn only_std_fds(t: &Target) -> Result<(), String> {
    // `ls /proc/$$/fd` lists the shell's descriptors, not those of `ls`
    // (which has one more: the directory it is reading). `; true` keeps the
    // shell from exec'ing ls in its own place.
    let out = t.run(&["sh", "-c", "ls /proc/$$/fd; true"])?;
    expect_code(&out, 0, "ls /proc/$$/fd")?;
    let mut fds: Vec<&str> = out.stdout.split_whitespace().collect();
    fds.sort_unstable();
    if fds == ["0", "1", "2"] {
        Ok(())
    } else {
        Err(format!(
            "the command started with descriptors {fds:?} open, expected only 0, 1 and 2: \
             a descriptor of the runtime leaked into the container (open it O_CLOEXEC)"
        ))
    }
}
