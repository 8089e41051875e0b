// The checks themselves, `include!`d by the exercise's and the solution's
// `tests/checks.rs`, each with its own `BIN`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The hostname every check's config.json gives its container.
const HOSTNAME: &str = "ex10-check";

/// What one run of the runtime did (its stderr is shown, through Debug,
/// in the failure messages).
#[derive(Debug)]
#[allow(dead_code)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A container of a check's own: its bundle (config.json on the busybox
/// test rootfs, and a host directory bound at the container's /tmp), its
/// `--root`, its ID. Dropped, it is deleted with `delete --force`.
struct Container {
    root: tempfile::TempDir,
    bundle: tempfile::TempDir,
    id: String,
    created: bool,
}

impl Container {
    /// A bundle whose process runs `sh -c SCRIPT`.
    fn new(script: &str) -> Container {
        if let Err(why) = testkit::run::require_root() {
            panic!("{why}");
        }
        let rootfs = testkit::rootfs::busybox_rootfs()
            .unwrap_or_else(|e| panic!("cannot prepare the test rootfs: {e:#}"));
        static N: AtomicUsize = AtomicUsize::new(0);
        let id = format!(
            "ex10-check-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let me = Container {
            root: tempfile::tempdir().unwrap(),
            bundle: tempfile::tempdir().unwrap(),
            id,
            created: false,
        };
        std::fs::create_dir(me.out()).unwrap();
        let spec = run(&["spec", "--bundle", &me.bundle.path().display().to_string()]);
        assert_eq!(
            spec.code, 0,
            "`spec --bundle DIR` must write a default config.json: {spec:?}"
        );
        let file = me.bundle.path().join("config.json");
        let text = std::fs::read_to_string(&file).unwrap();
        let mut config: serde_json::Value = serde_json::from_str(&text).unwrap();
        config["root"]["path"] = rootfs.display().to_string().into();
        config["root"]["readonly"] = true.into();
        config["process"]["args"] = serde_json::json!(["sh", "-c", script]);
        config["hostname"] = HOSTNAME.into();
        config["mounts"]
            .as_array_mut()
            .expect("config.json has mounts")
            .push(serde_json::json!({
                "destination": "/tmp",
                "type": "bind",
                "source": me.out(),
                "options": ["rbind", "rw"]
            }));
        std::fs::write(&file, serde_json::to_string_pretty(&config).unwrap()).unwrap();
        me
    }

    /// The host directory the container sees as /tmp.
    fn out(&self) -> PathBuf {
        self.bundle.path().join("out")
    }

    /// Runs `ex10 --root ROOT ARGS...`.
    fn run(&self, args: &[&str]) -> Run {
        let root = self.root.path().display().to_string();
        let mut all = vec!["--root", &root];
        all.extend_from_slice(args);
        run(&all)
    }

    fn create(&mut self) {
        let bundle = self.bundle.path().display().to_string();
        let out = self.run(&["create", "--bundle", &bundle, &self.id]);
        self.created = true;
        assert_eq!(
            out.code, 0,
            "`create --bundle DIR ID` must create the container and return: {out:?}"
        );
    }

    fn start(&self) {
        let out = self.run(&["start", &self.id]);
        assert_eq!(
            out.code, 0,
            "`start ID` of a created container must release its process and return 0: {out:?}"
        );
    }

