//! `reset` against the real host, as root: it removes what a SIGKILLed
//! step05 left behind, and leaves a running container alone.
//!
//! Run: `cargo test -p reset` (the workspace runner runs tests as root).
//! Both tests use reset's default, conservative mode, which touches only
//! leftovers, so they are safe next to other containers running on the host.
//! (A step05/06 run started by someone else in the few milliseconds between
//! the SIGKILL and `reset` would sweep the leftover first, as it should, and
//! fail the first test: run them on a quiet host.)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::host::workshop_cgroups;

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "reset's tests create cgroups through step05: run them as root (`cargo test -p reset` uses the workspace's as-root runner)"
    );
}

/// target/debug/step05, built if it is not there yet.
fn step05() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/debug/deps/reset-<hash> -> target/debug/step05
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps")
        .join("step05");
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-p", "step05"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cargo build -p step05 failed");
    }
    assert!(bin.is_file(), "{} is missing", bin.display());
    bin
}

/// The two tests run one at a time: each one's `reset` would sweep the
/// other's SIGKILLed leftover (that is its job).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Starts `step05 ... sleep 30` and waits until its cgroup leaves exist.
// The child goes back to the caller, which waits for it (clippy cannot see
// that through the returned tuple).
#[allow(clippy::zombie_processes)]
fn start_container() -> (Child, Vec<PathBuf>) {
    let rootfs = testkit::rootfs::busybox_rootfs().expect("the busybox test rootfs");
    let mut child = Command::new(step05())
        .arg("--rootfs")
        .arg(rootfs)
        .args(["--network", "none", "--pids", "64", "sleep", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start step05");
    let leaf = format!("ws-{}", child.id());
    let start = Instant::now();
    loop {
        let leaves: Vec<PathBuf> = workshop_cgroups()
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n == leaf.as_str()))
            .collect();
        // The pids leaf is the last one the run creates; any leaf with a
        // process in it means the container is in.
        let populated = leaves.iter().any(|l| {
            std::fs::read_to_string(l.join("cgroup.procs")).is_ok_and(|s| !s.trim().is_empty())
        });
        if populated {
            return (child, leaves);
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("step05's container did not appear in a cgroup {leaf} within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn reset(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reset"))
        .args(args)
        .output()
        .expect("run reset");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// Kills the runtime if a test fails halfway and removes its leaves.
struct Guard(Option<Child>, Vec<PathBuf>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
        for leaf in &self.1 {
            let _ = std::fs::remove_dir(leaf);
        }
    }
}

#[test]
fn reset_removes_the_cgroup_a_sigkilled_run_left() {
    require_root();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (mut child, leaves) = start_container();
    let mut guard = Guard(None, leaves.clone());
    child.kill().expect("SIGKILL step05");
    child.wait().expect("reap step05");

    // PR_SET_PDEATHSIG: the container dies with its runtime, so the leaves
    // empty; only the directories stay, as nobody removed them.
    let start = Instant::now();
    while leaves.iter().any(|l| {
        std::fs::read_to_string(l.join("cgroup.procs")).is_ok_and(|s| !s.trim().is_empty())
    }) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the container outlived its SIGKILLed runtime: {leaves:?} still hold processes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        leaves.iter().all(|l| l.is_dir()),
        "the leftover is missing before reset: {leaves:?}"
    );

    let (code, out) = reset(&["--dry-run"]);
    assert_eq!(code, 0, "{out}");
    for leaf in &leaves {
        assert!(
            out.contains(&format!("would remove cgroup {}", leaf.display())),
            "reset --dry-run does not name {}:\n{out}",
            leaf.display()
        );
        assert!(leaf.is_dir(), "--dry-run removed {}", leaf.display());
    }

    let (code, out) = reset(&[]);
    assert_eq!(code, 0, "{out}");
    for leaf in &leaves {
        assert!(
            out.contains(&format!("removed cgroup {}", leaf.display())),
            "reset does not report {}:\n{out}",
            leaf.display()
        );
        assert!(!leaf.exists(), "reset left {}", leaf.display());
    }
    guard.1.clear();
}

#[test]
fn reset_leaves_a_running_container_alone() {
    require_root();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (child, leaves) = start_container();
    let pid = child.id();
    let mut guard = Guard(Some(child), leaves.clone());

    let (code, out) = reset(&[]);
    assert_eq!(code, 0, "{out}");
    for leaf in &leaves {
        assert!(
            leaf.is_dir(),
            "reset removed the running container's {}:\n{out}",
            leaf.display()
        );
        assert!(!out.contains(&leaf.display().to_string()), "{out}");
    }
    assert!(
        testkit::host::alive(pid),
        "reset killed the running runtime {pid}:\n{out}"
    );

    // The container ends normally and cleans up after itself.
    let mut child = guard.0.take().expect("the child");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM step05");
    let status = child.wait().expect("wait for step05");
    assert_eq!(
        status.code(),
        Some(143),
        "SIGTERM reaches `sleep`: exit 128+15"
    );
    assert!(leaves.iter().all(|l| !l.exists()), "step05 left {leaves:?}");
}
