//! Tests: the translations (pure), the file writes on fake trees in temp
//! directories (any user), and real cgroups on this host (root only).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use nix::unistd::Pid;
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxHugepageLimitBuilder,
    LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};
use step09::devices::{Kind, MKNOD, READ, Rule, WRITE};

use super::v1::{self, Hierarchy};
use super::v2;
use super::{Cgroups, CgroupsPath, Host, Mode};

// ---------------------------------------------------------------------
// The fake kernel: what cgroupfs does that plain directories do not.

/// The files a fake v1 hierarchy's cgroups have (cpuset's start empty).
fn v1_files(controller: &str) -> &'static [&'static str] {
    match controller {
        "memory" => &[
            "memory.limit_in_bytes",
            "memory.soft_limit_in_bytes",
            "memory.memsw.limit_in_bytes",
            "memory.swappiness",
            "memory.oom_control",
            // no kmem files: a new kernel
        ],
        "cpu" => &["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"],
        "cpuset" => &["cpuset.cpus", "cpuset.mems"],
        "pids" => &["pids.max"],
        "devices" => &["devices.allow", "devices.deny"],
        // blkio without blkio.weight, as on this host (no CFQ/BFQ weight)
        "blkio" => &["blkio.throttle.read_bps_device"],
        _ => &[],
    }
}

const V2_FILES: [&str; 10] = [
    "cgroup.controllers",
    "cgroup.subtree_control",
    "memory.max",
    "memory.low",
    "memory.swap.max",
    "cpu.weight",
    "cpu.max",
    "pids.max",
    "cpuset.cpus",
    "cpuset.mems",
];

const V2_OFFERED: &str = "cpuset cpu io memory pids";

thread_local! {
    // (root, is v2): the fake trees this test thread made.
    static FAKES: RefCell<Vec<(PathBuf, bool)>> = const { RefCell::new(Vec::new()) };
}

fn fake_of(path: &Path) -> Option<(PathBuf, bool)> {
    FAKES.with(|f| {
        f.borrow()
            .iter()
            .find(|(root, _)| path.starts_with(root))
            .cloned()
    })
}

fn populate(dir: &Path, root: &Path, v2: bool) {
    if v2 {
        for file in V2_FILES {
            let text = if file == "cgroup.controllers" {
                V2_OFFERED
            } else {
                ""
            };
            std::fs::write(dir.join(file), text).unwrap();
        }
    } else {
        let below = dir.strip_prefix(root).unwrap();
        let controller = below.components().next().unwrap();
        let controller = controller.as_os_str().to_str().unwrap();
        for file in v1_files(controller) {
            std::fs::write(dir.join(file), "").unwrap();
        }
    }
    std::fs::write(dir.join("cgroup.procs"), "").unwrap();
}

/// `mkdir` in a fake tree: the new cgroup gets its interface files.
pub(super) fn fake_mkdir(path: &Path) {
    if let Some((root, v2)) = fake_of(path) {
        populate(path, &root, v2);
    }
}

