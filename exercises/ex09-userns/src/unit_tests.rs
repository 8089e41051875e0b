//! Your functions one at a time, on real processes: each test forks a child
//! that unshares a user namespace of its own and waits, as step09's
//! container does; the test (or an ordinary user it becomes) calls your
//! function and reads the child's /proc files from the host, as you would
//! with `cat`. Writing maps for IDs other than your own needs root, as every
//! test of the workshop does (`cargo test` runs them through sudo). The same
//! tests run against the solution.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use nix::unistd::{Gid, Pid, Uid};

use crate::userns::{Extent, Maps, RANGE, Writer, become_root, run_as_root_of, write_maps};
use testkit::forked::{catching, in_child};

/// Host IDs nobody on a test machine uses: what the tests map to.
const HOST_UID: u32 = 3_000_000;
const HOST_GID: u32 = 3_100_000;

fn root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (maps of IDs other than your own, a test user): \
         sudo -E cargo test -p ex09"
    );
}

/// A map's text as the kernel prints it, without its column padding.
fn squeeze(map: &str) -> String {
    map.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn proc_file(pid: Pid, name: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/{name}"))
        .unwrap_or_else(|e| format!("(cannot read /proc/{pid}/{name}: {e})"))
}

fn read_all(fd: OwnedFd) -> String {
    let mut text = String::new();
    let _ = std::fs::File::from(fd).read_to_string(&mut text);
    text
}

/// A forked child in a user namespace of its own, waiting (as step09's
/// PID 1 waits on the sync pipe) until [`Userns::release`]; then it runs
/// its closure and reports what it returned.
struct Userns {
    pid: Pid,
    go: Option<OwnedFd>,
    report: Option<OwnedFd>,
}

impl Userns {
    fn new(then: impl FnOnce() -> String) -> Userns {
        let (ready_r, ready_w) = nix::unistd::pipe().unwrap();
        let (go_r, go_w) = nix::unistd::pipe().unwrap();
        let (report_r, report_w) = nix::unistd::pipe().unwrap();
        // SAFETY: as in `in_child`: syscalls, pipes, then _exit.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                drop((ready_r, go_w, report_r));
                let unshared = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER);
                let ready = match unshared {
                    Ok(()) => "ready".to_owned(),
                    Err(e) => format!("unshare(CLONE_NEWUSER) failed: {e}"),
                };
                let _ = std::fs::File::from(ready_w).write_all(ready.as_bytes());
                let mut byte = [0u8; 1];
                if unshared.is_ok() && nix::unistd::read(&go_r, &mut byte) == Ok(1) {
                    let text = catching(then).unwrap_or_else(|p| p);
                    let _ = std::fs::File::from(report_w).write_all(text.as_bytes());
                }
                // SAFETY: ends the forked child without the parent's destructors.
                unsafe { libc::_exit(0) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop((ready_w, go_r, report_w));
                let ready = read_all(ready_r);
                let me = Userns {
                    pid: child,
                    go: Some(go_w),
                    report: Some(report_r),
                };
                assert_eq!(ready, "ready", "the test's child in a new user namespace");
                me
            }
        }
    }

    /// Lets the child go on; what it reported.
    fn release(&mut self) -> String {
        let go = self.go.take().expect("released once");
        let _ = nix::unistd::write(&go, b"g");
        drop(go);
        let report = self.report.take().expect("released once");
        testkit::forked::report_of(self.pid, report)
    }
}

impl Drop for Userns {
    fn drop(&mut self) {
        if self.go.take().is_some() {
            // The child reads end-of-file and exits without running `then`.
            let _ = nix::sys::wait::waitpid(self.pid, None);
        }
    }
}

/// A map the test writes itself, as root: `0 OUTSIDE 1`.
fn write_directly(pid: Pid, file: &str, outside: u32) {
    std::fs::write(format!("/proc/{pid}/{file}"), format!("0 {outside} 1\n"))
        .unwrap_or_else(|e| panic!("the test could not write /proc/{pid}/{file}: {e}"));
}

fn extent(inside: u32, outside: u32, count: u32) -> Extent {
    Extent {
        inside,
        outside,
        count,
    }
}

