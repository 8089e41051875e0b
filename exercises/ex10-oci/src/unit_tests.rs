//! Your functions one at a time, on real processes, FIFOs and namespaces:
//! [`status`] against records of a live process (this test's own), a dead
//! one and a reused PID; [`wait_for_start`] and [`release`] each against
//! the test playing the other side of a real FIFO in a temporary
//! directory; [`join_namespaces`] from a forked child into the namespaces
//! of another that made its own. Namespaces need root, as every test of the
//! workshop does (`cargo test` runs them through sudo). The same tests run
//! against the solution.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::{ContainerState, LinuxNamespaceType};

use crate::lifecycle::{join_namespaces, release, status, wait_for_start};
use crate::state::{self, Record};
use testkit::forked::{catching, in_child};

fn root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (namespaces, mounts): sudo -E cargo test -p ex10"
    );
}

fn read_all(fd: OwnedFd) -> String {
    let mut text = String::new();
    let _ = std::fs::File::from(fd).read_to_string(&mut text);
    text
}

/// A forked child that sets itself up (`setup`: new namespaces, say) and
/// then waits, as a container's init does, until dropped.
struct Holder {
    pid: Pid,
    go: Option<OwnedFd>,
}

impl Holder {
    fn new(setup: impl FnOnce() -> Result<(), String>) -> Holder {
        let (ready_r, ready_w) = nix::unistd::pipe().unwrap();
        let (go_r, go_w) = nix::unistd::pipe().unwrap();
        // SAFETY: as in `in_child`: syscalls, pipes, then _exit.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                drop((ready_r, go_w));
                let ready = match catching(setup) {
                    Ok(Ok(())) => "ready".to_owned(),
                    Ok(Err(e)) => e,
                    Err(p) => p,
                };
                let _ = std::fs::File::from(ready_w).write_all(ready.as_bytes());
                let mut byte = [0u8; 1];
                // Returns at end-of-file: when the test drops us.
                let _ = nix::unistd::read(&go_r, &mut byte);
                // SAFETY: ends the forked child without the parent's destructors.
                unsafe { libc::_exit(0) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop((ready_w, go_r));
                let ready = read_all(ready_r);
                let me = Holder {
                    pid: child,
                    go: Some(go_w),
                };
                assert_eq!(ready, "ready", "the test's child setting itself up");
                me
            }
        }
    }

    /// Ends the child and waits for it.
    fn end(&mut self) {
        if self.go.take().is_some() {
            let _ = nix::sys::wait::waitpid(self.pid, None);
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.end();
    }
}

/// The inode of /proc/PID/ns/NAME: which namespace it is.
fn ns_inode(pid: impl std::fmt::Display, name: &str) -> String {
    std::fs::metadata(format!("/proc/{pid}/ns/{name}"))
        .map(|m| m.ino().to_string())
        .unwrap_or_else(|e| format!("(cannot stat /proc/{pid}/ns/{name}: {e})"))
}

fn record(pid: i32, start_time: u64) -> Record {
    Record {
        id: "unit".to_owned(),
        pid,
        start_time,
        bundle: PathBuf::from("/nonexistent-bundle"),
        cgroups: Vec::new(),
        created: state::now_rfc3339(),
    }
}

fn status_of(record: &Record, fifo_exists: bool) -> ContainerState {
    catching(|| status(record, fifo_exists)).unwrap_or_else(|p| panic!("status {p}"))
}

// ----------------------------------------------------------------- status

#[test]
fn a_live_process_is_created_while_the_fifo_is_there_then_running() {
    let me = std::process::id() as i32;
    let started = state::start_time(me).expect("this test's own start time");
    let live = record(me, started);
    assert_eq!(
        status_of(&live, true),
        ContainerState::Created,
        "the record's PID is alive with the recorded start time and exec.fifo is there \
         (init waits on it): the container is created"
    );
    assert_eq!(
        status_of(&live, false),
        ContainerState::Running,
        "the record's PID is alive with the recorded start time and exec.fifo is gone \
         (start removed it): the container is running"
    );
}

