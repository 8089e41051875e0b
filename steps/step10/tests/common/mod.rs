//! What step10's black-box tests share: a container of the test's own (a
//! `--root` and a bundle in temp directories, a unique ID, a copy of the
//! busybox rootfs), running the real `step10` binary under a time limit,
//! and looking at the host from outside.
//!
//! Every [`Ctr`] removes what it made when it is dropped, also when the
//! test panics half-way: `step10 delete --force`, then any process of its
//! still alive, its cgroup directories, and the temp directories.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const STEP10: &str = env!("CARGO_BIN_EXE_step10");

/// How long any one runtime command may take before the test calls it hung.
pub const LIMIT: Duration = Duration::from_secs(30);

/// The exit status of a runtime failure (docker's convention).
pub const RUNTIME_FAILED: i32 = 125;

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A name unique on this host for as long as this test process lives:
/// container IDs name cgroups, which every test process on the host shares.
pub fn unique(tag: &str) -> String {
    format!(
        "t10-{tag}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// Fails the test (never skips it) when not root.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "step10's tests make namespaces, mounts and cgroups: run them as root \
         (sudo -E cargo test -p step10)"
    );
}

/// What one command did.
#[derive(Debug, Clone)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts exit 0.
    #[track_caller]
    pub fn ok(&self) -> &Out {
        assert_eq!(self.code, 0, "expected success, got {self:?}");
        self
    }

    /// Asserts the contract for a runtime failure: exit 125, one line on
    /// stderr that contains `needle` (case-insensitive), nothing on stdout.
    #[track_caller]
    pub fn failed_with(&self, needle: &str) -> &Out {
        assert_eq!(self.code, RUNTIME_FAILED, "expected exit 125, got {self:?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one line on stderr, got {}: {:?}",
            lines.len(),
            self.stderr
        );
        assert!(
            lines[0]
                .to_ascii_lowercase()
                .contains(&needle.to_ascii_lowercase()),
            "the error line does not name the cause ({needle:?}): {:?}",
            lines[0]
        );
        assert!(
            self.stdout.is_empty(),
            "a failed command printed on stdout: {:?}",
            self.stdout
        );
        self
    }
}

/// A process started by [`spawn`], whose stdout and stderr go to files
/// (not pipes: a container's process inherits them and may outlive the
/// command, and a pipe would keep the reader waiting for it).
pub struct Running {
    pub child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most `limit`) and collects the outputs; a hung command is
    /// killed and fails the test.
    #[track_caller]
    pub fn wait(mut self, limit: Duration) -> Out {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for a child") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "hung for more than {limit:?}; stderr so far: {:?}",
                    fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        Out {
            code,
            stdout: fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: fs::read_to_string(&self.err).unwrap_or_default(),
        }
    }
}

/// Starts `program args` with stdin from /dev/null and stdout/stderr to
/// fresh files in `dir`.
pub fn spawn(dir: &Path, program: &str, args: &[&str]) -> Running {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let out = dir.join(format!("out-{n}"));
    let err = dir.join(format!("err-{n}"));
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out).expect("create an output file"))
        .stderr(fs::File::create(&err).expect("create an output file"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    Running { child, out, err }
}

/// Runs `program args` to the end (at most [`LIMIT`]).
#[track_caller]
pub fn run_in(dir: &Path, program: &str, args: &[&str]) -> Out {
    spawn(dir, program, args).wait(LIMIT)
}

/// Polls `cond` every 20 ms for up to `limit`.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `readlink /proc/PID/ns/KIND` from the host.
pub fn ns_of(pid: u32, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{kind}: {e}"))
}

/// `/proc/PID/cgroup`, as read from the host.
pub fn cgroup_of(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/cgroup: {e}"))
}

/// Every cgroup directory named `id` under the workshop's parent, in any
/// hierarchy: the container's, when config.json has no cgroupsPath.
pub fn cgroups_named(id: &str) -> BTreeSet<PathBuf> {
    testkit::host::workshop_cgroups()
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == id))
        .collect()
}

/// The host processes that belong to a container: in a cgroup named after
/// its ID, or with their root directory in its rootfs.
pub fn processes_of(id: &str, rootfs: &Path) -> Vec<u32> {
    let suffix = format!("/contain-rs-workshop/{id}");
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| testkit::host::alive(*pid))
        .filter(|pid| {
            let in_cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .is_ok_and(|c| c.lines().any(|l| l.ends_with(&suffix)));
            let in_rootfs =
                fs::read_link(format!("/proc/{pid}/root")).is_ok_and(|r| r.starts_with(rootfs));
            in_cgroup || in_rootfs
        })
        .collect()
}

/// A container of the test's own: `--root`, bundle, ID.
pub struct Ctr {
    pub id: String,
    /// The `--root` directory (inside `dir`).
    pub root: PathBuf,
    /// The bundle (inside `dir`): config.json and rootfs/.
    pub bundle: PathBuf,
    /// Outputs of the commands, pid files.
    pub dir: tempfile::TempDir,
    /// PIDs to make sure of at the end (the container's init).
    pids: std::cell::RefCell<Vec<u32>>,
}

