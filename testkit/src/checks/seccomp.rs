//! Chapter 7: the seccomp filter, seen from inside. Every closed door is
//! checked open with `--security-opt seccomp=unconfined` in the same check,
//! so a check cannot pass because the door was never there.

use std::io::{Read, Write};
use std::net::TcpListener;

use super::{Check, expect_code, expect_one_line};
use crate::run::Target;

/// The checks of chapter 7.
pub const CHECKS: &[Check] = &[
    Check {
        name: "seccomp::filter_is_on",
        since: 7,
        run: filter_is_on,
    },
    Check {
        name: "seccomp::user_namespace_refused",
        since: 7,
        run: user_namespace_refused,
    },
    Check {
        name: "seccomp::cap_add_widens_the_filter",
        since: 7,
        run: cap_add_widens_the_filter,
    },
    Check {
        name: "seccomp::ordinary_programs_run",
        since: 7,
        run: ordinary_programs_run,
    },
    Check {
        name: "seccomp::job_control_works",
        since: 7,
        run: job_control_works,
    },
    Check {
        name: "seccomp::wget_reaches_the_host",
        since: 7,
        run: wget_reaches_the_host,
    },
    Check {
        name: "seccomp::profile_file_is_loaded",
        since: 7,
        run: profile_file_is_loaded,
    },
    Check {
        name: "seccomp::bad_profile_is_125",
        since: 7,
        run: bad_profile_is_125,
    },
];

const UNCONFINED: &str = "seccomp=unconfined";

fn field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// `Seccomp: 2` (a filter) for the command and for PID 1; 0 when unconfined.
pub fn filter_is_on(t: &Target) -> Result<(), String> {
    for who in ["self", "1"] {
        let path = format!("/proc/{who}/status");
        let out = t.run(&["cat", &path])?;
        expect_code(&out, 0, &format!("cat {path}"))?;
        if field(&out.stdout, "Seccomp") != Some("2") {
            return Err(format!(
                "{path} says Seccomp: {:?}, expected 2 (SECCOMP_MODE_FILTER): install the filter \
                 with seccomp(SECCOMP_SET_MODE_FILTER) in the command and in PID 1",
                field(&out.stdout, "Seccomp")
            ));
        }
    }
    let out = t.run(&["--security-opt", UNCONFINED, "cat", "/proc/self/status"])?;
    expect_code(
        &out,
        0,
        "--security-opt seccomp=unconfined cat /proc/self/status",
    )?;
    match field(&out.stdout, "Seccomp") {
        Some("0") => Ok(()),
        got => Err(format!(
            "with --security-opt seccomp=unconfined Seccomp is {got:?}, expected 0: no filter"
        )),
    }
}

/// `unshare -U` (a user namespace, which needs no capability) fails with
/// EPERM under the filter, and works unconfined.
pub fn user_namespace_refused(t: &Target) -> Result<(), String> {
    let out = t.run(&["unshare", "-U", "true"])?;
    if out.code == 0 || !out.stderr.contains("Operation not permitted") {
        return Err(format!(
            "`unshare -U true` must fail with EPERM under Docker's profile (unshare needs \
             CAP_SYS_ADMIN in the filter); it exited {} ({:?})",
            out.code,
            out.stderr.trim()
        ));
    }
    let open = t.run(&["--security-opt", UNCONFINED, "unshare", "-U", "true"])?;
    expect_code(
        &open,
        0,
        "unshare -U true with --security-opt seccomp=unconfined (the positive control)",
    )
}

/// `--cap-add SYS_ADMIN` widens the filter as Docker's does: unshare is
/// allowed then.
pub fn cap_add_widens_the_filter(t: &Target) -> Result<(), String> {
    let out = t.run(&["--cap-add", "SYS_ADMIN", "unshare", "-U", "true"])?;
    expect_code(&out, 0, "--cap-add SYS_ADMIN unshare -U true").map_err(|e| {
        format!("{e}; the profile's entries that include CAP_SYS_ADMIN must apply when it is added")
    })
}

/// What a shell session does still works: ls, ps, top, date, sleep, and a
/// pipeline.
pub fn ordinary_programs_run(t: &Target) -> Result<(), String> {
    let script = "ls / >/dev/null && ps >/dev/null && top -b -n 1 >/dev/null && \
                  date >/dev/null && sleep 0.1 && echo a b | wc -w";
    let out = t.run(&["sh", "-c", script])?;
    expect_code(&out, 0, "ls, ps, top -b -n 1, date, sleep, a pipe")?;
    if out.out() != "2" {
        return Err(format!("the pipeline printed {:?}, expected 2", out.out()));
    }
    Ok(())
}

