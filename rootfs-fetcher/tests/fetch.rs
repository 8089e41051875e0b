//! Black-box tests of the `rootfs-fetcher` binary: the real download path
//! against a loopback server serving the busybox test rootfs, the failures a
//! classroom network produces (404, truncation, a stall, a bad checksum),
//! hostile archives, and Ctrl-C.
//!
//! Every failure is checked the same way ([`fails_cleanly`]): a non-zero
//! exit, exactly one `rootfs-fetcher:` line naming the cause, nothing new
//! next to the destination (no `.part`, no temporary directory), no
//! destination created, and, when run with `--force` over a good rootfs,
//! that rootfs untouched byte for byte. The tests run as root.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use testkit::rootfs::tarball::{Entry, targz};
use testkit::rootfs::{self, hostile};
use testkit::server::{Reply, Server};

const BIN: &str = env!("CARGO_BIN_EXE_rootfs-fetcher");
const FAILED: i32 = 1;

fn command(args: &[String]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The loopback server must be reached directly, and --dest is explicit.
    for var in [
        "WORKSHOP_ROOTFS",
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Waits for `child`, killing it (and failing) if it takes over a minute:
/// a fetcher that hangs must fail the test, not hang it.
fn wait(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "rootfs-fetcher hung for 60 s; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run(args: &[String]) -> Output {
    wait(command(args).spawn().expect("start rootfs-fetcher"))
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "rootfs-fetcher failed ({}): {}",
        out.status,
        stderr(out)
    );
}

/// A scratch directory; the destination is `<dir>/rootfs`.
struct Place {
    dir: tempfile::TempDir,
}

impl Place {
    fn new() -> Place {
        assert!(
            nix::unistd::geteuid().is_root(),
            "these tests need root (they check ownership and unpack as root)"
        );
        Place {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn dest(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }
    fn dest_arg(&self) -> String {
        self.dest().display().to_string()
    }
    fn listing(&self) -> BTreeSet<String> {
        fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

fn busybox_tarball() -> (PathBuf, String) {
    let path = rootfs::busybox_tarball().expect("the busybox test tarball");
    let sum = rootfs::sha512_file(&path).unwrap();
    (path, sum)
}

/// Puts the good busybox rootfs at `dest` (from the file: quick).
fn fetch_good(dest: &Path) {
    let (tarball, sum) = busybox_tarball();
    let out = run(&args(&[
        "--dest",
        &dest.display().to_string(),
        "--from-file",
        &tarball.display().to_string(),
        "--sha512",
        &sum,
    ]));
    assert_ok(&out);
}

/// What must not change in a good rootfs when a later fetch fails.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    ino: u64,
    marker: Vec<u8>,
    os_release: Vec<u8>,
    busybox_sha512: String,
    entries: usize,
}

fn snapshot(dest: &Path) -> Snapshot {
    Snapshot {
        ino: fs::metadata(dest).unwrap().ino(),
        marker: fs::read(dest.join(".workshop-rootfs")).unwrap(),
        os_release: fs::read(dest.join("etc/os-release")).unwrap(),
        busybox_sha512: rootfs::sha512_file(dest.join("bin/busybox")).unwrap(),
        entries: fs::read_dir(dest.join("bin")).unwrap().count(),
    }
}

/// Exactly one line starts with `rootfs-fetcher:`, and it names the cause.
fn assert_one_error_line(out: &Output, cause: &str) -> String {
    let text = stderr(out);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("rootfs-fetcher:"))
        .collect();
    assert_eq!(lines.len(), 1, "one error line, got: {text}");
    assert!(
        lines[0].contains(cause),
        "wanted {cause:?} in: {}",
        lines[0]
    );
    lines[0].to_owned()
}

/// Runs a failing fetch twice: into a missing destination (which must stay
/// missing), and with `--force` over a good rootfs (which must survive).
/// `make_args` gets the destination. Returns the error line of each run.
fn fails_cleanly(make_args: impl Fn(&str) -> Vec<String>, cause: &str) -> Vec<String> {
    let place = Place::new();
    let mut lines = Vec::new();

    let before = place.listing();
    let out = run(&make_args(&place.dest_arg()));
    assert_eq!(out.status.code(), Some(FAILED), "{}", stderr(&out));
    lines.push(assert_one_error_line(&out, cause));
    assert!(!place.dest().exists(), "no destination may be created");
    assert_eq!(place.listing(), before, "nothing may be left beside it");

    fetch_good(&place.dest());
    let good = snapshot(&place.dest());
    let before = place.listing();
    let mut forced = make_args(&place.dest_arg());
    forced.push("--force".into());
    let out = run(&forced);
    assert_eq!(out.status.code(), Some(FAILED), "{}", stderr(&out));
    lines.push(assert_one_error_line(&out, cause));
    assert_eq!(
        snapshot(&place.dest()),
        good,
        "the good rootfs is untouched"
    );
    assert_eq!(place.listing(), before, "nothing may be left beside it");
    lines
}

fn url_args(url: &str, sha512: &str, rest: &[&str]) -> impl Fn(&str) -> Vec<String> {
    let (url, sha512) = (url.to_owned(), sha512.to_owned());
    let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
    move |dest| {
        let mut v = args(&["--dest", dest, "--url", &url, "--sha512", &sha512]);
        v.extend(rest.iter().cloned());
        v
    }
}

#[test]
fn a_good_fetch_unpacks_files_modes_and_symlinks() {
    let (tarball, sum) = busybox_tarball();
    let bytes = fs::read(&tarball).unwrap();
    let (server, url) = serve(Reply::Body(bytes.clone()));
    let place = Place::new();

    let started = Instant::now();
    let out = run(&args(&[
        "--dest",
        &place.dest_arg(),
        "--url",
        &url,
        "--sha512",
        &sum,
    ]));
    let took = started.elapsed();
    assert_ok(&out);
    eprintln!(
        "[figures] good fetch over loopback of the {}-byte busybox tarball: {} ms\n{}",
        bytes.len(),
        took.as_millis(),
        stderr(&out)
    );

    let dest = place.dest();
    let meta = |p: &str| fs::symlink_metadata(dest.join(p)).unwrap();
    assert_eq!(
        meta("tmp").mode() & 0o7777,
        0o1777,
        "/tmp keeps its sticky bit"
    );
    assert_eq!(meta("root").mode() & 0o7777, 0o700);
    assert_eq!(meta("").mode() & 0o7777, 0o755);
    assert_eq!(meta("bin/busybox").mode() & 0o7777, 0o755);
    assert_eq!(
        fs::read(dest.join("bin/busybox")).unwrap(),
        fs::read(rootfs::BUSYBOX).unwrap()
    );
    assert_eq!(
        fs::read_link(dest.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    for applet in rootfs::busybox_applets().unwrap() {
        let link = dest.join("bin").join(&applet);
        assert_eq!(
            fs::read_link(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display())),
            Path::new("/bin/busybox")
        );
    }
    for p in ["", "tmp", "bin/busybox", "bin/sh", "etc/passwd"] {
        assert_eq!(
            (meta(p).uid(), meta(p).gid()),
            (0, 0),
            "{p} is owned by root"
        );
    }
    assert!(
        fs::read_to_string(dest.join("etc/os-release"))
            .unwrap()
            .contains("busybox test rootfs")
    );
    assert!(
        fs::read_to_string(dest.join("etc/passwd"))
            .unwrap()
            .starts_with("root:x:0:0:")
    );
    let marker = fs::read_to_string(dest.join(".workshop-rootfs")).unwrap();
    assert_eq!(marker.lines().next().unwrap(), format!("sha512:{sum}"));
    assert_eq!(
        rootfs_fetcher::status(&dest),
        rootfs_fetcher::Status::Verified {
            sha512_or_sha256: format!("sha512:{sum}")
        }
    );
    // Nothing but the rootfs next to it.
    assert_eq!(place.listing(), BTreeSet::from(["rootfs".to_owned()]));
    assert_eq!(server.hits("/rootfs.tar.gz"), 1);
}

#[test]
fn a_second_fetch_does_nothing() {
    let (tarball, sum) = busybox_tarball();
    let (server, url) = serve(Reply::Body(fs::read(&tarball).unwrap()));
    let place = Place::new();
    let fetch = args(&["--dest", &place.dest_arg(), "--url", &url, "--sha512", &sum]);
    assert_ok(&run(&fetch));
    let first = snapshot(&place.dest());
    let marker_mtime = fs::metadata(place.dest().join(".workshop-rootfs"))
        .unwrap()
        .mtime_nsec();

    let out = run(&fetch);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("already present and verified"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        server.hits("/rootfs.tar.gz"),
        1,
        "the second run did not download"
    );
    assert_eq!(snapshot(&place.dest()), first);
    assert_eq!(
        fs::metadata(place.dest().join(".workshop-rootfs"))
            .unwrap()
            .mtime_nsec(),
        marker_mtime
    );
    assert_eq!(place.listing(), BTreeSet::from(["rootfs".to_owned()]));
}

#[test]
fn a_checksum_mismatch_is_refused_before_unpacking() {
    let (tarball, sum) = busybox_tarball();
    let (_server, url) = serve(Reply::Body(fs::read(&tarball).unwrap()));
    let wrong = "ab".repeat(64);
    let lines = fails_cleanly(
        url_args(&url, &wrong, &[]),
        &format!(
            "checksum mismatch for {url}: expected sha512 {wrong}, got {sum}; the download was deleted"
        ),
    );
    assert_eq!(lines.len(), 2);
}

#[test]
fn http_404_fails() {
    let server = Server::start(vec![]).unwrap();
    let url = server.url("/missing.tar.gz");
    fails_cleanly(
        url_args(&url, &"ab".repeat(64), &[]),
        &format!("HTTP 404 Not Found from {url}"),
    );
}

#[test]
fn a_truncated_body_fails() {
    let (tarball, sum) = busybox_tarball();
    let body = fs::read(&tarball).unwrap();
    let len = body.len();
    let (_server, url) = serve(Reply::Truncated {
        body,
        send: 100_000,
    });
    fails_cleanly(
        url_args(&url, &sum, &[]),
        &format!("the download of {url} was truncated: 100000 of {len} bytes arrived"),
    );
}

/// A loopback server answering `/rootfs.tar.gz` with `reply`, and that URL.
fn serve(reply: Reply) -> (Server, String) {
    let server = Server::start(vec![("/rootfs.tar.gz".into(), reply)]).unwrap();
    let url = server.url("/rootfs.tar.gz");
    (server, url)
}

#[test]
fn a_stalled_server_times_out() {
    let (tarball, sum) = busybox_tarball();
    let (_server, url) = serve(Reply::Stall {
        body: fs::read(&tarball).unwrap(),
        after: 50_000,
    });
    let started = Instant::now();
    fails_cleanly(
        url_args(&url, &sum, &["--timeout", "2"]),
        &format!("the download of {url} stalled: no data for 2 s (--timeout) after 50000 bytes"),
    );
    // Two stalled runs (and one quick good fetch) in between.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "took {took:?}");
    eprintln!(
        "[figures] two 2-second stalls detected in {} ms",
        took.as_millis()
    );
}

#[test]
fn a_server_that_is_not_there_fails() {
    // Bind and drop: a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/rootfs.tar.gz");
    fails_cleanly(
        url_args(&url, &"ab".repeat(64), &["--timeout", "2"]),
        &format!("cannot download {url}"),
    );
}

#[test]
fn from_file_verifies_then_unpacks() {
    let (tarball, sum) = busybox_tarball();
    let file = tarball.display().to_string();
    let place = Place::new();

    // Against the pinned checksum: the busybox tarball is not Alpine.
    let out = run(&args(&[
        "--dest",
        &place.dest_arg(),
        "--from-file",
        &file,
        "--arch",
        "x86_64",
    ]));
    assert_eq!(out.status.code(), Some(FAILED));
    let pinned = rootfs_fetcher::pinned::for_arch("x86_64").unwrap().sha512;
    assert_one_error_line(
        &out,
        &format!(
            "checksum mismatch for {file}: expected sha512 {pinned}, got {sum}; nothing was unpacked"
        ),
    );
    assert!(!place.dest().exists());

    // Against the given one, SHA-512 and SHA-256.
    let started = Instant::now();
    let out = run(&args(&[
        "--dest",
        &place.dest_arg(),
        "--from-file",
        &file,
        "--sha512",
        &sum,
    ]));
    let took = started.elapsed();
    assert_ok(&out);
    eprintln!(
        "[figures] --from-file of the busybox tarball: {} ms\n{}",
        took.as_millis(),
        stderr(&out)
    );
    assert_eq!(
        fs::read(place.dest().join("bin/busybox")).unwrap(),
        fs::read(rootfs::BUSYBOX).unwrap()
    );
    let sha256 = rootfs::sha256_file(&tarball).unwrap();
    let out = run(&args(&[
        "--dest",
        &place.dest_arg(),
        "--from-file",
        &file,
        "--sha256",
        &sha256,
        "--force",
    ]));
    assert_ok(&out);
    assert_eq!(
        rootfs_fetcher::status(&place.dest()),
        rootfs_fetcher::Status::Verified {
            sha512_or_sha256: format!("sha256:{sha256}")
        }
    );
    assert_eq!(place.listing(), BTreeSet::from(["rootfs".to_owned()]));

    // A file that is not there.
    let out = run(&args(&[
        "--dest",
        &place.dest_arg(),
        "--from-file",
        "/nonexistent/rootfs.tar.gz",
        "--sha256",
        &sha256,
        "--force",
    ]));
    assert_one_error_line(&out, "cannot open /nonexistent/rootfs.tar.gz: No such file");
}

/// A small archive with what the busybox one lacks: set-id bits, another
/// owner, a FIFO, a hard link.
fn special_tarball() -> Vec<u8> {
    targz(&[
        Entry::dir("./", 0o755),
        Entry::dir("./bin", 0o755),
        Entry::file("./bin/busybox", 0o755, b"not really busybox".to_vec()),
        Entry::symlink("./bin/sh", "/bin/busybox"),
        Entry::file("./bin/su", 0o4755, b"setuid".to_vec()),
        Entry::hardlink("./bin/su-again", "./bin/su"),
        Entry::dir("./home", 0o755),
        Entry::dir("./home/learner", 0o750).owner(1234, 1234),
        Entry::file("./home/learner/notes", 0o640, b"mine".to_vec()).owner(1234, 100),
        Entry::dir("./usr/bin", 0o755),
        Entry::file("./usr/bin/wall", 0o2755, b"setgid".to_vec()).owner(0, 5),
        Entry::dir("./run", 0o755),
        Entry::fifo("./run/initctl", 0o600),
        Entry::dir("./tmp", 0o1777),
    ])
}

#[test]
fn modes_and_ownership_are_preserved() {
    let place = Place::new();
    let archive = place.dir.path().join("special.tar.gz");
    fs::write(&archive, special_tarball()).unwrap();
    let sha256 = rootfs::sha256_file(&archive).unwrap();
    let dest = place.dir.path().join("r");
    let out = run(&args(&[
        "--dest",
        &dest.display().to_string(),
        "--from-file",
        &archive.display().to_string(),
        "--sha256",
        &sha256,
    ]));
    assert_ok(&out);
    let meta = |p: &str| fs::symlink_metadata(dest.join(p)).unwrap();
    assert_eq!(meta("bin/su").mode() & 0o7777, 0o4755);
    assert_eq!(meta("usr/bin/wall").mode() & 0o7777, 0o2755);
    assert_eq!(meta("usr/bin/wall").gid(), 5);
    assert_eq!(meta("bin/su").ino(), meta("bin/su-again").ino());
    assert_eq!(
        (meta("home/learner").uid(), meta("home/learner").gid()),
        (1234, 1234)
    );
    assert_eq!(meta("home/learner").mode() & 0o7777, 0o750);
    assert_eq!(
        (
            meta("home/learner/notes").uid(),
            meta("home/learner/notes").gid()
        ),
        (1234, 100)
    );
    assert_eq!(meta("run/initctl").mode() & libc::S_IFMT, libc::S_IFIFO);
    assert_eq!(meta("tmp").mode() & 0o7777, 0o1777);
    assert!(meta("usr").is_dir(), "implied parents are created");
}

#[test]
fn force_replaces_a_good_rootfs() {
    let place = Place::new();
    fetch_good(&place.dest());
    let scratch = place.dest().join("root/scratch");
    fs::write(&scratch, b"learner's leftovers").unwrap();

    // Without --force, a different archive is refused...
    let archive = place.dir.path().join("special.tar.gz");
    fs::write(&archive, special_tarball()).unwrap();
    let sha512 = rootfs::sha512_file(&archive).unwrap();
    let fetch = args(&[
        "--dest",
        &place.dest_arg(),
        "--from-file",
        &archive.display().to_string(),
        "--sha512",
        &sha512,
    ]);
    let out = run(&fetch);
    assert_one_error_line(&out, "already holds a different verified rootfs");
    assert!(scratch.exists());

    // ...with it, the new one replaces the old in one step.
    let mut forced = fetch.clone();
    forced.push("--force".into());
    let out = run(&forced);
    assert_ok(&out);
    assert!(!scratch.exists());
    assert_eq!(
        fs::read(place.dest().join("bin/busybox")).unwrap(),
        b"not really busybox"
    );
    assert_eq!(
        rootfs_fetcher::status(&place.dest()),
        rootfs_fetcher::Status::Verified {
            sha512_or_sha256: format!("sha512:{sha512}")
        }
    );
    let mut want = BTreeSet::from(["rootfs".to_owned(), "special.tar.gz".to_owned()]);
    assert_eq!(place.listing(), want);

    // A directory that is not a verified rootfs is refused without --force.
    let other = place.dir.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("precious"), b"x").unwrap();
    let out = run(&args(&[
        "--dest",
        &other.display().to_string(),
        "--from-file",
        &archive.display().to_string(),
        "--sha512",
        &sha512,
    ]));
    assert_one_error_line(&out, "exists but is not a rootfs this fetcher verified");
    assert!(other.join("precious").exists());
    want.insert("other".into());
    assert_eq!(place.listing(), want);

    // An empty directory (say, made by a provisioning script) is fair game.
    let empty = place.dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let out = run(&args(&[
        "--dest",
        &empty.display().to_string(),
        "--from-file",
        &archive.display().to_string(),
        "--sha512",
        &sha512,
    ]));
    assert_ok(&out);
    assert!(empty.join("bin/su").exists());
    want.insert("empty".into());
    assert_eq!(place.listing(), want);
}

#[test]
fn workshop_rootfs_sets_the_default_destination_and_parents_are_created() {
    let place = Place::new();
    let (tarball, sum) = busybox_tarball();
    let dest = place.dir.path().join("a/b/rootfs");
    let mut cmd = command(&args(&[
        "--from-file",
        &tarball.display().to_string(),
        "--sha512",
        &sum,
    ]));
    cmd.env("WORKSHOP_ROOTFS", &dest);
    let out = wait(cmd.spawn().unwrap());
    assert_ok(&out);
    assert!(dest.join("bin/busybox").exists());

    // A failure removes the parents it created.
    let out = run(&args(&[
        "--dest",
        &place
            .dir
            .path()
            .join("new/parent/rootfs")
            .display()
            .to_string(),
        "--from-file",
        &tarball.display().to_string(),
        "--sha512",
        &"cd".repeat(64),
    ]));
    assert_one_error_line(&out, "checksum mismatch");
    assert_eq!(place.listing(), BTreeSet::from(["a".to_owned()]));
}

/// Serves `archive` and expects it refused with `cause`; also checks that
/// nothing landed where the hostile entry aimed.
fn hostile_refused(archive: Vec<u8>, cause: &str, extra: &[&str]) {
    let sum = {
        use sha2::Digest;
        hex::encode(sha2::Sha512::digest(&archive))
    };
    let server = Server::start(vec![("/evil.tar.gz".into(), Reply::Body(archive))]).unwrap();
    let url = server.url("/evil.tar.gz");
    let result = std::panic::catch_unwind(|| fails_cleanly(url_args(&url, &sum, extra), cause));
    // Whatever failed first, a file that escaped is removed and reported.
    for escaped in [hostile::ABSOLUTE_PATH, hostile::SYMLINK_PATH] {
        let there = Path::new(escaped).symlink_metadata().is_ok();
        let _ = fs::remove_file(escaped);
        assert!(!there, "{escaped} was written outside the destination");
    }
    let lines = result.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    for line in lines {
        assert!(line.contains("was not changed"), "{line}");
    }
}

#[test]
fn hostile_dotdot_is_refused() {
    hostile_refused(
        hostile::dotdot(),
        "refusing the archive: entry `../workshop-escape-dotdot` has a `..` component",
        &[],
    );
}

#[test]
fn hostile_absolute_path_is_refused() {
    hostile_refused(
        hostile::absolute(),
        "refusing the archive: entry `/tmp/workshop-escape-absolute` is an absolute path",
        &[],
    );
}

#[test]
fn hostile_write_through_a_symlink_is_refused() {
    hostile_refused(
        hostile::symlink_escape(),
        "refusing the archive: entry `escape/workshop-escape-symlink` would be written through the symlink `escape` (-> /tmp)",
        &[],
    );
}

#[test]
fn hostile_hard_link_out_is_refused() {
    hostile_refused(
        hostile::hardlink_out(),
        "refusing the archive: entry `etc/passwd-link` is a hard link to `/etc/passwd`, outside the rootfs",
        &[],
    );
}

#[test]
fn hostile_device_node_is_refused() {
    hostile_refused(
        hostile::device_node(),
        "refusing the archive: entry `dev/kmem-ish` is a character device node (1:1)",
        &[],
    );
}

#[test]
fn hostile_bomb_is_stopped_by_the_cap() {
    hostile_refused(
        hostile::bomb(64 << 20),
        "refusing the archive: it unpacks to more than 4194304 bytes (--max-bytes)",
        &["--max-bytes", "4M"],
    );
}

#[test]
fn a_corrupt_archive_with_the_right_checksum_is_refused() {
    let mut archive = fs::read(busybox_tarball().0).unwrap();
    archive.truncate(archive.len() / 2);
    hostile_refused(archive, "the archive is corrupt", &[]);
}

/// Ctrl-C during a (stalled) download: exit 130, nothing left behind.
#[test]
fn sigint_leaves_nothing_behind() {
    let (tarball, sum) = busybox_tarball();
    let (_server, url) = serve(Reply::Stall {
        body: fs::read(&tarball).unwrap(),
        after: 200_000,
    });
    let place = Place::new();

    for force in [false, true] {
        let good = if force {
            fetch_good(&place.dest());
            Some(snapshot(&place.dest()))
        } else {
            None
        };
        let before = place.listing();
        let mut fetch = args(&["--dest", &place.dest_arg(), "--url", &url, "--sha512", &sum]);
        if force {
            fetch.push("--force".into());
        }
        let child = command(&fetch).spawn().unwrap();
        // Wait until the download is under way: its .part file exists.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !place.listing().iter().any(|n| n.ends_with(".part")) {
            assert!(Instant::now() < deadline, "no .part file appeared");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        let out = wait(child);
        assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
        assert_one_error_line(&out, "interrupted by SIGINT");
        assert_eq!(place.listing(), before, "no .part, no temporary directory");
        match good {
            Some(good) => assert_eq!(snapshot(&place.dest()), good),
            None => assert!(!place.dest().exists()),
        }
    }
}

#[test]
fn bad_command_lines_exit_2_with_one_line() {
    let place = Place::new();
    let dest = place.dest_arg();
    let sha256 = "ab".repeat(32);
    for (argv, cause) in [
        (
            vec!["--dest", &dest, "--url", "http://127.0.0.1:9/x.tar.gz"],
            "--url needs --sha512 HEX or --sha256 HEX",
        ),
        (
            vec![
                "--dest",
                &dest,
                "--url",
                "ftp://example.org/x.tar.gz",
                "--sha256",
                &sha256,
            ],
            "--url must start with http:// or https://",
        ),
        (
            vec!["--dest", &dest, "--sha256", "abc"],
            "--sha256 wants 64 hex digits",
        ),
        (
            vec!["--dest", &dest, "--arch", "riscv64"],
            "no pinned Alpine minirootfs for architecture `riscv64` (pinned: x86_64, aarch64); pass --url URL --sha512 HEX",
        ),
        (vec!["--dest", &dest, "--timeout", "0"], "--timeout"),
        (
            vec!["--dest", &dest, "--max-bytes", "lots"],
            "is not a size",
        ),
        (vec!["--dest", &dest, "--bogus"], "--bogus"),
    ] {
        let out = run(&args(&argv));
        assert_eq!(out.status.code(), Some(2), "{argv:?}: {}", stderr(&out));
        assert_one_error_line(&out, cause);
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
    assert!(place.listing().is_empty());
}

#[test]
fn the_pinned_default_is_the_host_archive() {
    // No machine that runs these tests may reach Alpine, and one that can
    // must not download it here: the HTTPS proxy is pointed at the loopback
    // server, which sees which host the fetcher wanted and refuses the tunnel.
    let server = Server::start(vec![]).unwrap();
    let place = Place::new();
    let mut cmd = command(&args(&["--dest", &place.dest_arg(), "--timeout", "5"]));
    cmd.env("HTTPS_PROXY", format!("http://{}", server.addr()));
    cmd.env_remove("NO_PROXY").env_remove("no_proxy");
    let out = wait(cmd.spawn().unwrap());
    let pin = rootfs_fetcher::pinned::for_arch(std::env::consts::ARCH)
        .expect("the test machine has a pinned architecture");
    assert_eq!(out.status.code(), Some(FAILED), "{}", stderr(&out));
    assert_one_error_line(&out, &format!("cannot download {}", pin.url));
    assert_eq!(
        server.hits("dl-cdn.alpinelinux.org:443"),
        1,
        "a CONNECT to Alpine's CDN"
    );
    assert!(place.listing().is_empty());
}
