//! Each run's own writable layer: overlayfs with the rootfs (or an image's
//! layers) as read-only lower layers.
//!
//! ```text
//!            merged/   what the container sees as /  (mounted in its mount namespace)
//!              │
//!   upper/  ───┤  this run's writes: new files, copied-up files, whiteouts
//!   lower 3 ───┤  read-only: the image's top layer
//!   lower 2 ───┤
//!   lower 1 ───┘  read-only: the base layer (or --rootfs)
//!   work/        overlayfs's scratch space, on the same filesystem as upper/
//! ```
//!
//! The parent makes `<container-dir>/ws-<pid>/{upper,work,merged}` before the
//! clone; PID 1 mounts the overlay on `merged` inside the container's own
//! mount namespace (so the host never has the mount, and it disappears with
//! the namespace), and pivots into it. When the container has ended the
//! parent removes the directory, and with it everything the container wrote.
//! A run killed before that leaves its directory behind; the next run removes
//! every `ws-<pid>` whose process is gone, as chapter 5 does for cgroups.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::mount::{MsFlags, mount};
use workshop::{SyscallError, call};

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
    owner: nix::unistd::Pid,
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

/// Removes every `ws-<pid>` in `dir` whose process no longer runs: what a
/// run killed with SIGKILL left behind. A directory of a live run is never
/// touched; one whose PID was reused by now is left for a later sweep.
fn sweep_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("ws-"))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The overlay mount's option string: `lowerdir=TOP:...:BASE,upperdir=..,workdir=..`.
/// `lowers` comes base first, the order in which layers are applied;
/// overlayfs wants the top layer first. Paths with `:` or `,` (the
/// separators) or longer than a page in all are refused here, in the
/// parent, before anything is created.
pub fn options(lowers: &[PathBuf], run: &RunDir) -> anyhow::Result<String> {
    if lowers.is_empty() {
        bail!("an overlay needs at least one lower layer");
    }
    let mut dirs: Vec<&Path> = lowers.iter().rev().map(PathBuf::as_path).collect();
    dirs.extend([run.upper.as_path(), run.work.as_path()]);
    for dir in &dirs {
        let s = dir.to_str().unwrap_or_default();
        if s.is_empty() || s.contains([':', ',', '\\']) {
            bail!(
                "{} cannot be a layer of an overlay mount (its path must be UTF-8 without \
                 ':', ',' or '\\'); move it or use another --container-dir",
                dir.display()
            );
        }
    }
    let list = |ds: &[&Path]| {
        ds.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    };
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        list(&dirs[..lowers.len()]),
        run.upper.display(),
        run.work.display()
    );
    // mount(2) copies at most one page of options.
    if opts.len() >= 4096 {
        bail!(
            "{} layers make an overlay option string of {} bytes, more than mount(2) takes \
             (4095); use an image with fewer layers or a shorter --image-store path",
            lowers.len(),
            opts.len()
        );
    }
    Ok(opts)
}

// ANCHOR: mount
/// In the container's mount namespace (mounts already private): the
/// overlay on `run.merged`, which becomes the container's root. The
/// lower layers are never written: a write copies the file up into
/// `upper/` first, a delete leaves a whiteout there.
pub fn mount_overlay(options: &str, run: &RunDir) -> Result<PathBuf, SyscallError> {
    let merged = &run.merged;
    call(
        "mount",
        format!("\"overlay\", {merged:?}, \"overlay\", 0, {options:?}"),
        || {
            mount(
                Some("overlay"),
                merged,
                Some("overlay"),
                MsFlags::empty(),
                Some(options),
            )
        },
    )?;
    Ok(merged.clone())
}
// ANCHOR_END: mount

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &str) -> RunDir {
        let path = PathBuf::from(dir);
        RunDir {
            owner: nix::unistd::getpid(),
            upper: path.join("upper"),
            work: path.join("work"),
            merged: path.join("merged"),
            path,
        }
    }

    #[test]
    fn lowers_go_top_first() {
        let lowers = [PathBuf::from("/l/base"), PathBuf::from("/l/top")];
        assert_eq!(
            options(&lowers, &run("/c/ws-1")).unwrap(),
            "lowerdir=/l/top:/l/base,upperdir=/c/ws-1/upper,workdir=/c/ws-1/work"
        );
    }

    #[test]
    fn separators_in_paths_are_refused() {
        for bad in ["/l/a:b", "/l/a,b"] {
            let err = options(&[PathBuf::from(bad)], &run("/c/ws-1")).unwrap_err();
            assert!(err.to_string().contains("cannot be a layer"), "{err}");
        }
        assert!(options(&[], &run("/c/ws-1")).is_err());
    }

    #[test]
    fn more_than_a_page_is_refused() {
        let lowers: Vec<PathBuf> = (0..60)
            .map(|i| {
                PathBuf::from(format!(
                    "/var/lib/contain-rs-workshop/images/layers/{i:064}"
                ))
            })
            .collect();
        let err = options(&lowers, &run("/c/ws-1")).unwrap_err();
        assert!(err.to_string().contains("4095"), "{err}");
    }
}