/// A shell's job control on the container's terminal: a background job,
/// `jobs`, `fg`.
pub fn job_control_works(t: &Target) -> Result<(), String> {
    let pty = super::defaults::pty()?;
    let script = "set -m; sleep 0.2 & jobs; fg %1 >/dev/null; echo fg=$?";
    let out = super::defaults::run_on_terminal(t, &pty, &["-t", "sh", "-c", script])?;
    expect_code(&out, 0, "sh -c 'set -m; sleep & jobs; fg' on a terminal")?;
    if !out.stdout.contains("Running") || !out.stdout.contains("fg=0") {
        return Err(format!(
            "job control: expected `jobs` to list the job as Running and `fg` to succeed, got {:?}",
            out.stdout
        ));
    }
    Ok(())
}

/// `wget` to a server on the host, through the veth pair.
pub fn wget_reaches_the_host(t: &Target) -> Result<(), String> {
    let listener = TcpListener::bind("0.0.0.0:0").map_err(|e| format!("bind: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let server = std::thread::spawn(move || {
        // One request, one fixed answer: enough for wget.
        if let Ok((mut conn, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 15\r\n\r\nhello from host");
        }
    });
    let url = format!("http://host:{port}/");
    // (No -T: busybox-static's wget crashes with a timeout set.)
    let out = t.run(&["wget", "-q", "-O", "-", &url])?;
    if out.code != 0 {
        // Unblock the accept, then report.
        let _ = std::net::TcpStream::connect(("127.0.0.1", port));
    }
    let _ = server.join();
    expect_code(&out, 0, &format!("wget {url}"))?;
    if out.out() != "hello from host" {
        return Err(format!("wget printed {:?}", out.out()));
    }
    Ok(())
}

/// A profile file is loaded: one that allows everything but making
/// directories, which fails with ENOSYS (38).
pub fn profile_file_is_loaded(t: &Target) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("no-mkdir.json");
    let profile = r#"{
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    }"#;
    std::fs::write(&path, profile).map_err(|e| e.to_string())?;
    let opt = format!("seccomp={}", path.display());
    let out = t.run(&[
        "--security-opt",
        &opt,
        "sh",
        "-c",
        "mkdir /tmp/d; echo rc=$?; unshare -U true && echo userns",
    ])?;
    expect_code(&out, 0, "a profile allowing all but mkdir")?;
    if !out.stdout.contains("rc=1") || !out.stderr.contains("not implemented") {
        return Err(format!(
            "with a profile that answers mkdir with ERRNO(38), mkdir must fail with \
             `Function not implemented`; got stdout {:?}, stderr {:?}",
            out.stdout, out.stderr
        ));
    }
    if !out.stdout.contains("userns") {
        return Err(format!(
            "the profile's defaultAction SCMP_ACT_ALLOW must allow unshare: {:?}",
            out.stderr
        ));
    }
    Ok(())
}

/// A malformed profile, a missing one and an unknown option: 125, one line
/// naming the field (or the file), and nothing run.
pub fn bad_profile_is_125(t: &Target) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let bad = dir.path().join("bad.json");
    let text = r#"{"defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALOW"}]}"#;
    std::fs::write(&bad, text).map_err(|e| e.to_string())?;
    let marker = dir.path().join("ran");
    let touch = format!("echo > {}", marker.display());
    let cases = [
        (
            format!("seccomp={}", bad.display()),
            vec!["syscalls[0].action"],
        ),
        (
            format!("seccomp={}", dir.path().join("missing.json").display()),
            vec!["missing.json"],
        ),
        ("apparmor=unconfined".to_owned(), vec!["seccomp=FILE"]),
    ];
    for (opt, words) in cases {
        let out = t.run(&["--security-opt", &opt, "sh", "-c", &touch])?;
        expect_code(&out, 125, &format!("--security-opt {opt}"))?;
        expect_one_line(&out, &words, &format!("--security-opt {opt}"))?;
    }
    if marker.exists() {
        return Err("a command ran although its profile was refused".into());
    }
    Ok(())
}
