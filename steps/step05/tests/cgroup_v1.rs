//! The cgroup v1 backend against the real kernel: needs root on a host with
//! v1 controllers (hybrid or legacy mode). On a cgroup v2 host (the lab VM)
//! there is no v1 hierarchy to test against: every test here is reported
//! as *ignored*, with the reason on stderr, never as passed. The v2 backend
//! is what the testkit checks exercise there (and in the qemu VM on v1 hosts).
//! Without root the tests fail, saying so.
//!
//! Run: `sudo -E cargo test -p step05 --test cgroup_v1`
//!
//! The mode is only known at run time, so this file has its own harness
//! (`libtest-mimic`): it lists the tests in `main` and marks them ignored
//! when the host has no v1 controllers.
//!
//! Each test uses its own id (`test-<pid>-<name>`), checks the kernel's
//! files and /proc from outside, and removes its cgroups even when an
//! assertion fails (a guard deletes whatever is left under that id). The
//! shared `contain-rs-workshop` parents stay, as after any normal run.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use step05::cgroup::{Cgroup, DEFAULT_ROOT, LimitsOpt, Mode, PARENT, detect, oom_message};

fn root() -> &'static Path {
    Path::new(DEFAULT_ROOT)
}

/// The tests, by name. `main` runs them, or marks them all ignored on a
/// host without cgroup v1 controllers.
const TESTS: &[(&str, fn())] = &[
    (
        "limits_are_written_the_task_joins_every_hierarchy_and_removal_leaves_nothing",
        limits_are_written_the_task_joins_every_hierarchy_and_removal_leaves_nothing,
    ),
    (
        "a_command_over_its_memory_limit_is_oom_killed_and_counted",
        a_command_over_its_memory_limit_is_oom_killed_and_counted,
    ),
    (
        "the_pids_limit_stops_forks_and_remove_kills_what_is_left",
        the_pids_limit_stops_forks_and_remove_kills_what_is_left,
    ),
    (
        "a_cpu_quota_throttles_a_busy_loop",
        a_cpu_quota_throttles_a_busy_loop,
    ),
    (
        "a_stale_cgroup_with_the_same_id_is_killed_and_replaced",
        a_stale_cgroup_with_the_same_id_is_killed_and_replaced,
    ),
    (
        "two_containers_at_once_do_not_collide",
        two_containers_at_once_do_not_collide,
    ),
    (
        "v2_backend_on_the_hybrid_hosts_unified_mount",
        v2_backend_on_the_hybrid_hosts_unified_mount,
    ),
];

