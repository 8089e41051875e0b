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

use anyhow::bail;
use nix::mount::{MsFlags, mount};
use workshop::{SyscallError, call};

/// The run's directories are the `rundir` module's: re-exported here, where
/// `container.rs` looks for them. A glob, so that exercise 8, whose
/// `overlay` module is the learner's, re-exports them the same way.
pub use crate::rundir::*;

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