/// `rmdir` in a fake tree: interface files do not keep a cgroup alive.
pub(super) fn fake_rmdir(path: &Path) {
    if fake_of(path).is_some() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// A fake host in a temp dir: v1 hierarchies `memory`, `cpu`, `cpuset`,
/// `pids`, `devices`, `blkio`, `systemd` (named), or one v2 tree.
struct Fake {
    _dir: tempfile::TempDir,
    host: Host,
}

impl Fake {
    fn v1() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cgroup");
        FAKES.with(|f| f.borrow_mut().push((root.clone(), false)));
        let names = [
            "memory", "cpu", "cpuset", "pids", "devices", "blkio", "systemd",
        ];
        let mut hierarchies = Vec::new();
        for name in names {
            let mount = root.join(name);
            std::fs::create_dir_all(&mount).unwrap();
            populate(&mount, &root, false);
            let controller = if name == "systemd" {
                "name=systemd".to_owned()
            } else {
                name.to_owned()
            };
            hierarchies.push(Hierarchy {
                mount,
                root: PathBuf::from("/"),
                controllers: vec![controller],
            });
        }
        std::fs::write(root.join("cpuset/cpuset.cpus"), "0-1\n").unwrap();
        std::fs::write(root.join("cpuset/cpuset.mems"), "0\n").unwrap();
        let own = "7:memory:/user/me\n6:cpu:/\n5:cpuset:/\n4:pids:/\n3:devices:/\n\
                   2:blkio:/\n1:name=systemd:/user/me\n0::/\n"
            .to_owned();
        Fake {
            _dir: dir,
            host: Host {
                mode: Mode::Hybrid,
                v2_root: root.join("unified"),
                hierarchies,
                own,
            },
        }
    }

    fn v2() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cgroup");
        FAKES.with(|f| f.borrow_mut().push((root.clone(), true)));
        std::fs::create_dir_all(&root).unwrap();
        populate(&root, &root, true);
        Fake {
            _dir: dir,
            host: Host {
                mode: Mode::V2,
                v2_root: root,
                hierarchies: Vec::new(),
                own: "0::/user.slice\n".to_owned(),
            },
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        match self.host.mode {
            Mode::V2 => self.host.v2_root.join(rel),
            _ => self.host.v2_root.parent().unwrap().join(rel),
        }
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }
}

fn abs(path: &str) -> CgroupsPath {
    CgroupsPath::parse(Some(Path::new(path)), "id").unwrap()
}

fn resources() -> LinuxResources {
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(50593792)
                .reservation(40000000)
                .swap(101187584)
                .kernel(50593792)
                .swappiness(10u64)
                .disable_oom_killer(true)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(1024u64)
                .quota(50000)
                .period(100000u64)
                .cpus("0")
                .mems("0")
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
        .build()
        .unwrap()
}

fn device(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    mm: Option<(i64, i64)>,
    access: &str,
) -> oci_spec::runtime::LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access(access);
    if let Some(t) = typ {
        b = b.typ(t);
    }
    if let Some((major, minor)) = mm {
        b = b.major(major).minor(minor);
    }
    b.build().unwrap()
}

// ---------------------------------------------------------------------
// cgroupsPath

#[test]
fn cgroups_path_absolute_relative_and_default() {
    assert_eq!(
        abs("/cgrouptest"),
        CgroupsPath::Absolute("cgrouptest".into())
    );
    assert_eq!(
        abs("testdir/./cgrouptest/container"),
        CgroupsPath::Relative("testdir/cgrouptest/container".into())
    );
    assert_eq!(
        CgroupsPath::parse(None, "c1").unwrap(),
        CgroupsPath::Absolute("contain-rs-workshop/c1".into())
    );
    assert_eq!(
        CgroupsPath::parse(Some(Path::new("")), "c1").unwrap(),
        CgroupsPath::Absolute("contain-rs-workshop/c1".into())
    );
    let err = CgroupsPath::parse(Some(Path::new("/a/../../etc")), "c1").unwrap_err();
    assert!(err.to_string().contains("'..'"), "{err}");
    assert!(CgroupsPath::parse(Some(Path::new("/")), "c1").is_err());
    assert!(CgroupsPath::parse(None, "a/b").is_err());
}

#[test]
fn cgroups_path_dir_per_hierarchy() {
    let mount = Path::new("/sys/fs/cgroup/memory");
    assert_eq!(
        abs("/cgrouptest").dir(mount, Path::new("/"), Path::new("/user/me")),
        PathBuf::from("/sys/fs/cgroup/memory/cgrouptest")
    );
    // Relative: below the runtime's own cgroup...
    assert_eq!(
        abs("testdir/c").dir(mount, Path::new("/"), Path::new("/user/me")),
        PathBuf::from("/sys/fs/cgroup/memory/user/me/testdir/c")
    );
    // ...as seen through a mount that shows only /docker/x of the hierarchy.
    assert_eq!(
        abs("c").dir(mount, Path::new("/docker/x"), Path::new("/docker/x/sub")),
        PathBuf::from("/sys/fs/cgroup/memory/sub/c")
    );
}