#[test]
fn an_ended_process_is_stopped_zombie_or_reaped() {
    let (go_r, go_w) = nix::unistd::pipe().unwrap();
    // SAFETY: the child only reads a pipe and calls _exit.
    let child = match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            drop(go_w);
            let mut byte = [0u8; 1];
            let _ = nix::unistd::read(&go_r, &mut byte);
            // SAFETY: ends the forked child without the parent's destructors.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => child,
    };
    drop(go_r);
    let started = state::start_time(child.as_raw());
    drop(go_w);
    // The child ends; until we wait for it, it is a zombie.
    let mut zombie = false;
    for _ in 0..200 {
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'))
        {
            zombie = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = started.expect("the child's start time while it ran");
    let ended = record(child.as_raw(), started);
    let as_zombie = catching(|| status(&ended, false));
    let _ = nix::sys::wait::waitpid(child, None);
    assert!(zombie, "the test's child did not become a zombie");
    assert_eq!(
        as_zombie.unwrap_or_else(|p| panic!("status {p}")),
        ContainerState::Stopped,
        "the record's process has ended (a zombie: its parent has not waited for it yet, \
         state::start_time says None): the container is stopped"
    );
    assert_eq!(
        status_of(&ended, false),
        ContainerState::Stopped,
        "no process has the record's PID any more: the container is stopped, FIFO gone"
    );
    assert_eq!(
        status_of(&ended, true),
        ContainerState::Stopped,
        "no process has the record's PID any more: the container is stopped, even with \
         exec.fifo still there (init died before start)"
    );
}

#[test]
fn a_pid_taken_by_another_process_is_stopped() {
    let me = std::process::id() as i32;
    let started = state::start_time(me).expect("this test's own start time");
    // This process is alive, but it is not the one `create` recorded: that
    // one started earlier, ended, and its PID went to us.
    let reused = record(me, started.saturating_sub(1));
    assert_eq!(
        status_of(&reused, false),
        ContainerState::Stopped,
        "a process has the record's PID, but its start time (field 22 of /proc/PID/stat) \
         is not the recorded one: the PID was reused, the container is stopped"
    );
    assert_eq!(
        status_of(&reused, true),
        ContainerState::Stopped,
        "the record's PID was reused (start time differs) and exec.fifo is there: stopped \
         all the same"
    );
}

// ------------------------------------------------- wait_for_start, release

/// A temporary state directory with an exec.fifo in it, as `create` makes.
fn fifo_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join(state::EXEC_FIFO);
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
    (dir, fifo)
}

fn open_dir(path: &Path) -> OwnedFd {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap()
}

/// Opens the FIFO for reading without waiting, and what a writer sent
/// within `patience`.
fn read_fifo(fifo: &Path, patience: Duration) -> (OwnedFd, Vec<u8>) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let end = nix::fcntl::open(
        fifo,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + patience;
    while std::time::Instant::now() < deadline {
        let mut fds = [PollFd::new(end.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(100u16));
        let mut buf = [0u8; 16];
        match nix::unistd::read(&end, &mut buf) {
            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => {}
        }
        if !got.is_empty() {
            // A moment for anything more the writer sends.
            std::thread::sleep(Duration::from_millis(100));
            if let Ok(n) = nix::unistd::read(&end, &mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
            break;
        }
    }
    (end, got)
}

#[test]
fn wait_for_start_blocks_until_start_opens_the_fifo_then_writes_a_byte() {
    let (dir, fifo) = fifo_dir();
    let state_dir = open_dir(dir.path());
    let (done_w, done_r) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let result = catching(|| wait_for_start(&state_dir).map_err(|e| format!("{e:#}")));
        let _ = done_w.send(result);
    });
    let early = done_r.recv_timeout(Duration::from_millis(500));
    if let Ok(result) = early {
        let _ = waiter.join();
        if let Err(p) = result {
            panic!("wait_for_start {p}");
        }
        panic!(
            "wait_for_start returned before anyone opened exec.fifo for reading ({result:?}): \
             init must block in its open(O_WRONLY) of the FIFO until start opens the other end"
        );
    }
    let (_end, got) = read_fifo(&fifo, Duration::from_secs(5));
    let result = done_r.recv_timeout(Duration::from_secs(5));
    let _ = waiter.join();
    match result {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => {
            panic!("wait_for_start returned an error once start opened the FIFO: {e}")
        }
        Ok(Err(p)) => panic!("wait_for_start {p}"),
        Err(_) => panic!("wait_for_start did not return once start opened the FIFO for reading"),
    }
    assert_eq!(
        got.len(),
        1,
        "start read {got:?} from exec.fifo: wait_for_start must write exactly one byte once \
         its open returns (start waits for it as the proof that init is alive)"
    );
}