#[test]
fn a_full_map_is_the_user_then_the_range() {
    let got = catching(|| Maps::full(Uid::from_raw(1000), Gid::from_raw(1001), 100000, 200000))
        .unwrap_or_else(|p| panic!("Maps::full {p}"));
    assert_eq!(
        got.uid,
        [extent(0, 1000, 1), extent(1, 100000, RANGE)],
        "uid map of user 1000 with the range 100000: root inside is 1000 (one ID), \
         then 1.. inside are the range's {RANGE} IDs"
    );
    assert_eq!(
        got.gid,
        [extent(0, 1001, 1), extent(1, 200000, RANGE)],
        "gid map of group 1001 with the range 200000: the same shape, with the gids"
    );
    assert_eq!(
        got.writer,
        Writer::Helpers,
        "only newuidmap and newgidmap may write an ordinary user's ranges"
    );
    assert!(
        !got.deny_setgroups,
        "newgidmap holds CAP_SETGID: a full map leaves setgroups allowed (chown and su work inside)"
    );
}

#[test]
fn an_ordinary_user_maps_itself_after_denying_setgroups() {
    root();
    // The test becomes an ordinary user (no capabilities, one uid and gid
    // of its own) whose child makes the namespace: as step09 run by you.
    let report = in_child(|| {
        let (uid, gid) = (Uid::from_raw(HOST_UID), Gid::from_raw(HOST_GID));
        let drop_root = (|| {
            nix::unistd::setgroups(&[])?;
            nix::unistd::setresgid(gid, gid, gid)?;
            nix::unistd::setresuid(uid, uid, uid)?;
            // Changing uid made us undumpable: /proc/PID of our child would
            // belong to root. We are an ordinary user's runtime, dumpable.
            nix::sys::prctl::set_dumpable(true)
        })();
        if let Err(e) = drop_root {
            return format!("the test could not become uid {uid}: {e}");
        }
        let mut child = Userns::new(String::new);
        let written = match catching(|| write_maps(child.pid, &Maps::single(uid, gid))) {
            Ok(Ok(())) => "Ok".to_owned(),
            Ok(Err(e)) => format!("Err: {e:#}"),
            Err(p) => p,
        };
        let seen = [
            written,
            proc_file(child.pid, "setgroups").trim().to_owned(),
            squeeze(&proc_file(child.pid, "gid_map")),
            squeeze(&proc_file(child.pid, "uid_map")),
        ];
        child.release();
        seen.join("\u{1}")
    });
    let seen: Vec<&str> = report.split('\u{1}').collect();
    let [written, setgroups, gid_map, uid_map] = seen[..] else {
        panic!("{report}");
    };
    assert_eq!(
        written, "Ok",
        "write_maps(child, Maps::single({HOST_UID}, {HOST_GID})) run by uid {HOST_UID} \
         (no privilege) failed"
    );
    assert_eq!(
        setgroups, "deny",
        "/proc/CHILD/setgroups after a single map (deny_setgroups is set)"
    );
    assert_eq!(
        gid_map,
        format!("0 {HOST_GID} 1"),
        "/proc/CHILD/gid_map after a single map: the user's own gid is 0 inside"
    );
    assert_eq!(
        uid_map,
        format!("0 {HOST_UID} 1"),
        "/proc/CHILD/uid_map after a single map: the user's own uid is 0 inside"
    );
}

#[test]
fn root_writes_every_extent_and_leaves_setgroups_allowed() {
    root();
    let maps = Maps {
        uid: vec![extent(0, HOST_UID, 1), extent(1, HOST_UID + 100, 1000)],
        gid: vec![extent(0, HOST_GID, 1), extent(1, HOST_GID + 100, 1000)],
        deny_setgroups: false,
        writer: Writer::Parent,
    };
    let mut child = Userns::new(String::new);
    let written = catching(|| write_maps(child.pid, &maps));
    let uid_map = squeeze(&proc_file(child.pid, "uid_map"));
    let gid_map = squeeze(&proc_file(child.pid, "gid_map"));
    let setgroups = proc_file(child.pid, "setgroups");
    let again = catching(|| write_maps(child.pid, &maps));
    child.release();
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("write_maps as root, two extents per map, failed: {e:#}"),
        Err(p) => panic!("write_maps {p}"),
    }
    assert_eq!(
        gid_map,
        format!("0 {HOST_GID} 1\n1 {} 1000", HOST_GID + 100),
        "/proc/CHILD/gid_map: both extents of maps.gid (the kernel takes a map in one write \
         and refuses a second)"
    );
    assert_eq!(
        uid_map,
        format!("0 {HOST_UID} 1\n1 {} 1000", HOST_UID + 100),
        "/proc/CHILD/uid_map: both extents of maps.uid"
    );
    assert_eq!(
        setgroups.trim(),
        "allow",
        "deny_setgroups is false: /proc/CHILD/setgroups must be left as it is"
    );
    assert!(
        matches!(again, Ok(Err(_))),
        "a second write_maps to the same child must return an error (the kernel refuses a \
         second write of a map with EPERM): {again:?}"
    );
}

