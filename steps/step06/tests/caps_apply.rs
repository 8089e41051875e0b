//! `caps::apply` for real, as root: a forked child enters a fresh UTS
//! namespace (so the host's hostname is never at stake), applies a set,
//! and then executes busybox, which reports what the kernel says about it.
//! Looking after `execve` is the point: capset alone sets masks that
//! root's next execve recomputes from the bounding set.

use std::io::Read;
use std::os::fd::OwnedFd;

use caps::{CapSet, Capability, CapsHashSet};
use nix::sched::{CloneFlags, unshare};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, dup2_stderr, dup2_stdout, execv, fork, geteuid, pipe};
use step06::caps::{apply, capget, docker_default, mask};

const BUSYBOX: &str = "/bin/busybox";

/// Prints from the forked child. `println!` would not do: the test harness
/// captures it into a buffer of this thread, which the child never flushes;
/// and std's stdout lock may have been held by another test thread at the
/// fork, so the child writes to fd 1 itself, taking no lock.
macro_rules! say {
    ($($arg:tt)*) => {{
        let line = format!("{}\n", format_args!($($arg)*));
        workshop::explain::write_all_unlocked(1, line.as_bytes());
    }};
}

/// What the child reported: its exit status and everything it printed.
struct Report {
    status: WaitStatus,
    output: String,
}

impl Report {
    /// The value of a `/proc/self/status` line as the executed program saw it.
    fn status_line(&self, key: &str) -> &str {
        self.output
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {key}: line in the child's output:\n{}", self.output))
    }
}

fn require_root() {
    assert!(
        geteuid().is_root(),
        "this test applies capabilities for real and needs root: run `cargo test -p step06` as root (sudo -E)"
    );
    assert!(
        std::path::Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: apt-get install busybox-static"
    );
}

/// Forks; the child unshares its UTS namespace, applies `set` with the
/// narration on, prints what capget says, then becomes a busybox shell that
/// prints its /proc/self/status capability lines and tries sethostname.
fn run_child(set: &CapsHashSet) -> Report {
    let (read_end, write_end): (OwnedFd, OwnedFd) = pipe().unwrap();
    // SAFETY: the child only sets up its stdio, makes syscalls, formats
    // text and execs or _exits; glibc's fork keeps malloc usable in it.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(read_end);
            let _ = dup2_stdout(&write_end);
            let _ = dup2_stderr(&write_end);
            drop(write_end);
            if let Err(e) = unshare(CloneFlags::CLONE_NEWUTS) {
                say!("unshare(CLONE_NEWUTS) failed: {e}");
                // SAFETY: ends the forked child without running the test harness's exit path.
                unsafe { libc::_exit(90) };
            }
            workshop::explain::init("step06", true);
            if let Err(e) = apply(set) {
                say!("apply failed: {e}");
                // SAFETY: as above.
                unsafe { libc::_exit(91) };
            }
            match capget() {
                Ok(sets) => say!("before execve: {sets}"),
                Err(e) => say!("capget failed: {e}"),
            }
            let script = "grep -E '^(Cap|NoNewPrivs)' /proc/self/status; \
                          if hostname probe-x; then echo sethostname=ok; else echo sethostname=failed; fi; \
                          echo hostname-now=$(hostname)";
            let argv = [
                c"busybox",
                c"sh",
                c"-c",
                &std::ffi::CString::new(script).unwrap(),
            ];
            let _ = execv(c"/bin/busybox", &argv);
            say!("execv(/bin/busybox) failed");
            // SAFETY: as above.
            unsafe { libc::_exit(92) };
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let mut output = String::new();
            std::fs::File::from(read_end)
                .read_to_string(&mut output)
                .unwrap();
            let status = waitpid(child, None).unwrap();
            Report { status, output }
        }
    }
}

fn hex(m: u64) -> String {
    format!("{m:016x}")
}