#[test]
fn wait_for_start_finds_the_fifo_by_the_directory_not_its_path() {
    let (dir, _fifo) = fifo_dir();
    let state_dir = open_dir(dir.path());
    // As after pivot_root: the state directory's path no longer leads to
    // it; only the descriptor does.
    let moved = dir.path().with_extension("moved");
    std::fs::rename(dir.path(), &moved).unwrap();
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _remove = Remove(moved.clone());
    let (done_w, done_r) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let result = catching(|| wait_for_start(&state_dir).map_err(|e| format!("{e:#}")));
        let _ = done_w.send(result);
    });
    let (_end, got) = read_fifo(&moved.join(state::EXEC_FIFO), Duration::from_secs(5));
    let result = done_r.recv_timeout(Duration::from_secs(5));
    let _ = waiter.join();
    match result {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => panic!(
            "wait_for_start with the state directory moved (its descriptor still leads to \
             it, as after pivot_root) failed: open exec.fifo relative to the descriptor \
             (openat): {e}"
        ),
        Ok(Err(p)) => panic!("wait_for_start {p}"),
        Err(_) => panic!("wait_for_start did not return once start opened the FIFO for reading"),
    }
    assert_eq!(
        got.len(),
        1,
        "start read {got:?} from exec.fifo: one byte expected"
    );
}

#[test]
fn wait_for_start_without_a_fifo_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = open_dir(dir.path());
    let result =
        catching(|| wait_for_start(&state_dir)).unwrap_or_else(|p| panic!("wait_for_start {p}"));
    assert!(
        result.is_err(),
        "the state directory has no exec.fifo: wait_for_start must return an error, not \
         wait or succeed"
    );
}

/// Plays init: opens the FIFO for writing (blocking until a reader comes),
/// then, after `delay`, writes `byte` (or nothing) and closes it.
fn fake_init(fifo: &Path, delay: Duration, byte: Option<u8>) -> std::thread::JoinHandle<String> {
    let fifo = fifo.to_owned();
    std::thread::spawn(move || {
        let mut f = match std::fs::OpenOptions::new().write(true).open(&fifo) {
            Ok(f) => f,
            Err(e) => return format!("open: {e}"),
        };
        std::thread::sleep(delay);
        if let Some(b) = byte {
            if let Err(e) = f.write_all(&[b]) {
                return format!("write: {e}");
            }
        }
        "ok".to_owned()
    })
}

/// Unblocks a fake init that is still waiting in its open, or that has
/// not reached its open yet: the reader stays open until it is dropped,
/// after the fake init has been joined.
#[must_use]
fn unblock(fifo: &Path) -> Option<std::os::fd::OwnedFd> {
    nix::fcntl::open(fifo, OFlag::O_RDONLY | OFlag::O_NONBLOCK, Mode::empty()).ok()
}

#[test]
fn release_opens_without_waiting_reads_init_s_byte_and_removes_the_fifo() {
    let (_dir, fifo) = fifo_dir();
    // init writes its byte a moment after its open returns.
    let init = fake_init(&fifo, Duration::from_millis(300), Some(b'0'));
    let (done_w, done_r) = mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || {
        let _ = done_w.send(catching(|| release(&path).map_err(|e| format!("{e:#}"))));
    });
    let result = done_r.recv_timeout(Duration::from_secs(12));
    let _reader = unblock(&fifo);
    let init = init.join().unwrap_or_default();
    match result {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => panic!(
            "release failed though init opened the FIFO and wrote its byte 0.3 s later: \
             wait for it (poll) before reading: {e}"
        ),
        Ok(Err(p)) => panic!("release {p}"),
        Err(_) => panic!("release did not return within 12 s though init wrote its byte"),
    }
    assert_eq!(init, "ok", "the test's fake init");
    assert!(
        !fifo.exists(),
        "release returned Ok, but exec.fifo is still there: remove it, so that every later \
         command sees the container running"
    );
}

