//! Your cgroup v2 files, tested without root on a fake cgroup tree: a temp
//! directory shaped like `/sys/fs/cgroup` (regular files stand in for the
//! kernel's). The same tests run against the solution. (The v1 files are
//! checked for real by the black-box checks on a v1 host.)

use std::path::Path;

use nix::unistd::Pid;
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

/// A fake v2 root offering `controllers`.
fn fake_v2(controllers: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temp dir");
    std::fs::write(root.path().join("cgroup.controllers"), controllers).unwrap();
    std::fs::write(root.path().join("cgroup.subtree_control"), "").unwrap();
    root
}

fn get(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path:?} was not written: {e}"))
        .trim()
        .to_owned()
}

/// What the kernel does when the last process leaves: rmdir then works
/// (a real cgroup directory can be removed with its interface files in it).
fn fake_kernel_empties(leaf: &Path) {
    for entry in std::fs::read_dir(leaf).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
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
    let root = fake_v2("cpuset cpu io memory hugetlb pids rdma");
    let cg = Cgroup::create_with_mode(root.path(), Mode::V2, "ws-1", &limits())
        .expect("create on a fake v2 tree");
    for dir in [root.path().to_owned(), root.path().join(PARENT)] {
        let mut enabled: Vec<String> = get(&dir.join("cgroup.subtree_control"))
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        enabled.sort();
        assert_eq!(
            enabled,
            ["+cpu", "+memory", "+pids"],
            "{dir:?}/cgroup.subtree_control should enable memory, cpu and pids"
        );
    }
    let leaf = root.path().join(PARENT).join("ws-1");
    assert_eq!(get(&leaf.join("memory.max")), "67108864");
    assert_eq!(get(&leaf.join("cpu.max")), "50000 100000");
    assert_eq!(get(&leaf.join("pids.max")), "10");
    assert!(
        cg.clone_into_fd().is_some(),
        "v2: the child is born in the cgroup"
    );
    fake_kernel_empties(&leaf);
    cg.remove().expect("remove");
    assert!(!leaf.exists(), "the leaf is gone after remove");
    assert!(root.path().join(PARENT).is_dir(), "the shared parent stays");
}

#[test]
fn v2_add_task_writes_cgroup_procs() {
    let root = fake_v2("cpu memory pids");
    let cg = Cgroup::create_with_mode(root.path(), Mode::V2, "ws-2", &limits()).unwrap();
    let leaf = root.path().join(PARENT).join("ws-2");
    // A pid that cannot exist (above pid_max's limit): nothing real is touched.
    cg.add_task(Pid::from_raw(4_194_305)).expect("add_task");
    assert_eq!(get(&leaf.join("cgroup.procs")), "4194305");
    fake_kernel_empties(&leaf);
    cg.remove().unwrap();
}

#[test]
fn v2_oom_kills_reads_memory_events() {
    let root = fake_v2("cpu memory pids");
    let cg = Cgroup::create_with_mode(root.path(), Mode::V2, "ws-3", &limits()).unwrap();
    let leaf = root.path().join(PARENT).join("ws-3");
    std::fs::write(
        leaf.join("memory.events"),
        "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n",
    )
    .unwrap();
    assert_eq!(cg.oom_kills().expect("oom_kills"), 2);
    std::fs::write(
        leaf.join("memory.events"),
        "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
    )
    .unwrap();
    assert_eq!(cg.oom_kills().unwrap(), 0);
    fake_kernel_empties(&leaf);
    cg.remove().unwrap();
}