fn main() -> std::process::ExitCode {
    let mut args = libtest_mimic::Arguments::from_args();
    // One test calls step02's clone3, which refuses to copy a process that
    // has other threads (the copy would hold their locks): so the tests run
    // one after the other, on the main thread, as libtest-mimic does with 1.
    args.test_threads = Some(1);
    // Where this host's mode rules the tests out, say why, once.
    let not_here = match detect(root()) {
        Ok(Mode::Hybrid | Mode::V1) => None,
        Ok(mode) => Some(format!(
            "this host is {mode}: it has no v1 controllers to test the v1 backend against"
        )),
        // Without root the mode may still be readable; when it is not,
        // run the tests, which then fail naming the cause.
        Err(_) => None,
    };
    if let Some(why) = &not_here {
        eprintln!(
            "cgroup_v1: {} tests ignored: {why} (they run on v1 and hybrid hosts)",
            TESTS.len()
        );
    }
    let trials = TESTS
        .iter()
        .map(|&(name, test)| {
            libtest_mimic::Trial::test(name, move || {
                test();
                Ok(())
            })
            .with_ignored_flag(not_here.is_some())
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

/// Fails (does not skip) unless this can run here; `main` has already
/// ignored every test on a host without v1 controllers.
fn require_v1_host() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root to create cgroups: run `sudo -E cargo test -p step05 --test cgroup_v1`"
    );
    let mode = detect(root()).expect("detect the cgroup mode");
    assert!(
        matches!(mode, Mode::Hybrid | Mode::V1),
        "this test checks the cgroup v1 backend, but this host is {mode}"
    );
}

/// Whatever a test leaves under its id in any hierarchy is killed and
/// removed when the guard drops, also when the test panicked.
struct Guard {
    id: String,
}

impl Guard {
    fn new(name: &str) -> Guard {
        Guard {
            id: format!("test-{}-{name}", std::process::id()),
        }
    }

    /// Every directory this id could have: `<root>/<hierarchy>/PARENT/<id>`.
    fn leaves(&self) -> Vec<PathBuf> {
        std::fs::read_dir(root())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path().join(PARENT).join(&self.id))
            .filter(|p| p.is_dir())
            .collect()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for leaf in self.leaves() {
            for _ in 0..100 {
                let procs = std::fs::read_to_string(leaf.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.parse().ok()) {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
                if std::fs::remove_dir(&leaf).is_ok() || !leaf.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {path:?}: {e}"))
        .trim_end()
        .to_owned()
}

/// A `sh -c SCRIPT` that waits for a line on stdin before it starts, so the
/// test can put it into the cgroup first (as the runtime does before exec).
struct Shell {
    child: Child,
    // A file, not a pipe: background children keep a pipe open for long.
    stderr: tempfile::NamedTempFile,
}

impl Shell {
    fn start(script: &str) -> Shell {
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("read go; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr.reopen().unwrap()))
            .spawn()
            .expect("spawn sh");
        Shell { child, stderr }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    fn go(&mut self) {
        let mut stdin = self.child.stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
    }

    /// Waits at most 20 s; returns (exit status, stderr).
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the command did not end in 20 s");
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = std::fs::read_to_string(self.stderr.path()).unwrap();
        (status, stderr)
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn limits_are_written_the_task_joins_every_hierarchy_and_removal_leaves_nothing() {
    require_v1_host();
    let guard = Guard::new("limits");
    let limits = LimitsOpt {
        memory: Some(32 << 20),
        cpus: Some(0.5),
        pids: Some(10),
    };
    let cg = Cgroup::create(root(), &guard.id, &limits).unwrap();
    let paths = cg.paths();
    let leaf_in = |controller: &str| -> PathBuf {
        paths
            .iter()
            .find(|p| {
                let hierarchy = p.parent().unwrap().parent().unwrap();
                let name = hierarchy.file_name().unwrap().to_str().unwrap();
                name.split(',').any(|c| c == controller)
            })
            .unwrap_or_else(|| panic!("no leaf for {controller} in {paths:?}"))
            .clone()
    };
    for controller in ["memory", "cpu", "cpuacct", "pids"] {
        assert!(leaf_in(controller).is_dir(), "{controller}");
    }
    let memory = leaf_in("memory");
    assert_eq!(read(&memory.join("memory.limit_in_bytes")), "33554432");
    if memory.join("memory.memsw.limit_in_bytes").exists() {
        assert_eq!(
            read(&memory.join("memory.memsw.limit_in_bytes")),
            "33554432"
        );
    }
    let cpu = leaf_in("cpu");
    assert_eq!(read(&cpu.join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read(&cpu.join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(&leaf_in("pids").join("pids.max")), "10");
    assert!(cg.clone_into_fd().is_none());

    let mut sleeper = Shell::start("sleep 1");
    cg.add_task(sleeper.pid()).unwrap();
    // From outside: the kernel's own view of where the process is.
    let membership = read(Path::new(&format!("/proc/{}/cgroup", sleeper.pid())));
    for controller in ["memory", "cpu", "cpuacct", "pids"] {
        let line = membership
            .lines()
            .find(|l| {
                l.split(':')
                    .nth(1)
                    .unwrap()
                    .split(',')
                    .any(|c| c == controller)
            })
            .unwrap_or_else(|| panic!("no {controller} line in {membership}"));
        assert!(
            line.ends_with(&format!(":/{PARENT}/{}", guard.id)),
            "{controller}: {line}"
        );
    }
    assert_eq!(
        read(&memory.join("cgroup.procs")),
        sleeper.pid().to_string()
    );
    sleeper.go();
    let (status, _) = sleeper.finish();
    assert_eq!(status.code(), Some(0));
    assert_eq!(cg.oom_kills().unwrap(), 0);

    cg.remove().unwrap();
    for path in &paths {
        assert!(!path.exists(), "{path:?} is removed");
    }
    assert!(guard.leaves().is_empty());
}

fn a_command_over_its_memory_limit_is_oom_killed_and_counted() {
    require_v1_host();
    let guard = Guard::new("oom");
    let limits = LimitsOpt {
        memory: Some(32 << 20),
        ..Default::default()
    };
    let cg = Cgroup::create(root(), &guard.id, &limits).unwrap();
    // The shell keeps the 256 MiB a command substitution reads in memory.
    let mut hog = Shell::start(r#"x=$(head -c 268435456 /dev/zero | tr '\0' a); echo survived"#);
    cg.add_task(hog.pid()).unwrap();
    hog.go();
    let (status, _) = hog.finish();
    assert_eq!(
        status.signal(),
        Some(9),
        "the shell dies of SIGKILL (exit 137): {status:?}"
    );
    let kills = cg.oom_kills().unwrap();
    assert!(kills >= 1, "memory.oom_control counts the kill: {kills}");
    assert_eq!(
        oom_message(cg.memory_limit(), 137),
        "container was OOM-killed: memory limit 32 MiB"
    );
    eprintln!("oom_kill = {kills}");
    cg.remove().unwrap();
    assert!(guard.leaves().is_empty());
}

fn the_pids_limit_stops_forks_and_remove_kills_what_is_left() {
    require_v1_host();
    let guard = Guard::new("pids");
    let limits = LimitsOpt {
        pids: Some(3),
        ..Default::default()
    };
    let cg = Cgroup::create(root(), &guard.id, &limits).unwrap();
    // sh plus two background sleeps are 3 tasks; the third sleep cannot fork.
    let mut forker = Shell::start("sleep 30 & sleep 30 & sleep 30 & wait");
    cg.add_task(forker.pid()).unwrap();
    forker.go();
    let (status, stderr) = forker.finish();
    assert!(!status.success(), "{status:?}");
    assert!(stderr.to_lowercase().contains("fork"), "{stderr}");
    // The two sleeps that did start are still in the cgroup: remove kills them.
    let pids = cg
        .paths()
        .into_iter()
        .find(|p| p.starts_with(root().join("pids")))
        .unwrap();
    let left: Vec<i32> = read(&pids.join("cgroup.procs"))
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    cg.remove().unwrap();
    for pid in left {
        let gone = !Path::new(&format!("/proc/{pid}")).exists()
            || read(Path::new(&format!("/proc/{pid}/stat"))).contains(") Z");
        assert!(gone, "sleep {pid} was killed");
    }
    assert!(guard.leaves().is_empty());
}

fn a_cpu_quota_throttles_a_busy_loop() {
    require_v1_host();
    let guard = Guard::new("cpu");
    let limits = LimitsOpt {
        cpus: Some(0.2),
        ..Default::default()
    };
    let cg = Cgroup::create(root(), &guard.id, &limits).unwrap();
    let mut busy = Shell::start("timeout 1 sh -c 'while :; do :; done'; true");
    cg.add_task(busy.pid()).unwrap();
    busy.go();
    busy.finish();
    let cpu = cg
        .paths()
        .into_iter()
        .find(|p| p.starts_with(root().join("cpu")) && p.join("cpu.stat").exists())
        .unwrap();
    let stat = read(&cpu.join("cpu.stat"));
    let throttled: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("nr_throttled "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no nr_throttled in {stat}"));
    assert!(
        throttled > 0,
        "a busy loop at 0.2 CPUs is throttled: {stat}"
    );
    cg.remove().unwrap();
    assert!(guard.leaves().is_empty());
}

fn a_stale_cgroup_with_the_same_id_is_killed_and_replaced() {
    require_v1_host();
    let guard = Guard::new("stale");
    let old = Cgroup::create(
        root(),
        &guard.id,
        &LimitsOpt {
            memory: Some(16 << 20),
            ..Default::default()
        },
    )
    .unwrap();
    let orphan = Shell::start("sleep 60");
    old.add_task(orphan.pid()).unwrap();
    // As if the runtime had been SIGKILLed: its cgroup was never removed.
    std::mem::forget(old);

    let new = Cgroup::create(root(), &guard.id, &LimitsOpt::default()).unwrap();
    let (status, _) = orphan.finish();
    assert_eq!(
        status.signal(),
        Some(9),
        "the old cgroup's process is killed"
    );
    let memory = new
        .paths()
        .into_iter()
        .find(|p| p.starts_with(root().join("memory")))
        .unwrap();
    assert_eq!(read(&memory.join("cgroup.procs")), "");
    assert_ne!(
        read(&memory.join("memory.limit_in_bytes")),
        "16777216",
        "a fresh cgroup, without the old limit"
    );
    new.remove().unwrap();
    assert!(guard.leaves().is_empty());
}

fn two_containers_at_once_do_not_collide() {
    require_v1_host();
    let (a_guard, b_guard) = (Guard::new("par-a"), Guard::new("par-b"));
    let limits = LimitsOpt {
        pids: Some(5),
        ..Default::default()
    };
    let a = Cgroup::create(root(), &a_guard.id, &limits).unwrap();
    let b = Cgroup::create(root(), &b_guard.id, &limits).unwrap();
    let b_paths = b.paths();
    a.remove().unwrap();
    assert!(a_guard.leaves().is_empty());
    for path in &b_paths {
        assert!(path.is_dir(), "{path:?} survives the other's removal");
    }
    b.remove().unwrap();
    assert!(b_guard.leaves().is_empty());
}

/// A hybrid host has a real (controller-less) cgroup2 at `unified/`: enough
/// to run the v2 backend's directory handling, `clone3(CLONE_INTO_CGROUP)`
/// with its descriptor, `cgroup.procs` and `cgroup.kill` against the kernel.
/// (Its limits need the controllers, which are bound to v1 here.)
fn v2_backend_on_the_hybrid_hosts_unified_mount() {
    require_v1_host();
    assert_eq!(
        detect(root()).unwrap(),
        Mode::Hybrid,
        "this test needs a hybrid host (a cgroup2 at /sys/fs/cgroup/unified)"
    );
    let unified = root().join("unified");
    assert_eq!(detect(&unified).unwrap(), Mode::V2);
    let guard = Guard::new("v2");
    let leaf = unified.join(PARENT).join(&guard.id);
    // Cleaned up by hand: Guard looks one level below the root only.
    struct RmLeaf(PathBuf);
    impl Drop for RmLeaf {
        fn drop(&mut self) {
            let _ = std::fs::write(self.0.join("cgroup.kill"), "1");
            std::thread::sleep(Duration::from_millis(50));
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _rm = RmLeaf(leaf.clone());

    // memory is bound to v1 on this host, so v2 cannot offer it.
    let err = Cgroup::create(
        &unified,
        &guard.id,
        &LimitsOpt {
            memory: Some(1 << 20),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "controller 'memory' is not available in \"/sys/fs/cgroup/unified/cgroup.controllers\""
        ),
        "{err}"
    );
    assert!(!leaf.exists());

    let cg = Cgroup::create(&unified, &guard.id, &LimitsOpt::default()).unwrap();
    assert_eq!(cg.paths(), std::slice::from_ref(&leaf));
    let fd = cg.clone_into_fd().expect("v2 hands out the leaf's fd");

    // The child starts inside the cgroup: no window in which it runs outside.
    let path = std::ffi::CString::new("/bin/sleep").unwrap();
    let (arg0, arg1) = (
        std::ffi::CString::new("sleep").unwrap(),
        std::ffi::CString::new("30").unwrap(),
    );
    let argv = [arg0.as_ptr(), arg1.as_ptr(), std::ptr::null()];
    // step02's own clone3, with the leaf's fd: CLONE_INTO_CGROUP.
    let into = step05::clone_into_cgroup::IntoCgroup(fd);
    let forked = step05::pid::clone3(nix::sched::CloneFlags::empty(), into)
        .expect("clone3(CLONE_INTO_CGROUP)");
    let Some(pid) = forked else {
        // SAFETY: the forked child only calls execv and _exit, both
        // async-signal-safe, on memory prepared before the clone.
        unsafe {
            libc::execv(path.as_ptr(), argv.as_ptr());
            libc::_exit(127);
        }
    };
    let membership = read(Path::new(&format!("/proc/{pid}/cgroup")));
    assert!(
        membership
            .lines()
            .any(|l| l == format!("0::/{PARENT}/{}", guard.id)),
        "{membership}"
    );
    assert_eq!(read(&leaf.join("cgroup.procs")), pid.to_string());

    // And the add_task way, for kernels without CLONE_INTO_CGROUP.
    let second = Shell::start("sleep 30");
    cg.add_task(second.pid()).unwrap();
    assert!(
        read(&leaf.join("cgroup.procs")).contains(&second.pid().to_string()),
        "add_task moved it"
    );

    // remove() kills both (cgroup.kill on this kernel) and removes the leaf.
    cg.remove().unwrap();
    assert!(!leaf.exists());
    let status = nix::sys::wait::waitpid(pid, None).unwrap();
    assert_eq!(
        status,
        nix::sys::wait::WaitStatus::Signaled(pid, Signal::SIGKILL, false)
    );
    let (status, _) = second.finish();
    assert_eq!(status.signal(), Some(9));
}