#[test]
fn release_of_an_init_that_ended_without_its_byte_is_an_error() {
    let (_dir, fifo) = fifo_dir();
    // init opens the FIFO, then dies before writing.
    let init = fake_init(&fifo, Duration::ZERO, None);
    let (done_w, done_r) = mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || {
        let _ = done_w.send(catching(|| release(&path).map_err(|e| format!("{e:#}"))));
    });
    let result = done_r.recv_timeout(Duration::from_secs(12));
    let _reader = unblock(&fifo);
    let _ = init.join();
    match result {
        Ok(Ok(Err(_))) => {}
        Ok(Ok(Ok(()))) => panic!(
            "init opened exec.fifo and closed it without writing (it died): release must \
             return an error saying init did not answer, not Ok"
        ),
        Ok(Err(p)) => panic!("release {p}"),
        Err(_) => panic!("release did not return within 12 s after init closed the FIFO"),
    }
    assert!(
        fifo.exists(),
        "release failed (no byte from init), yet removed exec.fifo: a container that was \
         never started must not look running"
    );
}

// --------------------------------------------------------- join_namespaces

const HOSTNAME: &str = "ex10-unit-joined";

/// A holder in a new UTS namespace (and `more`), with [`HOSTNAME`].
fn uts_holder(more: nix::sched::CloneFlags) -> Holder {
    Holder::new(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS | more)
            .map_err(|e| format!("unshare: {e}"))?;
        nix::unistd::sethostname(HOSTNAME).map_err(|e| format!("sethostname: {e}"))
    })
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|e| format!("(gethostname: {e})"))
}

/// join_namespaces in a child of its own; its outcome, then what `after`
/// sees there, a line each.
fn joined(pid: Pid, types: Vec<LinuxNamespaceType>, after: fn() -> String) -> (String, String) {
    let report = in_child(move || {
        let outcome = match catching(|| join_namespaces(pid.as_raw(), &types)) {
            Ok(Ok(())) => "Ok".to_owned(),
            Ok(Err(e)) => format!("Err: {e:#}"),
            Err(p) => p,
        };
        format!("{outcome}\n{}", after())
    });
    let (outcome, seen) = report.split_once('\n').unwrap_or((&report, ""));
    (outcome.to_owned(), seen.to_owned())
}

#[test]
fn join_namespaces_enters_the_uts_namespace_of_the_process() {
    root();
    let holder = uts_holder(nix::sched::CloneFlags::empty());
    let theirs = ns_inode(holder.pid, "uts");
    let (outcome, seen) = joined(holder.pid, vec![LinuxNamespaceType::Uts], || {
        format!("{} {}", hostname(), ns_inode("self", "uts"))
    });
    assert_eq!(
        outcome, "Ok",
        "join_namespaces(PID, [Uts]) of a process in a UTS namespace of its own"
    );
    assert_eq!(
        seen,
        format!("{HOSTNAME} {theirs}"),
        "after join_namespaces(PID, [Uts]) the caller's hostname and /proc/self/ns/uts \
         must be the process's ({HOSTNAME}, inode {theirs}): setns(2) on /proc/PID/ns/uts"
    );
}