// ---------------------------------------------------------------------
// /proc/self/mountinfo

#[test]
fn hierarchies_from_mountinfo() {
    let text = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:32 /docker /mnt/my\\040mem rw,relatime - cgroup cgroup rw,memory
";
    let found = v1::hierarchies(text);
    let summary: Vec<(String, Vec<String>)> = found
        .iter()
        .map(|h| (h.mount.display().to_string(), h.controllers.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "/sys/fs/cgroup/cpu,cpuacct".to_owned(),
                vec!["cpu".to_owned(), "cpuacct".to_owned()]
            ),
            (
                "/sys/fs/cgroup/memory".to_owned(),
                vec!["memory".to_owned()]
            ),
            (
                "/sys/fs/cgroup/systemd".to_owned(),
                vec!["name=systemd".to_owned()]
            ),
        ]
    );
    let escaped = v1::hierarchies("50 23 0:40 /docker /mnt/my\\040mem rw - cgroup cgroup rw,pids");
    assert_eq!(escaped[0].mount, PathBuf::from("/mnt/my mem"));
    assert_eq!(escaped[0].root, PathBuf::from("/docker"));
}

// ---------------------------------------------------------------------
// Translations

#[test]
fn v1_memory_limit_before_swap_and_pids_max() {
    let mut r = resources();
    r.set_pids(Some(LinuxPidsBuilder::default().limit(0).build().unwrap()));
    let writes = v1::translate(&r).unwrap();
    let files: Vec<&str> = writes.iter().map(|w| w.file.as_str()).collect();
    let pos = |f: &str| files.iter().position(|x| *x == f).unwrap();
    assert!(pos("memory.limit_in_bytes") < pos("memory.memsw.limit_in_bytes"));
    assert!(pos("cpu.cfs_period_us") < pos("cpu.cfs_quota_us"));
    let value = |f: &str| writes[pos(f)].value.clone();
    assert_eq!(value("memory.memsw.limit_in_bytes"), "101187584");
    assert_eq!(value("memory.oom_control"), "1");
    assert_eq!(value("pids.max"), "max");
    assert!(writes[pos("memory.kmem.limit_in_bytes")].optional);
    assert!(!writes[pos("memory.limit_in_bytes")].optional);
}

