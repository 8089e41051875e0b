//! Your cgroup files, tested without root on a fake cgroup tree: a temp
//! directory shaped like `/sys/fs/cgroup`, in which step05's fake kernel
//! (`step05::cgroup::fake`, the `fake-cgroupfs` feature) does what cgroupfs
//! does that plain files do not: `mkdir` fills a cgroup with the files of
//! the controllers its parent enabled, `cgroup.subtree_control` takes
//! `+name` only for a controller the cgroup offers, `cgroup.procs` moves a
//! process, `rmdir` refuses while processes remain. The same tests run
//! against the solution. (The black-box checks then run on this host's
//! real cgroups.)

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use step05::cgroup::fake::FakeTree;
use step05::cgroup::{LimitsOpt, Mode, PARENT};

use crate::limits::{Cgroup, v1_files, v2_files};

/// 64 MiB, half a CPU, 10 processes.
fn limits() -> LimitsOpt {
    LimitsOpt {
        memory: Some(64 << 20),
        cpus: Some(0.5),
        pids: Some(10),
    }
}

/// A `sleep` of the test's own to put into the fake cgroup; killed and
/// reaped when dropped.
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

    /// Waits (5 s at most) for it to end; true if SIGKILL ended it.
    fn was_killed(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status.signal() == Some(9);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The controllers a `cgroup.subtree_control` of the fake tree lists, sorted.
fn enabled(tree: &FakeTree, rel: &str) -> Vec<String> {
    let mut on: Vec<String> = tree
        .get(rel)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    on.sort();
    on
}

#[test]
fn v2_files_name_each_limit_in_kernel_format() {
    let files = v2_files(&limits());
    let want = [
        ("memory.max", "67108864"),
        ("memory.swap.max", "0"),
        ("cpu.max", "50000 100000"),
        ("pids.max", "10"),
    ];
    for (file, value) in want {
        assert!(
            files.iter().any(|(f, v)| *f == file && v == value),
            "v2_files should write {value:?} to {file}; it gives {files:?}"
        );
    }
    assert_eq!(files.len(), want.len(), "unexpected files in {files:?}");
    assert!(
        v2_files(&LimitsOpt::default()).is_empty(),
        "no flags, no limit files"
    );
}

#[test]
fn v1_files_put_memsw_after_the_memory_limit() {
    let files = v1_files(&limits());
    let pos = |file: &str| files.iter().position(|(_, f, _)| *f == file);
    let (Some(mem), Some(memsw)) = (
        pos("memory.limit_in_bytes"),
        pos("memory.memsw.limit_in_bytes"),
    ) else {
        panic!("v1_files should write memory.limit_in_bytes and memsw: {files:?}");
    };
    assert!(mem < memsw, "memsw may never be below the limit: {files:?}");
    assert!(files.contains(&("cpu", "cpu.cfs_quota_us", "50000".to_owned())));
    assert!(files.contains(&("pids", "pids.max", "10".to_owned())));
}

#[test]
fn v2_create_enables_controllers_and_writes_limits() {
    let tree = FakeTree::v2("cpuset cpu io memory hugetlb pids rdma", true, true);
    let cg = Cgroup::create_with_mode(tree.root(), Mode::V2, "ws-1", &limits())
        .expect("create on a fake v2 tree");
    for dir in ["", PARENT] {
        let file = format!("{dir}/cgroup.subtree_control");
        assert_eq!(
            enabled(&tree, file.trim_start_matches('/')),
            ["cpu", "memory", "pids"],
            "{file} should enable memory, cpu and pids (and no other)"
        );
    }
    let leaf = format!("{PARENT}/ws-1");
    assert_eq!(tree.get(&format!("{leaf}/memory.max")), "67108864");
    assert_eq!(tree.get(&format!("{leaf}/memory.swap.max")), "0");
    assert_eq!(tree.get(&format!("{leaf}/cpu.max")), "50000 100000");
    assert_eq!(tree.get(&format!("{leaf}/pids.max")), "10");
    assert!(
        cg.clone_into_fd().is_some(),
        "v2: the child is born in the cgroup"
    );
    cg.remove().expect("remove");
    assert!(!tree.exists(&leaf), "the leaf is gone after remove");
    assert!(tree.exists(PARENT), "the shared parent stays");
}

#[test]
fn v2_add_task_writes_cgroup_procs() {
    let tree = FakeTree::v2("cpu memory pids", true, true);
    let cg = Cgroup::create_with_mode(tree.root(), Mode::V2, "ws-2", &limits()).unwrap();
    let mut child = Sleeper::start();
    cg.add_task(child.pid()).expect("add_task");
    assert_eq!(
        tree.get(&format!("{PARENT}/ws-2/cgroup.procs")),
        child.pid().to_string(),
        "add_task should write the pid to the leaf's cgroup.procs"
    );
    cg.remove().unwrap();
    assert!(
        child.was_killed(),
        "remove kills what is left in the cgroup"
    );
}

#[test]
fn v2_oom_kills_reads_memory_events() {
    let tree = FakeTree::v2("cpu memory pids", true, true);
    let cg = Cgroup::create_with_mode(tree.root(), Mode::V2, "ws-3", &limits()).unwrap();
    let events = format!("{PARENT}/ws-3/memory.events");
    tree.put(
        &events,
        "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n",
    );
    assert_eq!(cg.oom_kills().expect("oom_kills"), 2);
    tree.put(&events, "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
    assert_eq!(cg.oom_kills().unwrap(), 0);
    cg.remove().unwrap();
}

#[test]
fn v1_writes_each_limit_in_its_hierarchy_and_joins_every_one() {
    let tree = FakeTree::v1(&["cpu,cpuacct", "memory", "pids", "systemd"], true);
    let cg = Cgroup::create_with_mode(tree.root(), Mode::V1, "ws-4", &limits())
        .expect("create on a fake v1 tree");
    let leaf = |hierarchy: &str| format!("{hierarchy}/{PARENT}/ws-4");
    let memory = leaf("memory");
    assert_eq!(
        tree.get(&format!("{memory}/memory.limit_in_bytes")),
        "67108864"
    );
    assert_eq!(
        tree.get(&format!("{memory}/memory.memsw.limit_in_bytes")),
        "67108864"
    );
    let cpu = leaf("cpu,cpuacct");
    assert_eq!(tree.get(&format!("{cpu}/cpu.cfs_period_us")), "100000");
    assert_eq!(tree.get(&format!("{cpu}/cpu.cfs_quota_us")), "50000");
    assert_eq!(tree.get(&format!("{}/pids.max", leaf("pids"))), "10");
    assert!(cg.clone_into_fd().is_none(), "v1 has no CLONE_INTO_CGROUP");

    let mut child = Sleeper::start();
    cg.add_task(child.pid()).expect("add_task");
    for hierarchy in ["memory", "cpu,cpuacct", "pids"] {
        assert_eq!(
            tree.get(&format!("{}/cgroup.procs", leaf(hierarchy))),
            child.pid().to_string(),
            "add_task should join the {hierarchy} hierarchy too: each v1 tree \
             has its own cgroup.procs"
        );
    }
    tree.put(
        &format!("{memory}/memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    );
    assert_eq!(cg.oom_kills().expect("oom_kills"), 1, "memory.oom_control");
    cg.remove().unwrap();
    assert!(child.was_killed());
    for hierarchy in ["memory", "cpu,cpuacct", "pids"] {
        assert!(!tree.exists(&leaf(hierarchy)), "{hierarchy}: removed");
    }
}