#[test]
fn join_namespaces_opens_every_file_before_entering_the_mount_namespace() {
    root();
    // The holder's mount namespace has a /proc of its own, a tmpfs with a
    // marker: once in it, /proc/PID/ns/... of the host are out of sight.
    let holder = Holder::new(|| {
        use nix::mount::{MsFlags, mount};
        use nix::sched::CloneFlags;
        nix::sched::unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS)
            .map_err(|e| format!("unshare: {e}"))?;
        nix::unistd::sethostname(HOSTNAME).map_err(|e| format!("sethostname: {e}"))?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| format!("make / private: {e}"))?;
        mount(
            Some("tmpfs"),
            "/proc",
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|e| format!("tmpfs on /proc: {e}"))?;
        std::fs::write("/proc/ex10-marker", "x").map_err(|e| format!("marker: {e}"))
    });
    // Mount listed first: join_namespaces must still enter it last.
    let types = vec![LinuxNamespaceType::Mount, LinuxNamespaceType::Uts];
    let (outcome, seen) = joined(holder.pid, types, || {
        format!("{} {}", hostname(), Path::new("/proc/ex10-marker").exists())
    });
    assert_eq!(
        outcome, "Ok",
        "join_namespaces(PID, [Mount, Uts]) of a process whose mount namespace has its own \
         /proc: open every /proc/PID/ns file first, then setns, the mount namespace last \
         (once in it, the host's /proc/PID is out of sight)"
    );
    assert_eq!(
        seen,
        format!("{HOSTNAME} true"),
        "after join_namespaces(PID, [Mount, Uts]): the process's hostname and its mounts \
         (a marker file on its /proc) must be the caller's"
    );
}

#[test]
fn join_namespaces_enters_the_user_namespace_first() {
    root();
    // An ordinary user (no capabilities on the host) joins the namespaces
    // of its own process, which made a user namespace and a UTS namespace
    // in it: as a rootless runtime's exec. setns(2) of the UTS namespace
    // needs CAP_SYS_ADMIN in the caller's user namespace too, which the
    // user has only once in the new one.
    let report = in_child(|| {
        let (uid, gid) = (
            nix::unistd::Uid::from_raw(3_000_000),
            nix::unistd::Gid::from_raw(3_100_000),
        );
        let dropped = (|| {
            nix::unistd::setgroups(&[])?;
            nix::unistd::setresgid(gid, gid, gid)?;
            nix::unistd::setresuid(uid, uid, uid)?;
            // Changing uid made us undumpable: /proc/PID/ns of our child
            // would be root's. We are an ordinary user's runtime.
            nix::sys::prctl::set_dumpable(true)
        })();
        if let Err(e) = dropped {
            return format!("the test could not become uid {uid}: {e}\n");
        }
        let holder = uts_holder(nix::sched::CloneFlags::CLONE_NEWUSER);
        // User listed last: join_namespaces must still enter it first.
        let types = vec![LinuxNamespaceType::Uts, LinuxNamespaceType::User];
        let (outcome, seen) = joined(holder.pid, types, hostname);
        format!("{outcome}\n{seen}")
    });
    let (outcome, seen) = report.split_once('\n').unwrap_or((&report, ""));
    assert_eq!(
        outcome, "Ok",
        "join_namespaces(PID, [Uts, User]) run by an ordinary user, of its own process in a \
         new user namespace: setns into the user namespace first (it gives the capabilities \
         the other setns need), whatever the order of `types`"
    );
    assert_eq!(
        seen, HOSTNAME,
        "after join_namespaces(PID, [Uts, User]): the hostname"
    );
}

#[test]
fn join_namespaces_skips_the_namespaces_the_caller_is_in_already() {
    root();
    // The holder shares our user namespace: setns into it would be EINVAL.
    let holder = uts_holder(nix::sched::CloneFlags::empty());
    let types = vec![LinuxNamespaceType::User, LinuxNamespaceType::Uts];
    let (outcome, seen) = joined(holder.pid, types, hostname);
    assert_eq!(
        outcome, "Ok",
        "join_namespaces(PID, [User, Uts]) of a process in our own user namespace: skip a \
         namespace the caller is in already (setns into one's own user namespace fails \
         with EINVAL)"
    );
    assert_eq!(
        seen, HOSTNAME,
        "after join_namespaces(PID, [User, Uts]): the hostname"
    );
}

#[test]
fn join_namespaces_of_a_process_that_is_gone_is_an_error() {
    root();
    let mut holder = uts_holder(nix::sched::CloneFlags::empty());
    let pid = holder.pid;
    holder.end();
    let (outcome, _) = joined(pid, vec![LinuxNamespaceType::Uts], String::new);
    assert!(
        outcome.starts_with("Err") && outcome.contains(&format!("/proc/{pid}/ns/uts")),
        "join_namespaces of a PID with no process must return an error that names the file \
         it could not open (/proc/{pid}/ns/uts); it gave {outcome:?}"
    );
}