#[test]
fn v1_devices_in_order_and_refusals() {
    let r = LinuxResourcesBuilder::default()
        .devices(vec![
            device(false, None, None, "rwm"),
            device(true, Some(LinuxDeviceType::C), Some((10, 229)), "rwm"),
            device(true, Some(LinuxDeviceType::B), Some((8, 4)), "r"),
        ])
        .hugepage_limits(vec![
            LinuxHugepageLimitBuilder::default()
                .page_size("2MB")
                .limit(1 << 21)
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap();
    let writes = v1::translate(&r).unwrap();
    let lines: Vec<(&str, &str)> = writes
        .iter()
        .map(|w| (w.file.as_str(), w.value.as_str()))
        .collect();
    assert_eq!(
        lines,
        vec![
            ("devices.deny", "a *:* rwm"),
            ("devices.allow", "c 10:229 rwm"),
            ("devices.allow", "b 8:4 r"),
            ("hugetlb.2MB.limit_in_bytes", "2097152"),
        ]
    );
    let mut bad = resources();
    bad.set_memory(Some(
        LinuxMemoryBuilder::default()
            .swappiness(101u64)
            .build()
            .unwrap(),
    ));
    assert!(
        v1::translate(&bad)
            .unwrap_err()
            .to_string()
            .contains("0 to 100")
    );
    let mut unified = resources();
    unified.set_unified(Some([("memory.high".to_owned(), "1M".to_owned())].into()));
    assert!(v1::translate(&unified).is_err());
}

#[test]
fn v2_translation_as_runc() {
    assert_eq!(v2::cpu_weight(2), 1);
    assert_eq!(v2::cpu_weight(1024), 39);
    assert_eq!(v2::cpu_weight(262144), 10000);
    assert_eq!(v2::io_weight(10), 1);
    assert_eq!(v2::io_weight(500), 4950);
    assert_eq!(v2::io_weight(1000), 10000);
    assert_eq!(
        v2::swap_max(Some(300), Some(100)).unwrap(),
        Some("200".into())
    );
    assert_eq!(v2::swap_max(None, Some(-1)).unwrap(), Some("max".into()));
    assert_eq!(
        v2::swap_max(Some(-1), Some(100)).unwrap(),
        Some("max".into())
    );
    assert_eq!(v2::swap_max(None, Some(100)).unwrap(), None);
    assert!(v2::swap_max(Some(50), Some(100)).is_err());
    assert!(v2::swap_max(Some(50), None).is_err());

    let mut r = resources();
    r.set_unified(Some(
        [("memory.high".to_owned(), "40000000".to_owned())].into(),
    ));
    let plan = v2::translate(&r).unwrap();
    let get = |f: &str| {
        plan.writes
            .iter()
            .find(|(file, _)| file == f)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("memory.max"), Some("50593792"));
    assert_eq!(get("memory.low"), Some("40000000"));
    assert_eq!(get("memory.swap.max"), Some("50593792"));
    assert_eq!(get("cpu.weight"), Some("39"));
    assert_eq!(get("cpu.max"), Some("50000 100000"));
    assert_eq!(get("cpuset.cpus"), Some("0"));
    assert_eq!(get("pids.max"), Some("10"));
    assert_eq!(get("memory.high"), Some("40000000"));
    assert_eq!(get("memory.swappiness"), None);
    assert_eq!(plan.controllers, ["memory", "cpu", "cpuset", "pids"]);

    let quota_only = LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .quota(-1)
                .period(50000u64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let plan = v2::translate(&quota_only).unwrap();
    assert_eq!(
        plan.writes,
        [("cpu.max".to_owned(), "max 50000".to_owned())]
    );

    let rt = LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .realtime_runtime(1000)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert!(
        v2::translate(&rt)
            .unwrap_err()
            .to_string()
            .contains("realtime")
    );
}

#[test]
fn v2_devices_as_an_allowlist() {
    let list = [
        device(true, Some(LinuxDeviceType::C), Some((1, 3)), "rwm"), // overridden
        device(false, None, None, "rwm"),
        device(true, Some(LinuxDeviceType::C), Some((10, 229)), "rw"),
        device(true, Some(LinuxDeviceType::A), None, "m"),
        device(false, Some(LinuxDeviceType::B), Some((8, 0)), "r"), // nothing allowed it
    ];
    let rules = v2::device_rules(&list).unwrap().unwrap();
    assert_eq!(
        rules,
        vec![
            Rule {
                kind: Kind::Char,
                major: Some(10),
                minor: Some(229),
                access: READ | WRITE
            },
            Rule {
                kind: Kind::Block,
                major: None,
                minor: None,
                access: MKNOD
            },
            Rule {
                kind: Kind::Char,
                major: None,
                minor: None,
                access: MKNOD
            },
        ]
    );
    assert_eq!(v2::device_rules(&[]).unwrap(), None);
    let allow_all = [
        device(false, None, None, "rwm"),
        device(true, None, None, "rwm"),
    ];
    assert_eq!(v2::device_rules(&allow_all).unwrap(), None);
    let deny_one = [device(false, Some(LinuxDeviceType::C), Some((1, 3)), "rwm")];
    assert!(
        v2::device_rules(&deny_one)
            .unwrap_err()
            .to_string()
            .contains("allowlist")
    );
    let punch_hole = [
        device(false, None, None, "rwm"),
        device(true, Some(LinuxDeviceType::C), None, "rwm"),
        device(false, Some(LinuxDeviceType::C), Some((1, 3)), "w"),
    ];
    assert!(v2::device_rules(&punch_hole).is_err());
}

#[test]
fn paths_round_trip_through_the_state() {
    let cg = Cgroups {
        paths: Vec::new(),
        leaves: vec!["/m/a/b".into(), "/p/a/b".into()],
        created: vec!["/m/a/b".into(), "/m/a".into()],
    };
    let mut paths = cg.leaves.clone();
    paths.extend(cg.created.iter().cloned());
    let back = Cgroups::from_paths(paths);
    assert_eq!(back.dirs(), cg.leaves.as_slice());
    assert_eq!(back.created(), cg.created.as_slice());
}

// ---------------------------------------------------------------------
// Fake trees

#[test]
fn v1_fake_create_writes_and_removes_only_what_it_made() {
    let fake = Fake::v1();
    // A parent someone else made: must survive.
    for h in &fake.host.hierarchies {
        std::fs::create_dir(h.mount.join("theirs")).unwrap();
        populate(&h.mount.join("theirs"), &fake.path(""), false);
    }
    let cg = Cgroups::create_on(&fake.host, &abs("/theirs/mine/c1"), Some(&resources())).unwrap();
    assert_eq!(cg.dirs().len(), 7);
    assert_eq!(cg.dirs()[0], fake.path("memory/theirs/mine/c1"));
    assert_eq!(cg.created().len(), 14, "{:?}", cg.created());
    assert_eq!(
        fake.read("memory/theirs/mine/c1/memory.limit_in_bytes"),
        "50593792"
    );
    assert_eq!(
        fake.read("memory/theirs/mine/c1/memory.memsw.limit_in_bytes"),
        "101187584"
    );
    assert_eq!(fake.read("memory/theirs/mine/c1/memory.oom_control"), "1");
    assert_eq!(fake.read("cpu/theirs/mine/c1/cpu.cfs_quota_us"), "50000");
    assert_eq!(fake.read("pids/theirs/mine/c1/pids.max"), "10");
    // cpuset.cpus as config.json says (over what was copied from the parent).
    assert_eq!(fake.read("cpuset/theirs/mine/c1/cpuset.cpus"), "0");
    assert!(fake.path("systemd/theirs/mine/c1").is_dir());

    // The state keeps paths(); a later `delete` rebuilds from them.
    let later = Cgroups::from_paths(cg.paths().to_vec());
    later.remove().unwrap();
    for h in &fake.host.hierarchies {
        assert!(!h.mount.join("theirs/mine").exists());
        assert!(h.mount.join("theirs").is_dir());
    }
}

#[test]
fn v1_fake_cpuset_copied_from_parent() {
    let fake = Fake::v1();
    let r = LinuxResourcesBuilder::default().build().unwrap();
    let cg = Cgroups::create_on(&fake.host, &abs("/a/b"), Some(&r)).unwrap();
    assert_eq!(fake.read("cpuset/a/cpuset.cpus"), "0-1");
    assert_eq!(fake.read("cpuset/a/b/cpuset.cpus"), "0-1");
    assert_eq!(fake.read("cpuset/a/b/cpuset.mems"), "0");
    cg.remove().unwrap();
    assert!(!fake.path("cpuset/a").exists());
}

#[test]
fn v1_fake_relative_path_is_below_own_cgroup() {
    let fake = Fake::v1();
    std::fs::create_dir_all(fake.path("memory/user/me")).unwrap();
    std::fs::create_dir_all(fake.path("systemd/user/me")).unwrap();
    let cg = Cgroups::create_on(&fake.host, &abs("rel/c"), None).unwrap();
    assert!(cg.dirs().contains(&fake.path("memory/user/me/rel/c")));
    assert!(cg.dirs().contains(&fake.path("systemd/user/me/rel/c")));
    assert!(cg.dirs().contains(&fake.path("pids/rel/c")));
    cg.remove().unwrap();
    assert!(fake.path("memory/user/me").is_dir());
    assert!(!fake.path("memory/user/me/rel").exists());
}

#[test]
fn v1_fake_missing_controller_is_one_clear_error() {
    let fake = Fake::v1();
    let r = LinuxResourcesBuilder::default()
        .hugepage_limits(vec![
            LinuxHugepageLimitBuilder::default()
                .page_size("2MB")
                .limit(1 << 21)
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap();
    let err = Cgroups::create_on(&fake.host, &abs("/c1"), Some(&r)).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("'hugetlb'") && !text.contains('\n'), "{text}");
    assert!(!fake.path("memory/c1").exists(), "nothing is made");
}

#[test]
fn v1_fake_failed_write_cleans_up() {
    let fake = Fake::v1();
    let r = LinuxResourcesBuilder::default()
        .block_io(
            oci_spec::runtime::LinuxBlockIoBuilder::default()
                .weight(500u16)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let err = Cgroups::create_on(&fake.host, &abs("/x/c1"), Some(&r)).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("blkio.weight") && text.contains("ENOENT") && !text.contains('\n'),
        "{text}"
    );
    for h in &fake.host.hierarchies {
        assert!(!h.mount.join("x").exists(), "{:?} left behind", h.mount);
    }
}

#[test]
fn v2_fake_create_enables_controllers_and_writes() {
    let fake = Fake::v2();
    let cg = Cgroups::create_on(&fake.host, &abs("/a/c1"), Some(&resources())).unwrap();
    assert_eq!(cg.paths()[0], fake.path("a/c1"));
    assert_eq!(
        fake.read("cgroup.subtree_control"),
        "+memory +cpu +cpuset +pids"
    );
    assert_eq!(
        fake.read("a/cgroup.subtree_control"),
        "+memory +cpu +cpuset +pids"
    );
    assert_eq!(fake.read("a/c1/cgroup.subtree_control"), "");
    assert_eq!(fake.read("a/c1/memory.max"), "50593792");
    assert_eq!(fake.read("a/c1/memory.swap.max"), "50593792");
    assert_eq!(fake.read("a/c1/cpu.weight"), "39");
    assert_eq!(fake.read("a/c1/cpu.max"), "50000 100000");
    assert_eq!(fake.read("a/c1/pids.max"), "10");
    cg.remove().unwrap();
    assert!(!fake.path("a").exists());
}

#[test]
fn v2_fake_missing_controller_cleans_up() {
    let fake = Fake::v2();
    let r = LinuxResourcesBuilder::default()
        .hugepage_limits(vec![
            LinuxHugepageLimitBuilder::default()
                .page_size("2MB")
                .limit(1 << 21)
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap();
    let err = Cgroups::create_on(&fake.host, &abs("/a/c1"), Some(&r)).unwrap_err();
    assert!(format!("{err:#}").contains("'hugetlb'"), "{err:#}");
    assert!(!fake.path("a").exists());
}

// ---------------------------------------------------------------------
// Real cgroups (root, on a v1 or hybrid host)

/// Kills the child and removes the test's cgroups, also when a test fails.
struct Guard {
    child: Option<Child>,
    dirs: Vec<PathBuf>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        let mut dirs = self.dirs.clone();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for dir in dirs {
            for _ in 0..50 {
                match std::fs::remove_dir(&dir) {
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        std::thread::sleep(std::time::Duration::from_millis(20))
                    }
                    _ => break,
                }
            }
        }
    }
}

/// This host, if the test can use real cgroups (root, v1/hybrid).
fn real_v1_host() -> Option<Host> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return None;
    }
    let host = Host::detect().unwrap();
    if host.mode == Mode::V2 {
        eprintln!("skipped: this host is cgroup v2");
        return None;
    }
    Some(host)
}

/// Where every hierarchy would put `top`, for the guard.
fn all_dirs(host: &Host, top: &str) -> Vec<PathBuf> {
    host.hierarchies.iter().map(|h| h.mount.join(top)).collect()
}

#[test]
fn real_v1_create_add_remove() {
    let Some(host) = real_v1_host() else { return };
    let top = format!("contain-rs-test-{}", std::process::id());
    let mut guard = Guard {
        child: None,
        dirs: all_dirs(&host, &top),
    };
    guard.dirs.extend(all_dirs(&host, &format!("{top}/c1")));
    let path = CgroupsPath::parse(Some(Path::new(&format!("/{top}/c1"))), "x").unwrap();
    let cg = Cgroups::create_on(&host, &path, Some(&resources())).unwrap();

    let memory = host.hierarchies.iter().find(|h| h.holds("memory")).unwrap();
    let leaf = memory.mount.join(&top).join("c1");
    let read = |dir: &Path, f: &str| super::read_value(&dir.join(f)).unwrap();
    assert_eq!(read(&leaf, "memory.limit_in_bytes"), "50593792");
    assert_eq!(read(&leaf, "memory.soft_limit_in_bytes"), "39997440"); // page-rounded
    assert_eq!(read(&leaf, "memory.swappiness"), "10");
    assert!(read(&leaf, "memory.oom_control").starts_with("oom_kill_disable 1"));
    let cpu = host.hierarchies.iter().find(|h| h.holds("cpu")).unwrap();
    let cpu_leaf = cpu.mount.join(&top).join("c1");
    assert_eq!(read(&cpu_leaf, "cpu.shares"), "1024");
    assert_eq!(read(&cpu_leaf, "cpu.cfs_quota_us"), "50000");
    let pids = host.hierarchies.iter().find(|h| h.holds("pids")).unwrap();
    assert_eq!(read(&pids.mount.join(&top).join("c1"), "pids.max"), "10");
    let cpuset = host.hierarchies.iter().find(|h| h.holds("cpuset")).unwrap();
    assert_eq!(
        read(&cpuset.mount.join(&top).join("c1"), "cpuset.cpus"),
        "0"
    );

    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id();
    guard.child = Some(child);
    cg.add(Pid::from_raw(pid as i32)).unwrap();
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for h in &host.hierarchies {
        let line = format!("{}:/{top}/c1", h.controllers.join(","));
        assert!(
            own.lines().any(|l| l.ends_with(&line)),
            "{line} not in\n{own}"
        );
    }

    let mut child = guard.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    Cgroups::from_paths(cg.paths().to_vec()).remove().unwrap();
    for h in &host.hierarchies {
        assert!(
            !h.mount.join(&top).exists(),
            "{:?} left behind",
            h.mount.join(&top)
        );
    }
}

#[test]
fn real_v1_refused_value_names_file_and_cleans_up() {
    let Some(host) = real_v1_host() else { return };
    let top = format!("contain-rs-test-bad-{}", std::process::id());
    let _guard = Guard {
        child: None,
        dirs: all_dirs(&host, &top),
    };
    // memory + swap below memory: the kernel says EINVAL.
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(100 << 20)
                .swap(50 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    // Through the public entry, which detects the host itself.
    let err = Cgroups::create(Some(Path::new(&format!("/{top}"))), "x", Some(&r)).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("memory.memsw.limit_in_bytes") && text.contains("EINVAL"),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");
    for h in &host.hierarchies {
        assert!(
            !h.mount.join(&top).exists(),
            "{:?} left behind",
            h.mount.join(&top)
        );
    }
}

#[test]
fn real_v1_parent_not_ours_survives() {
    let Some(host) = real_v1_host() else { return };
    let top = format!("contain-rs-test-keep-{}", std::process::id());
    let mut guard = Guard {
        child: None,
        dirs: all_dirs(&host, &top),
    };
    guard.dirs.extend(all_dirs(&host, &format!("{top}/c")));
    let memory = host.hierarchies.iter().find(|h| h.holds("memory")).unwrap();
    std::fs::create_dir(memory.mount.join(&top)).unwrap();
    let path = CgroupsPath::parse(Some(Path::new(&format!("/{top}/c"))), "x").unwrap();
    let cg = Cgroups::create_on(&host, &path, None).unwrap();
    assert!(!cg.created().contains(&memory.mount.join(&top)));
    cg.remove().unwrap();
    assert!(
        memory.mount.join(&top).is_dir(),
        "the parent we did not make stays"
    );
    for h in host.hierarchies.iter().filter(|h| !h.holds("memory")) {
        assert!(!h.mount.join(&top).exists());
    }
}