impl Ctr {
    /// A bundle from `step10 spec`, the busybox rootfs copied into it,
    /// `process.args` set to `args`, then `edit` applied to the config.
    pub fn new(tag: &str, args: &[&str], edit: &dyn Fn(&mut Value)) -> Ctr {
        require_root();
        let rootfs_src = testkit::rootfs::busybox_rootfs().expect("the busybox test rootfs");
        let dir = tempfile::Builder::new()
            .prefix("step10-test-")
            .tempdir()
            .expect("a temp dir");
        let root = dir.path().join("state");
        let bundle = dir.path().join("bundle");
        fs::create_dir(&bundle).unwrap();
        let spec = run_in(
            dir.path(),
            STEP10,
            &["spec", "--bundle", bundle.to_str().unwrap()],
        );
        spec.ok();
        let copied = Command::new("cp")
            .arg("-a")
            .arg(&rootfs_src)
            .arg(bundle.join("rootfs"))
            .status()
            .expect("run cp");
        assert!(copied.success(), "cp -a the busybox rootfs");
        let ctr = Ctr {
            id: unique(tag),
            root,
            bundle,
            dir,
            pids: Default::default(),
        };
        ctr.edit_config(|c| {
            c["process"]["args"] = serde_json::json!(args);
            edit(c)
        });
        ctr
    }

    pub fn config_path(&self) -> PathBuf {
        self.bundle.join("config.json")
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }

    pub fn edit_config(&self, edit: impl FnOnce(&mut Value)) {
        let path = self.config_path();
        let mut config: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut config);
        fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    }

    /// `step10 --root R ARGS...`, to the end.
    #[track_caller]
    pub fn step10(&self, args: &[&str]) -> Out {
        self.spawn(args).wait(LIMIT)
    }

    /// `step10 --root R ARGS...`, started.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let mut all = vec!["--root", self.root.to_str().unwrap()];
        all.extend_from_slice(args);
        spawn(self.dir.path(), STEP10, &all)
    }

    /// `create --bundle B ID`, which must succeed; returns init's PID.
    #[track_caller]
    pub fn create(&self) -> u32 {
        let bundle = self.bundle.to_str().unwrap();
        self.step10(&["create", "--bundle", bundle, &self.id]).ok();
        let pid = self.pid();
        self.remember(pid);
        pid
    }

    /// `create`, then `start`: returns init's PID.
    #[track_caller]
    pub fn create_started(&self) -> u32 {
        let pid = self.create();
        self.step10(&["start", &self.id]).ok();
        pid
    }

    pub fn remember(&self, pid: u32) {
        self.pids.borrow_mut().push(pid);
    }

    /// `state ID`, parsed; the command must succeed.
    #[track_caller]
    pub fn state(&self) -> Value {
        let out = self.step10(&["state", &self.id]);
        out.ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state printed no JSON ({e}): {:?}", out.stdout))
    }

    #[track_caller]
    pub fn status(&self) -> String {
        self.state()["status"]
            .as_str()
            .unwrap_or_else(|| panic!("state has no status"))
            .to_owned()
    }

    #[track_caller]
    pub fn pid(&self) -> u32 {
        let state = self.state();
        state["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("state has no pid: {state}")) as u32
    }

    /// Waits (5 s) for `state` to say `status`.
    #[track_caller]
    pub fn wait_status(&self, status: &str) {
        let mut last = String::new();
        let ok = eventually(Duration::from_secs(5), || {
            last = self.status();
            last == status
        });
        assert!(ok, "container {} stayed {last:?}, not {status:?}", self.id);
    }

    /// The container's entry in `--root`.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(&self.id)
    }

    /// A file the container writes at `/NAME` in its rootfs, seen from the host.
    pub fn marker(&self, name: &str) -> PathBuf {
        self.rootfs().join(name)
    }

    /// Asserts that nothing of the container is left: no state entry, no
    /// cgroup, no process. (The mount table is checked by the tests, which
    /// took its snapshot before.)
    #[track_caller]
    pub fn assert_nothing_left(&self) {
        assert!(
            !self.state_dir().exists(),
            "{} is left behind",
            self.state_dir().display()
        );
        assert_eq!(
            cgroups_named(&self.id),
            BTreeSet::new(),
            "cgroup directories left behind"
        );
        let mut left = Vec::new();
        let gone = eventually(Duration::from_secs(5), || {
            left = processes_of(&self.id, &self.rootfs());
            left.is_empty()
        });
        assert!(gone, "processes of the container left behind: {left:?}");
    }
}

/// Asserts the host's mount table is what it was.
#[track_caller]
pub fn assert_mounts_unchanged(before: &BTreeSet<String>) {
    let after = testkit::host::mounts();
    let added: Vec<_> = after.difference(before).collect();
    let removed: Vec<_> = before.difference(&after).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "the host's mount table changed: added {added:?}, removed {removed:?}"
    );
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let root = self.root.to_str().unwrap_or_default().to_owned();
        let _ = Command::new(STEP10)
            .args(["--root", &root, "delete", "--force", &self.id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // Whatever the runtime did not end: this container's processes only.
        for pid in processes_of(&self.id, &self.rootfs())
            .into_iter()
            .chain(self.pids.borrow().iter().copied())
        {
            let ours = fs::read_link(format!("/proc/{pid}/root"))
                .is_ok_and(|r| r.starts_with(self.rootfs()))
                || fs::read_to_string(format!("/proc/{pid}/cgroup"))
                    .is_ok_and(|c| c.contains(&format!("/contain-rs-workshop/{}", self.id)));
            if ours {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let _ = eventually(Duration::from_secs(5), || {
            processes_of(&self.id, &self.rootfs()).is_empty()
        });
        for dir in cgroups_named(&self.id) {
            let _ = fs::remove_dir(dir);
        }
        // The temp dir goes with `self.dir`.
    }
}