#[test]
fn the_gid_map_is_written_before_the_uid_map() {
    root();
    let mut child = Userns::new(String::new);
    // Someone was first with the gid map: yours cannot be written now.
    write_directly(child.pid, "gid_map", HOST_GID);
    let written = catching(|| write_maps(child.pid, &Maps::remap(HOST_UID, HOST_GID)));
    let uid_map = squeeze(&proc_file(child.pid, "uid_map"));
    child.release();
    if let Err(p) = &written {
        panic!("write_maps {p}");
    }
    assert!(
        matches!(written, Ok(Err(_))),
        "writing a gid map that is already written fails (EPERM): write_maps must return \
         that error, not Ok"
    );
    assert_eq!(
        uid_map, "",
        "the gid map could not be written, yet write_maps wrote the uid map: write the gid \
         map first, so that a failure never leaves users without groups"
    );
}

#[test]
fn a_uid_map_that_cannot_be_written_is_an_error() {
    root();
    let mut child = Userns::new(String::new);
    // Someone was first with the uid map: the gid map can be written, the
    // uid map not.
    write_directly(child.pid, "uid_map", HOST_UID);
    let written = catching(|| write_maps(child.pid, &Maps::remap(HOST_UID, HOST_GID)));
    child.release();
    if let Err(p) = &written {
        panic!("write_maps {p}");
    }
    assert!(
        matches!(written, Ok(Err(_))),
        "writing a uid map that is already written fails (EPERM): write_maps must return \
         that error, not Ok"
    );
}

fn helper_maps() -> Maps {
    Maps {
        uid: vec![extent(0, 1000, 1), extent(1, 100000, RANGE)],
        gid: vec![extent(0, 1001, 1), extent(1, 200000, RANGE)],
        deny_setgroups: false,
        writer: Writer::Helpers,
    }
}

/// The directory of the fake helpers, first on PATH in
/// [`with_fake_helpers_on_path`]; and the helper that fails, if any.
const FAKE_DIR: &str = "EX09_FAKE_HELPERS";
const FAKE_FAIL: &str = "EX09_FAKE_HELPER_FAILS";

