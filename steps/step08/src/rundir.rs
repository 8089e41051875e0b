//! Each run's own directory for its writable layer, `<container-dir>/ws-<pid>`
//! with `upper/`, `work/` and `merged/`: made by the parent before the clone,
//! removed when the container has ended, and swept at the next run when a
//! SIGKILL left it behind. [`crate::overlay`] re-exports what is here.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Where the runs' writable layers are made unless `--container-dir` says
/// otherwise: on disk beside the image store, not in memory (a container
/// may write gigabytes).
pub const DEFAULT_DIR: &str = "/var/lib/contain-rs-workshop/containers";

/// `--container-dir`.
#[derive(clap::Args, Debug, Clone)]
pub struct OverlayOpt {
    /// Where each run's writable layer (its upper and work directories) is
    /// made; removed when the container ends.
    #[arg(long, env = "WORKSHOP_CONTAINER_DIR", value_name = "DIR", default_value = DEFAULT_DIR)]
    pub container_dir: PathBuf,
}

/// One run's directories, made by the parent: removed by [`RunDir::remove`].
#[derive(Debug)]
pub struct RunDir {
    /// The process that made it: the only one that removes it (the child
    /// of a clone has a copy of this value and must not).
    pub(crate) owner: nix::unistd::Pid,
    pub path: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
}

impl RunDir {
    /// `<dir>/<id>/{upper,work,merged}`, fresh; first removes what killed
    /// runs left in `dir`.
    pub fn create(dir: &Path, id: &str) -> anyhow::Result<RunDir> {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create the container directory {}; point --container-dir at a \
                 writable directory",
                dir.display()
            )
        })?;
        sweep_stale(dir);
        let path = dir.join(id);
        let run = RunDir {
            owner: nix::unistd::getpid(),
            upper: path.join("upper"),
            work: path.join("work"),
            merged: path.join("merged"),
            path,
        };
        if run.path.exists() {
            // Our PID, left by a killed run long ago: nothing of ours yet.
            std::fs::remove_dir_all(&run.path)
                .with_context(|| format!("remove the stale {}", run.path.display()))?;
        }
        for d in [&run.path, &run.upper, &run.work, &run.merged] {
            std::fs::create_dir(d).with_context(|| format!("mkdir {}", d.display()))?;
        }
        // The upper directory becomes the container's `/`: its mode is what
        // `ls -ld /` shows inside, so give it a root directory's.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&run.upper, std::fs::Permissions::from_mode(0o755))?;
        Ok(run)
    }

    /// Removes the run's directory and everything the container wrote. The
    /// overlay mount went with the container's mount namespace, so this is
    /// an ordinary tree of files (whiteouts are device nodes 0:0, and the
    /// work directory has a mode-0 subdirectory: root removes both).
    pub fn remove(&self) -> anyhow::Result<()> {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("remove {}", self.path.display())),
        }
    }
}

impl Drop for RunDir {
    /// On every way out of the parent's `run`, errors included.
    fn drop(&mut self) {
        if nix::unistd::getpid() == self.owner {
            let _ = self.remove();
        }
    }
}

/// The `ws-<pid>` directories in `dir` whose process is gone
/// (`kill(pid, 0)` answers ESRCH): what runs killed with SIGKILL left
/// behind. A live run's directory is never among them, not even another
/// user's (EPERM); one whose PID was reused by now is left for a later
/// sweep.
pub fn stale_runs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.strip_prefix("ws-"))
                .and_then(|p| p.parse::<i32>().ok());
            pid.is_some_and(|pid| {
                let pid = nix::unistd::Pid::from_raw(pid);
                nix::sys::signal::kill(pid, None) == Err(nix::errno::Errno::ESRCH)
            })
        })
        .map(|entry| entry.path())
        .collect()
}

/// Removes every [`stale_runs`] directory of `dir`.
fn sweep_stale(dir: &Path) {
    for path in stale_runs(dir) {
        let _ = std::fs::remove_dir_all(path);
    }
}