    /// `state ID`, parsed; its status and pid.
    fn state(&self) -> (String, Option<i64>) {
        let out = self.run(&["state", &self.id]);
        assert_eq!(out.code, 0, "`state ID` must print the container's state: {out:?}");
        let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
            panic!("`state ID` must print the state as JSON ({e}): {out:?}")
        });
        (
            json["status"].as_str().unwrap_or("(no status)").to_owned(),
            json["pid"].as_i64(),
        )
    }

    /// Waits up to 10 s for `state` to say `want`.
    fn wait_status(&self, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, _) = self.state();
            if status == want || Instant::now() > deadline {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits up to 10 s for the container to write /tmp/NAME.
    fn wait_file(&self, name: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(text) = std::fs::read_to_string(self.out().join(name)) {
                return Some(text);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.created {
            let _ = self.run(&["delete", "--force", &self.id]);
            // What a runtime whose delete failed left: its cgroups (the
            // ID is this check's own), and what still runs in them.
            testkit::host::remove_cgroups_named(&self.id);
        }
    }
}

fn run(args: &[&str]) -> Run {
    // Files, not pipes: the container's init inherits `create`'s stdout and
    // stderr and keeps them open long after `create` has returned.
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    // No command of the lifecycle may hang: 30 s, then it is killed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut status = None;
    while status.is_none() && Instant::now() < deadline {
        status = child.try_wait().ok().flatten();
        std::thread::sleep(Duration::from_millis(20));
    }
    let hung = status.is_none();
    if hung {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let text = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut text = String::new();
        let _ = f.rewind();
        let _ = f.read_to_string(&mut text);
        text
    };
    let mut stderr = text(err);
    if hung {
        stderr.push_str("\n(killed by the test: it ran for 30 s)");
    }
    Run {
        code: status.code().unwrap_or(-1),
        stdout: text(out),
        stderr,
    }
}

/// The inode of /proc/PID/ns/NAME, as `readlink` shows it: `NAME:[INODE]`.
fn ns_link(pid: impl std::fmt::Display, name: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{name}"))
        .map(|l| l.display().to_string())
        .unwrap_or_else(|e| format!("(cannot read /proc/{pid}/ns/{name}: {e})"))
}

fn exists(path: &Path) -> bool {
    path.exists()
}

#[test]
fn create_leaves_the_process_waiting_and_start_runs_it() {
    let mut c = Container::new("echo ran > /tmp/marker; exec sleep 1000");
    c.create();
    let (status, pid) = c.state();
    assert_eq!(
        status, "created",
        "right after `create`, `state` must say the container is created (its process waits \
         for `start` on exec.fifo)"
    );
    assert!(
        pid.is_some(),
        "`state` of a created container must give its process's pid"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !exists(&c.out().join("marker")),
        "the container's command ran before `start`: after `create` its process must wait \
         (blocked opening exec.fifo for writing) until `start` opens it"
    );
    c.start();
    assert!(
        c.wait_file("marker").is_some(),
        "after `start` the container's command must run (it writes /tmp/marker): start \
         must open exec.fifo, read init's byte and let it exec"
    );
    assert_eq!(
        c.state().0,
        "running",
        "after `start`, with its command still running, `state` must say running (the FIFO \
         is gone, the process alive)"
    );
}

#[test]
fn kill_stops_the_container_and_delete_removes_it() {
    let mut c = Container::new("exec sleep 1000");
    c.create();
    c.start();
    let out = c.run(&["kill", &c.id, "KILL"]);
    assert_eq!(out.code, 0, "`kill ID KILL` of a running container: {out:?}");
    assert_eq!(
        c.wait_status("stopped"),
        "stopped",
        "after `kill ID KILL` the container's process is gone: `state` must say stopped"
    );
    let out = c.run(&["delete", &c.id]);
    assert_eq!(out.code, 0, "`delete ID` of a stopped container must remove it: {out:?}");
    let out = c.run(&["state", &c.id]);
    assert_ne!(
        out.code, 0,
        "after `delete ID`, `state ID` must fail: the container no longer exists ({out:?})"
    );
    assert!(
        !exists(&c.root.path().join(&c.id)),
        "after `delete ID` its state directory under --root must be gone"
    );
}

#[test]
fn a_container_whose_command_ended_is_stopped() {
    let mut c = Container::new("echo ran > /tmp/marker");
    c.create();
    c.start();
    assert!(
        c.wait_file("marker").is_some(),
        "after `start` the container's command must run (it writes /tmp/marker)"
    );
    assert_eq!(
        c.wait_status("stopped"),
        "stopped",
        "the container's command has ended: `state` must say stopped (its pid is a zombie \
         or gone, whatever the state directory says)"
    );
}

#[test]
fn a_created_container_killed_before_start_is_stopped() {
    let mut c = Container::new("echo ran > /tmp/marker");
    c.create();
    let out = c.run(&["kill", &c.id, "KILL"]);
    assert_eq!(out.code, 0, "`kill ID KILL` of a created container: {out:?}");
    assert_eq!(
        c.wait_status("stopped"),
        "stopped",
        "the created container's process was killed before `start`: `state` must say \
         stopped, though exec.fifo is still there"
    );
    assert!(
        !exists(&c.out().join("marker")),
        "the container's command ran though it was killed before `start`"
    );
    let out = c.run(&["start", &c.id]);
    assert_ne!(
        out.code, 0,
        "`start` of a stopped container must fail, not hang or succeed ({out:?})"
    );
}

#[test]
fn exec_runs_in_the_container_s_namespaces() {
    let mut c = Container::new("exec sleep 1000");
    c.create();
    c.start();
    let (status, pid) = c.state();
    assert_eq!(status, "running", "after `start` `state` must say running");
    let pid = pid.expect("`state` of a running container gives its pid");
    let out = c.run(&["exec", &c.id, "hostname"]);
    assert_eq!(
        (out.code, out.stdout.trim()),
        (0, HOSTNAME),
        "`exec ID hostname` must print the container's hostname ({HOSTNAME}): exec must \
         join its UTS namespace ({out:?})"
    );
    for ns in ["pid", "mnt", "net", "ipc"] {
        let theirs = ns_link(pid, ns);
        let out = c.run(&["exec", &c.id, "readlink", &format!("/proc/self/ns/{ns}")]);
        assert_eq!(
            (out.code, out.stdout.trim()),
            (0, theirs.as_str()),
            "`exec ID readlink /proc/self/ns/{ns}` must show the container's {ns} namespace \
             ({theirs}, /proc/{pid}/ns/{ns} seen from the host): exec must join it ({out:?})"
        );
        assert_ne!(
            theirs,
            ns_link("self", ns),
            "the container's {ns} namespace must not be the host's"
        );
    }
    let out = c.run(&["exec", &c.id, "cat", "/proc/1/cmdline"]);
    assert_eq!(
        (out.code, out.stdout.replace('\0', " ").trim()),
        (0, "sleep 1000"),
        "`exec ID cat /proc/1/cmdline` must show the container's own process as PID 1: exec \
         must enter its PID namespace (and fork, for the command to be in it) ({out:?})"
    );
}