/// write_maps(4242, helper_maps()) with fake `newgidmap` and `newuidmap`
/// first on PATH, which log their command lines (and `fail` fails with a
/// message): run in a test process of its own, started with that PATH.
/// Returns write_maps' outcome, a newline, and the log.
fn fake_helpers(fail: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "unit_tests::with_fake_helpers_on_path"])
        .args(["--ignored", "--test-threads=1", "--quiet"])
        .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
        .env(FAKE_DIR, dir.path())
        .env(FAKE_FAIL, fail)
        .output()
        .unwrap();
    std::fs::read_to_string(dir.path().join("report")).unwrap_or_else(|_| {
        panic!(
            "the test process with fake helpers reported nothing: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
#[ignore = "run by the helpers' tests, with fake newgidmap and newuidmap first on PATH"]
fn with_fake_helpers_on_path() {
    let Some(dir) = std::env::var_os(FAKE_DIR).map(std::path::PathBuf::from) else {
        return;
    };
    let fail = std::env::var(FAKE_FAIL).unwrap_or_default();
    // Written here, in a process that forks nothing else meanwhile: a
    // script still open for writing in another process cannot be run.
    let log = dir.join("log");
    for program in ["newgidmap", "newuidmap"] {
        let exit = if fail == program {
            format!("echo '{program}: gid range not allowed' >&2; exit 1")
        } else {
            "exit 0".to_owned()
        };
        let script = format!(
            "#!/bin/sh\necho \"{program} $*\" >> {}\n{exit}\n",
            log.display()
        );
        let path = dir.join(program);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let written = match catching(|| write_maps(Pid::from_raw(4242), &helper_maps())) {
        Ok(Ok(())) => "Ok".to_owned(),
        Ok(Err(e)) => format!("Err: {e:#}"),
        Err(p) => p,
    };
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::write(dir.join("report"), format!("{written}\n{logged}")).unwrap();
}

#[test]
fn the_helpers_get_the_pid_and_every_extent_gid_first() {
    let report = fake_helpers("");
    let (written, logged) = report.split_once('\n').unwrap_or((&report, ""));
    assert_eq!(
        written, "Ok",
        "write_maps with Writer::Helpers (fake newgidmap and newuidmap first on PATH, both \
         succeed)"
    );
    assert_eq!(
        logged, "newgidmap 4242 0 1001 1 1 200000 65536\nnewuidmap 4242 0 1000 1 1 100000 65536\n",
        "the helpers' command lines, in the order they ran: `newgidmap PID INSIDE OUTSIDE \
         COUNT ...` with every extent of maps.gid, then newuidmap with maps.uid"
    );
}

#[test]
fn a_failing_helper_is_an_error_and_the_uid_map_waits() {
    let report = fake_helpers("newgidmap");
    let (written, logged) = report.split_once('\n').unwrap_or((&report, ""));
    assert!(
        written.starts_with("Err") && written.contains("gid range not allowed"),
        "newgidmap failed with a message on stderr: write_maps must return an error that \
         says what it said; it returned {written:?}"
    );
    assert!(
        !logged.contains("newuidmap"),
        "newgidmap failed, yet newuidmap ran: the gid map comes first, and a failure stops \
         there ({logged:?})"
    );
}

/// What a process reports of its IDs and capabilities.
fn ids() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    let caps = if field("CapEff:") == field("CapBnd:") {
        "all".to_owned()
    } else {
        format!("{} of {}", field("CapEff:"), field("CapBnd:"))
    };
    format!(
        "Uid: {}, Gid: {}, capabilities: {caps}",
        field("Uid:"),
        field("Gid:")
    )
}

#[test]
fn become_root_takes_uid_and_gid_0_and_keeps_the_capabilities() {
    root();
    let mut child = Userns::new(|| match become_root() {
        Ok(()) => ids(),
        Err(e) => format!("Err: {e}"),
    });
    write_directly(child.pid, "gid_map", HOST_GID);
    write_directly(child.pid, "uid_map", HOST_UID);
    let report = child.release();
    assert_eq!(
        report, "Uid: 0 0 0 0, Gid: 0 0 0 0, capabilities: all",
        "after become_root, in a namespace whose maps make 0 the host's {HOST_UID} and \
         {HOST_GID}: /proc/self/status must show real, effective, saved (and filesystem) \
         uid and gid 0, and every capability (in the namespace) still effective"
    );
}

#[test]
fn become_root_without_maps_returns_the_error() {
    root();
    let mut child = Userns::new(|| match become_root() {
        Ok(()) => format!("Ok: {}", ids()),
        Err(e) => format!("Err: {e}"),
    });
    let report = child.release();
    assert!(
        report.starts_with("Err"),
        "no maps are written, so uid 0 and gid 0 do not exist in the namespace: become_root \
         must return the error of its first call (EINVAL), not panic or succeed; it gave \
         {report:?}"
    );
}

#[test]
fn files_made_as_root_inside_belong_to_the_range_on_the_host() {
    root();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let file = dir.path().join("made-inside");
    let inside = file.clone();
    // step09's run_as_root_of: your write_maps in the parent, your
    // become_root in its child, which then makes a file.
    let report = in_child(move || {
        let maps = Maps::remap(HOST_UID, HOST_GID);
        match run_as_root_of(&maps, move || Ok(std::fs::write(&inside, "x")?)) {
            Ok(()) => "Ok".to_owned(),
            Err(e) => format!("Err: {e:#}"),
        }
    });
    assert!(
        report.ends_with("Ok"),
        "run_as_root_of(Maps::remap({HOST_UID}, {HOST_GID}), write a file) failed: {report}"
    );
    let meta = std::fs::metadata(&file)
        .unwrap_or_else(|e| panic!("root of the namespace did not make its file: {e}"));
    assert_eq!(
        (meta.uid(), meta.gid()),
        (HOST_UID, HOST_GID),
        "a file made by root of a namespace mapped with Maps::remap({HOST_UID}, {HOST_GID}) \
         belongs on the host to uid and gid 0 inside, mapped"
    );
}
