//! Running an implementation (a step binary, an exercise, a learner's build)
//! the way a user would, with a time limit, and looking at what it did.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// An implementation under test: a binary that keeps the step contract.
#[derive(Debug, Clone)]
pub struct Target {
    /// The binary (`target/debug/step03`, or a learner's exercise).
    pub bin: PathBuf,
    /// Which chapter's behaviour it must show (1..=7): checks of later
    /// chapters are not asked of it.
    pub step: u8,
    /// The rootfs passed as `--rootfs` from step03 on.
    pub rootfs: Option<PathBuf>,
}

/// What a run printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit status, 128+N for a signal, as a shell reports it.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// stdout without the trailing newline.
    pub fn out(&self) -> &str {
        self.stdout.trim_end()
    }
}

/// How long a single run may take before the check calls it hung.
pub const RUN_LIMIT: Duration = Duration::from_secs(30);

impl Target {
    /// A target for chapter `step`, on the busybox test rootfs from step03 on.
    pub fn new(bin: impl Into<PathBuf>, step: u8) -> anyhow::Result<Self> {
        let rootfs = if step >= 3 {
            Some(crate::rootfs::busybox_rootfs()?)
        } else {
            None
        };
        Ok(Target {
            bin: bin.into(),
            step,
            rootfs,
        })
    }

    /// The command line for `args` (runtime flags, then the command), with
    /// `--rootfs` first when the step takes one.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        if let Some(rootfs) = &self.rootfs {
            cmd.arg("--rootfs").arg(rootfs);
        }
        cmd.args(args);
        cmd.env_remove("WORKSHOP_ROOTFS");
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Like [`Target::command`] but with another rootfs (for the bad-rootfs checks).
    pub fn command_with_rootfs(&self, rootfs: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--rootfs").arg(rootfs).args(args);
        cmd.env_remove("WORKSHOP_ROOTFS");
        // Never the terminal `cargo test` may have: from step06 on a
        // terminal on stdin gives the container a pty and the terminal raw
        // mode, and tests run in parallel.
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs to the end (or [`RUN_LIMIT`]) and collects the output.
    pub fn run(&self, args: &[&str]) -> Result<Output, String> {
        run_command(self.command(args), RUN_LIMIT)
            .map_err(|e| format!("`{} {}`: {e}", self.name(), args.join(" ")))
    }

    /// The binary's file name, for messages.
    pub fn name(&self) -> String {
        self.bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.bin.display().to_string())
    }
}

/// Starts `cmd` (stdout piped, stderr dropped) and returns once it printed
/// a line `ready`, with the lines it printed before that; kills it if that
/// does not happen within 10 s. For checks that look at a running container.
pub fn start_until_ready(mut cmd: Command) -> Result<(Child, String), String> {
    use std::io::BufRead;
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut before = String::new();
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line == "ready" {
                let _ = tx.send(before);
                return;
            }
            before.push_str(&line);
            before.push('\n');
        }
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(before) => Ok((child, before)),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            Err("the container did not start its command (no `ready` within 10 s)".into())
        }
    }
}

/// A rootfs that passes the runtime's first look but whose `/proc` is a
/// file, not a directory: the setup fails inside the container, after
/// pivot_root, which is where cleanup is hardest.
pub fn rootfs_that_fails_halfway() -> Result<tempfile::TempDir, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::create_dir(dir.path().join("bin")).map_err(|e| e.to_string())?;
    std::os::unix::fs::symlink("/bin/busybox", dir.path().join("bin/sh"))
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("proc"), "not a directory\n").map_err(|e| e.to_string())?;
    Ok(dir)
}

/// A rootfs that is nothing but `bin/busybox` (a copy of the host's static
/// one) and an empty `etc/`: no `/bin/sh`, no mount points. `symlinks`
/// adds `(name, target)` links at its top level.
pub fn bare_rootfs(symlinks: &[(&str, &str)]) -> Result<tempfile::TempDir, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = dir.path();
    std::fs::create_dir_all(root.join("bin")).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(root.join("etc")).map_err(|e| e.to_string())?;
    std::fs::copy(crate::rootfs::BUSYBOX, root.join("bin/busybox")).map_err(|e| {
        format!(
            "copy {}: {e} (install busybox-static)",
            crate::rootfs::BUSYBOX
        )
    })?;
    for (name, target) in symlinks {
        std::os::unix::fs::symlink(target, root.join(name)).map_err(|e| e.to_string())?;
    }
    Ok(dir)
}
/// SIGTERM to a started runtime (so it can clean up), then wait for it.
pub fn stop(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let _ = wait_limited(child, Duration::from_secs(10));
}

/// Runs `cmd` with piped output, killing it after `limit`.
pub fn run_command(mut cmd: Command, limit: Duration) -> Result<Output, String> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let (out, err) = drain(&mut child);
    let status = wait_limited(&mut child, limit)?;
    Ok(Output {
        code: code(status),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

type Reader = std::thread::JoinHandle<String>;

/// Reads stdout and stderr on threads, so a chatty child never blocks on a full pipe.
pub fn drain(child: &mut Child) -> (Reader, Reader) {
    fn reader(mut r: impl Read + Send + 'static) -> Reader {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    }
    let out = child.stdout.take().map(reader);
    let err = child.stderr.take().map(reader);
    let empty = || std::thread::spawn(String::new);
    (out.unwrap_or_else(empty), err.unwrap_or_else(empty))
}

/// Waits at most `limit`; kills the child (and says so) when it is over.
pub fn wait_limited(child: &mut Child, limit: Duration) -> Result<ExitStatus, String> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "did not finish within {} s and was killed",
                    limit.as_secs()
                ));
            }
            Err(e) => return Err(format!("wait failed: {e}")),
        }
    }
}

/// The shell's view of an exit status: the code, or 128 + the signal.
pub fn code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Fails with a clear message unless the tests run as root.
pub fn require_root() -> Result<(), String> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(
            "these tests create namespaces, mounts and cgroups and must run as root: \
             run them with `sudo -E cargo test` (or `cargo xtask test`, which does)"
                .into(),
        )
    }
}

/// A copy of `bin` that any user can execute (the target dir may not be
/// reachable by `nobody`), removed with the returned guard.
pub fn world_executable_copy(bin: &Path) -> Result<(tempfile::TempDir, PathBuf), String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("testkit-bin-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let copy = dir.path().join(bin.file_name().unwrap_or_default());
    std::fs::copy(bin, &copy).map_err(|e| format!("copy {bin:?}: {e}"))?;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    Ok((dir, copy))
}
