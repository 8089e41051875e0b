//! The rootless fixture (chapter 9's users, their rootfs, running as them)
//! against the real system, without any step binary: `/bin/sh` is run as
//! the users instead. Needs root; without it every test fails, saying so.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, symlink};

use testkit::rootless::{self, Rootless, Spawn, Tun};

fn need_root() {
    if let Err(why) = testkit::run::require_root() {
        panic!("{why}");
    }
}

fn sh() -> testkit::Target {
    testkit::Target {
        bin: "/bin/sh".into(),
        step: 9,
        rootfs: None,
    }
}

#[test]
fn users_and_ranges_are_made_once_under_concurrency() {
    need_root();
    let handles: Vec<_> = (0..6)
        .map(|i| {
            std::thread::spawn(move || {
                if i % 2 == 0 {
                    rootless::with_range().unwrap()
                } else {
                    rootless::without_range().unwrap()
                }
            })
        })
        .collect();
    let users: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let distinct: BTreeSet<_> = users.iter().map(|u| format!("{u:?}")).collect();
    assert_eq!(distinct.len(), 2, "{distinct:?}");
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    for name in [rootless::USER, rootless::USER_WITHOUT_RANGE] {
        let n = passwd
            .lines()
            .filter(|l| l.starts_with(&format!("{name}:")))
            .count();
        assert_eq!(n, 1, "{name} in /etc/passwd");
    }
    let with = rootless::with_range().unwrap();
    let without = rootless::without_range().unwrap();
    assert!(with.uid != 0 && without.uid != 0 && with.uid != without.uid);
    assert_eq!(without.subuid, None);
    for file in ["/etc/subuid", "/etc/subgid"] {
        let ranges = rootless::read_ranges(file);
        let owned = |name: &str, uid: u32| {
            ranges
                .iter()
                .filter(|r| r.owner == name || r.owner == uid.to_string())
                .count()
        };
        assert_eq!(owned(rootless::USER, with.uid), 1, "{file}");
        assert_eq!(
            owned(rootless::USER_WITHOUT_RANGE, without.uid),
            0,
            "{file}"
        );
        let start = if file.ends_with("subuid") {
            with.subuid
        } else {
            with.subgid
        }
        .unwrap() as u64;
        let end = start + rootless::RANGE as u64;
        for r in ranges.iter().filter(|r| r.owner != rootless::USER) {
            assert!(
                r.start + r.count <= start || end <= r.start,
                "{file}: {r:?} overlaps the fixture's {start}..{end}"
            );
        }
    }
    let (root_uid, root_gid) = rootless::root_range().unwrap();
    assert!(root_uid > 0 && root_gid > 0);
}

#[test]
fn runs_as_the_user_with_no_groups_a_clean_environment_and_its_own_rootfs() {
    need_root();
    let user = rootless::with_range().unwrap();
    let r = Rootless::new(&sh(), &user).unwrap();
    let mounts = testkit::host::mounts();
    let script = "id -u; id -g; id -G; echo --; env | sort; echo --; \
                  stat -c %u:%g \"$WORKSHOP_ROOTFS\" \"$WORKSHOP_ROOTFS/bin/busybox\" \
                  \"$WORKSHOP_ROOTFS/bin/sh\" \"$HOME\" \"$XDG_DATA_HOME\"; \
                  test -r /dev/net/tun -a -w /dev/net/tun && echo tun-open";
    let out = r.run(&["-c", script]).unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    let parts: Vec<&str> = out.stdout.split("--\n").collect();
    let ids = format!("{}\n{}\n{}\n", user.uid, user.gid, user.gid);
    assert_eq!(parts[0], ids, "uid, gid and groups");
    let names: Vec<&str> = parts[1]
        .lines()
        .filter_map(|l| l.split('=').next())
        .filter(|n| *n != "PWD" && *n != "SHLVL" && *n != "_")
        .collect();
    assert_eq!(
        names,
        [
            "HOME",
            "LOGNAME",
            "PATH",
            rootless::MARKER,
            "USER",
            "WORKSHOP_ROOTFS",
            "XDG_DATA_HOME"
        ],
        "{}",
        parts[1]
    );
    let owner = format!("{}:{}", user.uid, user.gid);
    let tail: Vec<&str> = parts[2].lines().collect();
    assert_eq!(tail[..5], [owner.as_str(); 5], "{tail:?}");
    assert_eq!(tail.get(5), Some(&"tun-open"), "{tail:?}");
    // The tun node is bound in the child's private mount namespace only.
    assert_eq!(testkit::host::mounts(), mounts);

    let closed = Spawn {
        tun: Tun::Closed,
        ..Default::default()
    };
    let cmd = r.command_with(&closed, &["-c", "test -w /dev/net/tun || echo tun-closed"]);
    let out = testkit::run::run_command(cmd, testkit::run::RUN_LIMIT).unwrap();
    assert_eq!(out.out(), "tun-closed", "{out:?}");
}

#[test]
fn the_users_rootfs_is_theirs_and_the_shared_one_stays_roots() {
    need_root();
    let user = rootless::without_range().unwrap();
    let mine = rootless::user_rootfs(&user).unwrap();
    let shared = testkit::rootfs::busybox_rootfs().unwrap();
    for rel in ["", "bin/busybox", "bin/sh", "tmp", "etc/passwd"] {
        let m = std::fs::symlink_metadata(mine.join(rel)).unwrap();
        assert_eq!((m.uid(), m.gid()), (user.uid, user.gid), "{rel}");
        let s = std::fs::symlink_metadata(shared.join(rel)).unwrap();
        assert_eq!((s.uid(), s.gid()), (0, 0), "shared {rel}");
        assert_eq!(m.mode(), s.mode(), "{rel} keeps its mode");
    }
    // /bin/sh -> /bin/busybox is absolute: the host's busybox must stay root's.
    let host = std::fs::metadata(testkit::rootfs::BUSYBOX).unwrap();
    assert_eq!(host.uid(), 0);
}

#[test]
fn chown_tree_never_follows_a_symlink() {
    need_root();
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::write(&outside, "root's").unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    symlink(&outside, tree.join("sub/link")).unwrap();
    symlink(dir.path(), tree.join("dirlink")).unwrap();
    rootless::chown_tree(&tree, 4321, 4322).unwrap();
    let m = std::fs::symlink_metadata(tree.join("sub/link")).unwrap();
    assert_eq!((m.uid(), m.gid()), (4321, 4322));
    let o = std::fs::metadata(&outside).unwrap();
    assert_eq!((o.uid(), o.gid()), (0, 0), "the link's target was chowned");
    let d = std::fs::metadata(dir.path()).unwrap();
    assert_eq!(d.uid(), 0, "a linked directory was chowned");
}
