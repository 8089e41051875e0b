//! overlayfs: a writable layer over a read-only rootfs, the way image-based
//! runtimes (Docker, podman) share one image between many containers.
//! Steps 01–07 pivot_root straight onto the unpacked Alpine tree and do not
//! need it; step08 (chapter 8) mounts each run's root as an overlay. A
//! missing overlayfs is a warning: the first seven chapters work without it.
//!
//! `/proc/filesystems` lists it once the module is loaded; a mount can load it
//! on demand, so as root we also try one: in a forked child, in a private
//! mount namespace, on a tmpfs. The host sees none of it, and the child's
//! namespace (with every mount in it) is gone when the child exits.
//! <https://docs.kernel.org/filesystems/overlayfs.html>

use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use workshop::call;

use crate::{Check, probe};

/// Is `overlay` a line of this `/proc/filesystems` text?
pub fn listed(proc_filesystems: &str) -> bool {
    proc_filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"))
}

/// The `overlayfs` line. As root it forks (call while single-threaded).
pub fn check(is_root: bool) -> Check {
    let in_list = std::fs::read_to_string("/proc/filesystems")
        .map(|t| listed(&t))
        .unwrap_or(false);
    if !is_root {
        return if in_list {
            Check::ok(
                "overlayfs",
                "listed in /proc/filesystems (a test mount needs root)",
            )
        } else {
            Check::warn(
                "overlayfs",
                "not in /proc/filesystems (it may load on first mount; trying one needs root)",
                Some(crate::system::RUN_AS_ROOT.to_owned()),
            )
        };
    }
    let tried = match tempfile::Builder::new().prefix("doctor-overlay-").tempdir() {
        Ok(dir) => probe::in_child(|| try_mount(dir.path())),
        Err(e) => Err(format!("cannot create a temporary directory: {e}")),
    };
    judge(in_list, tried)
}

/// The verdict from the list and the test mount.
pub fn judge(in_list: bool, tried: Result<String, String>) -> Check {
    let listed_note = if in_list {
        "listed in /proc/filesystems"
    } else {
        "not in /proc/filesystems until mounted"
    };
    match tried {
        Ok(detail) => Check::ok("overlayfs", format!("{listed_note}; {detail}")),
        Err(message) => Check::warn(
            "overlayfs",
            format!(
                "{listed_note}; a test mount failed: {message} (step08 needs it; steps 01–07 do not)"
            ),
            Some("sudo modprobe overlay (or a kernel with CONFIG_OVERLAY_FS)".to_owned()),
        ),
    }
}

/// Runs in the forked child.
fn try_mount(dir: &Path) -> Result<String, String> {
    let err = |e: workshop::SyscallError| e.to_string();
    call("unshare", "CLONE_NEWNS", || {
        unshare(CloneFlags::CLONE_NEWNS)
    })
    .map_err(err)?;
    // Without this a shared / would propagate our mounts back to the host.
    step05::pid::make_mounts_private().map_err(err)?;
    // overlayfs refuses some upper filesystems; tmpfs is always fine.
    call("mount", format!("\"tmpfs\", {dir:?}, \"tmpfs\""), || {
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
    })
    .map_err(err)?;
    for sub in ["lower", "upper", "work", "merged"] {
        std::fs::create_dir(dir.join(sub)).map_err(|e| format!("mkdir {sub}: {e}"))?;
    }
    std::fs::write(dir.join("lower/hello"), "from the lower layer\n")
        .map_err(|e| format!("writing lower/hello: {e}"))?;
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        dir.join("lower").display(),
        dir.join("upper").display(),
        dir.join("work").display()
    );
    let merged = dir.join("merged");
    call(
        "mount",
        format!("\"overlay\", {merged:?}, \"overlay\", {data:?}"),
        || {
            mount(
                Some("overlay"),
                &merged,
                Some("overlay"),
                MsFlags::empty(),
                Some(data.as_str()),
            )
        },
    )
    .map_err(err)?;
    // A write through the merged view must land in the upper layer only.
    std::fs::write(merged.join("hello"), "changed\n")
        .map_err(|e| format!("writing through the overlay: {e}"))?;
    let lower = std::fs::read_to_string(dir.join("lower/hello")).unwrap_or_default();
    let upper = std::fs::read_to_string(dir.join("upper/hello")).unwrap_or_default();
    if lower != "from the lower layer\n" || upper != "changed\n" {
        return Err("a write through the overlay did not go to the upper layer".to_owned());
    }
    Ok("a test mount on tmpfs in a private mount namespace works".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn overlay_is_found_in_proc_filesystems() {
        assert!(listed("nodev\tsysfs\nnodev\toverlay\n\text4\n"));
        assert!(!listed("nodev\tsysfs\n\text4\nnodev\toverlayfs-not\n"));
    }

    #[test]
    fn failed_mount_warns_and_names_the_module() {
        let c = judge(false, Err("mount(...) failed: ENODEV".into()));
        assert_eq!(c.status, Status::Warn);
        assert!(c.fix.unwrap().contains("modprobe overlay"));
        assert_eq!(judge(true, Ok("works".into())).status, Status::Ok);
    }
}