#[test]
fn docker_default_survives_execve_and_forbids_sethostname() {
    require_root();
    let set = docker_default();
    let r = run_child(&set);
    assert!(
        matches!(r.status, WaitStatus::Exited(_, 0)),
        "child: {:?}\n{}",
        r.status,
        r.output
    );
    assert_eq!(mask(&set), 0xa80425fb);
    for key in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(
            r.status_line(key),
            "00000000a80425fb",
            "{key}\n{}",
            r.output
        );
    }
    assert_eq!(r.status_line("CapInh"), hex(0), "{}", r.output);
    assert_eq!(r.status_line("CapAmb"), hex(0), "{}", r.output);
    assert_eq!(r.status_line("NoNewPrivs"), "1", "{}", r.output);
    assert!(
        r.output.contains("before execve: effective=0x00000000a80425fb, permitted=0x00000000a80425fb, inheritable=0x0000000000000000"),
        "{}",
        r.output
    );
    // Without CAP_SYS_ADMIN, even in its own UTS namespace, root cannot
    // rename the host.
    assert!(r.output.contains("sethostname=failed"), "{}", r.output);
    assert!(!r.output.contains("hostname-now=probe-x"), "{}", r.output);
    // -x narrates each call, in the order of the lesson.
    let order = [
        "prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN) = 0",
        "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) = 0",
        "capset({version=_LINUX_CAPABILITY_VERSION_3, pid=0}, {effective=0x00000000a80425fb",
        "prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) = 0",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|s| {
            r.output
                .find(s)
                .unwrap_or_else(|| panic!("no {s:?} in\n{}", r.output))
        })
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "order wrong:\n{}",
        r.output
    );
    assert!(
        !r.output.contains("PR_CAPBSET_DROP, CAP_CHOWN"),
        "{}",
        r.output
    );
}

#[test]
fn adding_sys_admin_lets_sethostname_work_in_the_namespace() {
    // The control for the test above: same child, same namespace, one more
    // capability, and the rename succeeds.
    require_root();
    let mut set = docker_default();
    set.insert(Capability::CAP_SYS_ADMIN);
    let r = run_child(&set);
    assert!(matches!(r.status, WaitStatus::Exited(_, 0)), "{}", r.output);
    assert_eq!(
        r.status_line("CapEff"),
        hex(0xa80425fb | 1 << 21),
        "{}",
        r.output
    );
    assert_eq!(
        r.status_line("CapBnd"),
        hex(0xa80425fb | 1 << 21),
        "{}",
        r.output
    );
    assert!(r.output.contains("sethostname=ok"), "{}", r.output);
    assert!(r.output.contains("hostname-now=probe-x"), "{}", r.output);
}

#[test]
fn drop_all_leaves_nothing_which_needs_the_bounding_set_dropped_first() {
    // The empty set has no CAP_SETPCAP: had capset() run before the
    // PR_CAPBSET_DROPs, they would all fail with EPERM.
    require_root();
    let r = run_child(&CapsHashSet::new());
    assert!(matches!(r.status, WaitStatus::Exited(_, 0)), "{}", r.output);
    for key in ["CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"] {
        assert_eq!(r.status_line(key), hex(0), "{key}\n{}", r.output);
    }
    assert_eq!(r.status_line("NoNewPrivs"), "1", "{}", r.output);
    assert!(r.output.contains("sethostname=failed"), "{}", r.output);
}

#[test]
fn asking_for_a_capability_the_runtime_lacks_names_it() {
    // Run the child with CAP_NET_ADMIN already gone from its permitted set,
    // then ask for it: capset must refuse and say which one is missing.
    require_root();
    let (read_end, write_end) = pipe().unwrap();
    // SAFETY: as in run_child.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(read_end);
            let _ = dup2_stdout(&write_end);
            // Effective first: it must stay a subset of permitted.
            let dropped = caps::drop(None, CapSet::Effective, Capability::CAP_NET_ADMIN)
                .and_then(|()| caps::drop(None, CapSet::Permitted, Capability::CAP_NET_ADMIN));
            if let Err(e) = dropped {
                say!("could not drop CAP_NET_ADMIN from the permitted set: {e}");
                // SAFETY: ends the forked child.
                unsafe { libc::_exit(90) };
            }
            let mut set = docker_default();
            set.insert(Capability::CAP_NET_ADMIN);
            match apply(&set) {
                Ok(()) => say!("apply succeeded"),
                Err(e) => say!("{e}"),
            }
            // SAFETY: ends the forked child.
            unsafe { libc::_exit(0) };
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let mut out = String::new();
            std::fs::File::from(read_end)
                .read_to_string(&mut out)
                .unwrap();
            waitpid(child, None).unwrap();
            assert!(
                out.starts_with("capset({version=_LINUX_CAPABILITY_VERSION_3"),
                "{out}"
            );
            assert!(out.contains("failed: EPERM"), "{out}");
            assert!(out.contains("does not hold CAP_NET_ADMIN"), "{out}");
        }
    }
}
