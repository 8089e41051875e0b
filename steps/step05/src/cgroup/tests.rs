//! Unit tests without root: the cgroup code runs its real file operations
//! against fake trees in temp directories (see `fake.rs`): both versions,
//! detection, stale leaves and reset.

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command};

use nix::sys::statfs::FsType;
use nix::unistd::Pid;

use super::fake::FakeTree;
use super::*;

fn limits(memory: Option<u64>, cpus: Option<f64>, pids: Option<u64>) -> LimitsOpt {
    LimitsOpt { memory, cpus, pids }
}

fn all_limits() -> LimitsOpt {
    limits(Some(64 << 20), Some(0.5), Some(10))
}

fn w(path: &str, value: &str) -> (String, String) {
    (path.to_owned(), value.to_owned())
}

/// A child process of the test to put into fake cgroups; killed and reaped
/// when dropped, whatever the test did.
struct Sleeper(Child);

impl Sleeper {
    fn start() -> Sleeper {
        Sleeper(
            Command::new("sleep")
                .arg("60")
                .spawn()
                .expect("spawn sleep"),
        )
    }
    fn pid(&self) -> Pid {
        Pid::from_raw(self.0.id() as i32)
    }
    /// Waits for it; true if it died of SIGKILL.
    fn was_killed(&mut self) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status.signal() == Some(9);
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Sleeper {
    /// Is it still running a moment later?
    fn survives(&mut self) -> bool {
        std::thread::sleep(std::time::Duration::from_millis(100));
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---- cgroup v2 ----

#[test]
fn v2_enables_controllers_on_the_way_down_then_writes_limits() {
    let tree = FakeTree::v2("cpuset cpu io memory hugetlb pids rdma", true, true);
    let cg = Cgroup::create_with_mode(tree.root(), Mode::V2, "ws-1", &all_limits()).unwrap();
    assert_eq!(
        tree.writes(),
        [
            w("cgroup.subtree_control", "+memory"),
            w("cgroup.subtree_control", "+cpu"),
            w("cgroup.subtree_control", "+pids"),
            w("contain-rs-workshop/cgroup.subtree_control", "+memory"),
            w("contain-rs-workshop/cgroup.subtree_control", "+cpu"),
            w("contain-rs-workshop/cgroup.subtree_control", "+pids"),
            w("contain-rs-workshop/ws-1/memory.max", "67108864"),
            w("contain-rs-workshop/ws-1/memory.swap.max", "0"),
            w("contain-rs-workshop/ws-1/cpu.max", "50000 100000"),
            w("contain-rs-workshop/ws-1/pids.max", "10"),
        ]
    );
    assert_eq!(tree.get("cgroup.subtree_control"), "cpu memory pids");
    assert_eq!(
        tree.get("contain-rs-workshop/cgroup.subtree_control"),
        "cpu memory pids"
    );
    assert_eq!(tree.get("contain-rs-workshop/ws-1/memory.max"), "67108864");
    assert_eq!(tree.get("contain-rs-workshop/ws-1/memory.swap.max"), "0");
    assert_eq!(tree.get("contain-rs-workshop/ws-1/cpu.max"), "50000 100000");
    assert_eq!(tree.get("contain-rs-workshop/ws-1/pids.max"), "10");
    // The parent itself gets no limits and no processes.
    assert_eq!(tree.get("contain-rs-workshop/cgroup.procs"), "");

    let leaf = tree.root().join("contain-rs-workshop/ws-1");
    assert_eq!(cg.paths(), std::slice::from_ref(&leaf));
    assert_eq!(cg.mode(), Mode::V2);
    assert_eq!(cg.memory_limit(), Some(64 << 20));
    // The descriptor for CLONE_INTO_CGROUP is the leaf directory itself.
    let fd = cg.clone_into_fd().expect("v2 hands out a directory fd");
    let fd_meta = std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
    assert_eq!(fd_meta.ino(), std::fs::metadata(&leaf).unwrap().ino());

    cg.remove().unwrap();
    assert!(!leaf.exists(), "the leaf is removed");
    assert!(
        tree.exists("contain-rs-workshop"),
        "the shared parent stays"
    );
}

#[test]
fn v2_writes_only_what_is_missing_and_only_the_limits_asked_for() {
    // Already enabled at the root (systemd does that): no write there.
    let tree = FakeTree::v2("cpuset cpu io memory pids", false, true);
    tree.put("cgroup.subtree_control", "cpu io memory pids");
    let cg = Cgroup::create_with_mode(tree.root(), Mode::V2, "ws-2", &limits(None, None, Some(5)))
        .unwrap();
    assert_eq!(
        tree.writes(),
        [
            w("contain-rs-workshop/cgroup.subtree_control", "+memory"),
            w("contain-rs-workshop/cgroup.subtree_control", "+cpu"),
            w("contain-rs-workshop/cgroup.subtree_control", "+pids"),
            w("contain-rs-workshop/ws-2/pids.max", "5"),
        ]
    );
    // No --memory, no --cpus: those files keep the kernel's defaults.
    assert_eq!(tree.get("contain-rs-workshop/ws-2/memory.max"), "max");
    assert_eq!(tree.get("contain-rs-workshop/ws-2/cpu.max"), "max 100000");
    cg.remove().unwrap();

    // A second run finds everything enabled: it only makes its leaf.
    tree.clear_writes();
    let cg =
        Cgroup::create_with_mode(tree.root(), Mode::V2, "ws-3", &LimitsOpt::default()).unwrap();
    assert_eq!(tree.writes(), []);
    assert!(
        tree.exists("contain-rs-workshop/ws-3"),
        "always a cgroup, even without limits"
    );
    cg.remove().unwrap();
}

#[test]
fn v2_without_swap_accounting_writes_no_swap_max() {
    let tree = FakeTree::v2("cpu memory pids", false, true);
    let cg = Cgroup::create_with_mode(
        tree.root(),
        Mode::V2,
        "ws-1",
        &limits(Some(1 << 30), None, None),
    )
    .unwrap();
    let writes = tree.writes();
    assert!(writes.contains(&w("contain-rs-workshop/ws-1/memory.max", "1073741824")));
    assert!(
        !writes.iter().any(|(p, _)| p.ends_with("memory.swap.max")),
        "{writes:?}"
    );
    cg.remove().unwrap();
}

#[test]
fn v2_missing_controller_is_a_clear_error_and_leaves_nothing() {
    let tree = FakeTree::v2("cpu io pids", true, true);
    let err = Cgroup::create_with_mode(tree.root(), Mode::V2, "ws-1", &all_limits()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("controller 'memory' is not available in ")
            && text.contains("cgroup.controllers")
            && text.contains("cgroup_enable=memory"),
        "{text}"
    );
    assert_eq!(tree.writes(), []);
    assert!(!tree.exists("contain-rs-workshop"));

    // Not asked for: skipped, and there is nothing to report OOM from.
    let cg = Cgroup::create_with_mode(
        tree.root(),
        Mode::V2,
        "ws-1",
        &limits(None, Some(1.0), None),
    )
    .unwrap();
    assert_eq!(
        tree.get("contain-rs-workshop/cgroup.subtree_control"),
        "cpu pids"
    );
    assert_eq!(cg.oom_kills().unwrap(), 0);
    cg.remove().unwrap();
}

#[test]
fn v2_parent_with_processes_breaks_the_no_internal_process_rule() {
    let tree = FakeTree::v2("cpu memory pids", true, true);
    tree.put("cgroup.subtree_control", "cpu memory pids");
    tree.make_cgroup("contain-rs-workshop");
    let mut intruder = Sleeper::start();
    tree.put(
        "contain-rs-workshop/cgroup.procs",
        &intruder.pid().to_string(),
    );

    let err = Cgroup::create_with_mode(tree.root(), Mode::V2, "ws-1", &all_limits()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("contain-rs-workshop/cgroup.subtree_control\", \"+memory\") failed: EBUSY")
            && text.contains("no-internal-process rule"),
        "{text}"
    );
    assert!(!tree.exists("contain-rs-workshop/ws-1"));
    assert!(intruder.survives(), "not ours to kill");
}

#[test]
fn v2_add_task_then_remove_kills_leftovers_with_cgroup_kill() {
    let tree = FakeTree::v2("cpu memory pids", true, true);
    let cg = Cgroup::create_with_mode(tree.root(), Mode::V2, "ws-1", &all_limits()).unwrap();
    let mut child = Sleeper::start();
    cg.add_task(child.pid()).unwrap();
    assert_eq!(
        tree.get("contain-rs-workshop/ws-1/cgroup.procs"),
        child.pid().to_string()
    );
    tree.clear_writes();
    cg.remove().unwrap();
    assert!(
        tree.writes()
            .contains(&w("contain-rs-workshop/ws-1/cgroup.kill", "1"))
    );
    assert!(child.was_killed());
    assert!(!tree.exists("contain-rs-workshop/ws-1"));
}

#[test]
fn v2_without_cgroup_kill_remove_kills_each_pid() {
    let tree = FakeTree::v2("cpu memory pids", true, false);
    let cg = Cgroup::create_with_mode(tree.root(), Mode::V2, "ws-1", &all_limits()).unwrap();
    let mut child = Sleeper::start();
    cg.add_task(child.pid()).unwrap();
    tree.clear_writes();
    cg.remove().unwrap();
    assert!(
        !tree
            .writes()
            .iter()
            .any(|(p, _)| p.ends_with("cgroup.kill"))
    );
    assert!(child.was_killed());
    assert!(!tree.exists("contain-rs-workshop/ws-1"));
}

#[test]
fn v2_reads_oom_kills_from_memory_events() {
    let tree = FakeTree::v2("cpu memory pids", true, true);
    let cg = Cgroup::create_with_mode(tree.root(), Mode::V2, "ws-1", &all_limits()).unwrap();
    assert_eq!(cg.oom_kills().unwrap(), 0);
    tree.put(
        "contain-rs-workshop/ws-1/memory.events",
        "low 0\nhigh 0\nmax 57\noom 2\noom_kill 2\noom_group_kill 0\n",
    );
    assert_eq!(cg.oom_kills().unwrap(), 2);
    cg.remove().unwrap();
}

#[test]
fn v2_stale_leaf_of_a_killed_run_is_emptied_and_made_afresh() {
    let tree = FakeTree::v2("cpu memory pids", true, true);
    let old = Cgroup::create_with_mode(tree.root(), Mode::V2, "ws-9", &all_limits()).unwrap();
    let mut orphan = Sleeper::start();
    old.add_task(orphan.pid()).unwrap();
    // The runtime was SIGKILLed: nothing removed its cgroup.
    std::mem::forget(old);

    let new = Cgroup::create_with_mode(
        tree.root(),
        Mode::V2,
        "ws-9",
        &limits(Some(32 << 20), None, None),
    )
    .unwrap();
    assert!(orphan.was_killed(), "the old cgroup's process is killed");
    assert_eq!(tree.get("contain-rs-workshop/ws-9/cgroup.procs"), "");
    assert_eq!(tree.get("contain-rs-workshop/ws-9/memory.max"), "33554432");
    assert_eq!(
        tree.get("contain-rs-workshop/ws-9/cpu.max"),
        "max 100000",
        "old limits gone"
    );
    new.remove().unwrap();
}

#[test]
fn v2_refused_limit_removes_the_new_cgroup() {
    let tree = FakeTree::v2("cpu memory pids", true, true);
    tree.omit("cpu.max");
    let err = Cgroup::create_with_mode(tree.root(), Mode::V2, "ws-1", &all_limits()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("ws-1/cpu.max\", \"50000 100000\") failed: ENOENT")
            && text.contains("does not offer cpu.max"),
        "{text}"
    );
    assert!(
        !tree.exists("contain-rs-workshop/ws-1"),
        "dropped, hence removed"
    );
    assert!(tree.exists("contain-rs-workshop"));
}

#[test]
fn dropping_without_remove_still_removes() {
    let tree = FakeTree::v2("cpu memory pids", true, true);
    let cg = Cgroup::create_with_mode(tree.root(), Mode::V2, "ws-1", &all_limits()).unwrap();
    assert!(tree.exists("contain-rs-workshop/ws-1"));
    drop(cg);
    assert!(!tree.exists("contain-rs-workshop/ws-1"));
}

// ---- cgroup v1 ----

const HYBRID_HOST: [&str; 10] = [
    "blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids", "systemd",
    "unified",
];

#[test]
fn v1_makes_a_leaf_per_hierarchy_and_writes_limits() {
    let tree = FakeTree::v1(&HYBRID_HOST, true);
    let cg = Cgroup::create_with_mode(tree.root(), Mode::Hybrid, "ws-7", &all_limits()).unwrap();
    assert_eq!(
        tree.writes(),
        [
            w(
                "memory/contain-rs-workshop/ws-7/memory.limit_in_bytes",
                "67108864"
            ),
            w(
                "memory/contain-rs-workshop/ws-7/memory.memsw.limit_in_bytes",
                "67108864"
            ),
            w("cpu/contain-rs-workshop/ws-7/cpu.cfs_period_us", "100000"),
            w("cpu/contain-rs-workshop/ws-7/cpu.cfs_quota_us", "50000"),
            w("pids/contain-rs-workshop/ws-7/pids.max", "10"),
        ]
    );
    let root = tree.root();
    assert_eq!(
        cg.paths(),
        ["memory", "cpu", "cpuacct", "pids", "devices"]
            .map(|h| root.join(h).join("contain-rs-workshop/ws-7"))
    );
    for untouched in ["blkio", "cpuset", "freezer", "systemd", "unified"] {
        assert!(
            !tree.exists(&format!("{untouched}/contain-rs-workshop")),
            "{untouched}"
        );
    }
    assert!(cg.clone_into_fd().is_none(), "v1 has no CLONE_INTO_CGROUP");

    let mut child = Sleeper::start();
    tree.clear_writes();
    cg.add_task(child.pid()).unwrap();
    let pid = child.pid().to_string();
    assert_eq!(
        tree.writes(),
        ["memory", "cpu", "cpuacct", "pids", "devices"]
            .map(|h| w(&format!("{h}/contain-rs-workshop/ws-7/cgroup.procs"), &pid))
    );
    cg.remove().unwrap();
    assert!(child.was_killed());
    for h in ["memory", "cpu", "cpuacct", "pids", "devices"] {
        assert!(
            !tree.exists(&format!("{h}/contain-rs-workshop/ws-7")),
            "{h}"
        );
        assert!(
            tree.exists(&format!("{h}/contain-rs-workshop")),
            "{h}: parent stays"
        );
    }
}

#[test]
fn v1_co_mounted_cpu_cpuacct_is_used_once_even_through_symlinks() {
    let tree = FakeTree::v1(&["cpu,cpuacct", "memory", "net_cls,net_prio", "pids"], true);
    tree.symlink("cpu", "cpu,cpuacct");
    tree.symlink("cpuacct", "cpu,cpuacct");
    let cg = Cgroup::create_with_mode(tree.root(), Mode::V1, "ws-1", &all_limits()).unwrap();
    let root = tree.root();
    assert_eq!(
        cg.paths(),
        ["memory", "cpu,cpuacct", "pids"].map(|h| root.join(h).join("contain-rs-workshop/ws-1"))
    );
    assert_eq!(
        tree.get("cpu,cpuacct/contain-rs-workshop/ws-1/cpu.cfs_quota_us"),
        "50000"
    );
    cg.remove().unwrap();
    assert!(!tree.exists("cpu,cpuacct/contain-rs-workshop/ws-1"));
}

#[test]
fn v1_without_swap_accounting_writes_no_memsw() {
    let tree = FakeTree::v1(&["memory", "cpu", "pids"], false);
    let cg = Cgroup::create_with_mode(
        tree.root(),
        Mode::V1,
        "ws-1",
        &limits(Some(32 << 20), None, None),
    )
    .unwrap();
    assert_eq!(
        tree.writes(),
        [w(
            "memory/contain-rs-workshop/ws-1/memory.limit_in_bytes",
            "33554432"
        )]
    );
    cg.remove().unwrap();
}

#[test]
fn v1_missing_hierarchy_is_a_clear_error_and_leaves_nothing() {
    let tree = FakeTree::v1(&["memory", "cpu", "cpuacct", "systemd"], true);
    let err =
        Cgroup::create_with_mode(tree.root(), Mode::Hybrid, "ws-1", &all_limits()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("controller 'pids' has no cgroup v1 hierarchy under ")
            && text.contains("mount -t cgroup -o pids"),
        "{text}"
    );
    assert!(!tree.exists("memory/contain-rs-workshop"));
    // Without --pids the same host is fine.
    let cg = Cgroup::create_with_mode(
        tree.root(),
        Mode::Hybrid,
        "ws-1",
        &limits(Some(1 << 20), None, None),
    )
    .unwrap();
    assert_eq!(cg.paths().len(), 3);
    cg.remove().unwrap();
}

#[test]
fn v1_ignores_directories_that_are_no_mounted_hierarchy() {
    let tree = FakeTree::v1(&["memory", "pids"], true);
    // A directory named "cpu" without cgroup.procs: nothing mounted there.
    std::fs::create_dir(tree.root().join("cpu")).unwrap();
    let err = Cgroup::create_with_mode(tree.root(), Mode::V1, "ws-1", &all_limits()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("controller 'cpu' has no cgroup v1 hierarchy")
    );
    assert!(!tree.exists("cpu/contain-rs-workshop"));
}

#[test]
fn v1_refused_limit_removes_every_leaf() {
    let tree = FakeTree::v1(&HYBRID_HOST, true);
    tree.omit("cpu.cfs_quota_us");
    let err =
        Cgroup::create_with_mode(tree.root(), Mode::Hybrid, "ws-1", &all_limits()).unwrap_err();
    assert!(
        err.to_string()
            .contains("cpu.cfs_quota_us\", \"50000\") failed: ENOENT"),
        "{err}"
    );
    for h in ["memory", "cpu", "cpuacct", "pids"] {
        assert!(
            !tree.exists(&format!("{h}/contain-rs-workshop/ws-1")),
            "{h}"
        );
    }
}

#[test]
fn v1_reads_oom_kills_from_memory_oom_control() {
    let tree = FakeTree::v1(&HYBRID_HOST, true);
    let cg = Cgroup::create_with_mode(tree.root(), Mode::Hybrid, "ws-1", &all_limits()).unwrap();
    assert_eq!(cg.oom_kills().unwrap(), 0);
    tree.put(
        "memory/contain-rs-workshop/ws-1/memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    );
    assert_eq!(cg.oom_kills().unwrap(), 1);
    cg.remove().unwrap();
}

#[test]
fn v1_stale_leaves_are_emptied_and_made_afresh() {
    let tree = FakeTree::v1(&HYBRID_HOST, true);
    let old = Cgroup::create_with_mode(tree.root(), Mode::Hybrid, "ws-5", &all_limits()).unwrap();
    let mut orphan = Sleeper::start();
    old.add_task(orphan.pid()).unwrap();
    std::mem::forget(old);
    let new =
        Cgroup::create_with_mode(tree.root(), Mode::Hybrid, "ws-5", &LimitsOpt::default()).unwrap();
    assert!(orphan.was_killed());
    assert_eq!(
        tree.get("memory/contain-rs-workshop/ws-5/memory.limit_in_bytes"),
        "9223372036854771712",
        "a fresh cgroup, without the old limit"
    );
    new.remove().unwrap();
}

// ---- parsing, detection, ids ----

#[test]
fn oom_kill_lines_are_parsed() {
    let f = Path::new("memory.events");
    let v2 = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 3\noom_group_kill 0\n";
    assert_eq!(parse_oom_kill(f, v2).unwrap(), 3);
    let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 17\n";
    assert_eq!(parse_oom_kill(f, v1).unwrap(), 17);
    // Before Linux 4.13 there was no oom_kill line.
    assert_eq!(
        parse_oom_kill(f, "oom_kill_disable 0\nunder_oom 0\n").unwrap(),
        0
    );
    // oom_group_kill is another key, not the one counted.
    assert_eq!(parse_oom_kill(f, "oom_group_kill 5\n").unwrap(), 0);
    let err = parse_oom_kill(f, "oom_kill lots\n").unwrap_err();
    assert!(err.to_string().contains("unexpected contents"), "{err}");
}

#[test]
fn mode_follows_the_filesystem_types() {
    use FsKind::*;
    assert_eq!(mode_from_fs(Cgroup2, None), Some(Mode::V2));
    assert_eq!(mode_from_fs(Tmpfs, Some(Cgroup2)), Some(Mode::Hybrid));
    assert_eq!(mode_from_fs(Tmpfs, Some(Tmpfs)), Some(Mode::V1));
    assert_eq!(mode_from_fs(Tmpfs, None), Some(Mode::V1));
    assert_eq!(mode_from_fs(Cgroup1, None), None);
    assert_eq!(mode_from_fs(Other(FsType(0xef53)), None), None);
    assert_eq!(Mode::V2.to_string(), "cgroup v2 (unified)");
    assert!(Mode::Hybrid.to_string().starts_with("hybrid"));
}

#[test]
fn detect_refuses_a_root_that_is_no_cgroup_filesystem() {
    // /proc is procfs on every Linux: neither cgroup2 nor tmpfs.
    let err = detect(Path::new("/proc")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("no cgroup filesystem at \"/proc\" (statfs found {f_type=0x9fa0})")
            && text.contains("mount -t cgroup2"),
        "{text}"
    );
    let err = detect(Path::new("/no/such/dir")).unwrap_err();
    assert!(err.to_string().contains("ENOENT"), "{err}");
}

/// The filesystem type /proc/self/mountinfo gives for the mount at `point`.
fn mountinfo_type(point: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPER"
    text.lines()
        .filter(|l| l.split_whitespace().nth(4) == Some(point))
        .filter_map(|l| {
            l.split(" - ")
                .nth(1)?
                .split_whitespace()
                .next()
                .map(str::to_owned)
        })
        .next_back()
}

#[test]
fn detect_agrees_with_mountinfo_on_this_host() {
    // statfs and the mount table are two independent views of the same mounts.
    let expected = match mountinfo_type(DEFAULT_ROOT).as_deref() {
        Some("cgroup2") => Mode::V2,
        Some("tmpfs") if mountinfo_type("/sys/fs/cgroup/unified").as_deref() == Some("cgroup2") => {
            Mode::Hybrid
        }
        Some("tmpfs") => Mode::V1,
        other => panic!("this host mounts {other:?} at /sys/fs/cgroup: no cgroups to test against"),
    };
    assert_eq!(detect(Path::new(DEFAULT_ROOT)).unwrap(), expected);
}

#[test]
fn ids_must_be_one_plain_name() {
    let tree = FakeTree::v2("cpu memory pids", true, true);
    for bad in ["", ".", "..", "a/b", "../../etc", "a\0b"] {
        let err = Cgroup::create_with_mode(tree.root(), Mode::V2, bad, &all_limits()).unwrap_err();
        assert!(
            err.to_string().contains("cannot name a cgroup"),
            "{bad:?}: {err}"
        );
    }
    assert_eq!(tree.writes(), []);
}

#[test]
fn limits_are_checked_before_anything_is_created() {
    let tree = FakeTree::v2("cpu memory pids", true, true);
    let err = Cgroup::create_with_mode(
        tree.root(),
        Mode::V2,
        "ws-1",
        &limits(None, Some(-1.0), None),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("--cpus: "), "{err}");
    assert!(!tree.exists("contain-rs-workshop"));
}

// ---- available controllers and reset ----

#[test]
fn available_controllers_per_mode() {
    let v2 = FakeTree::v2("cpuset cpu io memory pids", true, true);
    assert_eq!(
        available_controllers(v2.root(), Mode::V2).unwrap(),
        ["cpuset", "cpu", "io", "memory", "pids"]
    );
    let v1 = FakeTree::v1(
        &["cpu,cpuacct", "memory", "pids", "systemd", "unified"],
        true,
    );
    v1.symlink("cpu", "cpu,cpuacct");
    assert_eq!(
        available_controllers(v1.root(), Mode::Hybrid).unwrap(),
        ["cpu", "cpuacct", "memory", "pids"]
    );
}

#[test]
fn reset_removes_our_leaves_and_parents_in_every_hierarchy_and_nothing_else() {
    let tree = FakeTree::v1(&HYBRID_HOST, true);
    for id in ["ws-1", "ws-2"] {
        std::mem::forget(
            Cgroup::create_with_mode(tree.root(), Mode::Hybrid, id, &all_limits()).unwrap(),
        );
    }
    let mut orphan = Sleeper::start();
    tree.put(
        "memory/contain-rs-workshop/ws-2/cgroup.procs",
        &orphan.pid().to_string(),
    );
    // Other people's cgroups, one even with our name deeper down.
    tree.make_cgroup("memory/process_api/abc");
    tree.make_cgroup("cpu/user.slice/contain-rs-workshop");
    tree.make_cgroup("freezer/other");

    let removed = reset_with_mode(tree.root(), Mode::Hybrid).unwrap();
    let mut expected = Vec::new();
    for h in ["cpu", "cpuacct", "memory", "pids", "devices"] {
        let parent = tree.root().join(h).join(PARENT);
        expected.extend([parent.join("ws-1"), parent.join("ws-2"), parent]);
    }
    let mut got = removed.clone();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    assert!(orphan.was_killed());
    for h in ["cpu", "cpuacct", "memory", "pids", "devices"] {
        assert!(!tree.exists(&format!("{h}/contain-rs-workshop")), "{h}");
    }
    assert!(tree.exists("memory/process_api/abc"));
    assert!(tree.exists("cpu/user.slice/contain-rs-workshop"));
    assert!(tree.exists("freezer/other"));
    // Nothing left: a second reset does nothing.
    assert_eq!(
        reset_with_mode(tree.root(), Mode::Hybrid).unwrap(),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn reset_on_v2_removes_only_the_workshop_parent() {
    let tree = FakeTree::v2("cpu memory pids", true, true);
    std::mem::forget(
        Cgroup::create_with_mode(tree.root(), Mode::V2, "ws-1", &all_limits()).unwrap(),
    );
    tree.make_cgroup("system.slice");
    let removed = reset_with_mode(tree.root(), Mode::V2).unwrap();
    let parent = tree.root().join(PARENT);
    assert_eq!(removed, [parent.join("ws-1"), parent.clone()]);
    assert!(!parent.exists());
    assert!(tree.exists("system.slice"));
    // The controllers stay enabled at the root: other cgroups may use them.
    assert_eq!(tree.get("cgroup.subtree_control"), "cpu memory pids");
}
