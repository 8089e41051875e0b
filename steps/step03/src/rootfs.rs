//! Where the container's root filesystem comes from: `--rootfs DIR`, the
//! `WORKSHOP_ROOTFS` variable, or the default place the `rootfs-fetcher`
//! unpacks Alpine into (fetched there on first use).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// `--rootfs DIR`: present from step03 on.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RootfsOpt {
    /// The unpacked root filesystem to run in. Default: the Alpine minirootfs
    /// the rootfs-fetcher keeps at /var/lib/contain-rs-workshop/rootfs,
    /// fetched there on first use.
    #[arg(long, env = "WORKSHOP_ROOTFS", value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
}

// ANCHOR: resolve
/// Finds the rootfs to use, fetching the default one on first use, and
/// checks that it looks like a root filesystem. Runs in the parent before
/// anything is created, so a bad rootfs leaves nothing behind.
pub fn resolve(opt: &RootfsOpt) -> anyhow::Result<PathBuf> {
    let path = match &opt.rootfs {
        Some(path) => path.clone(),
        None => {
            let dest = rootfs_fetcher::default_dest();
            if matches!(
                rootfs_fetcher::status(&dest),
                rootfs_fetcher::Status::Missing
            ) {
                fetch_default(&dest)?;
            }
            dest
        }
    };
    check(&path)?;
    path.canonicalize()
        .with_context(|| format!("canonicalize({path:?})"))
}
// ANCHOR_END: resolve

fn fetch_default(dest: &Path) -> anyhow::Result<()> {
    eprintln!(
        "{}: no rootfs at {} yet: fetching the Alpine minirootfs (first use)",
        workshop::explain::program(),
        dest.display()
    );
    let fetched = rootfs_fetcher::Options::pinned_for_host(dest.to_path_buf())
        .and_then(|opts| rootfs_fetcher::fetch(&opts));
    if let Err(err) = fetched {
        bail!(
            "no rootfs at {} and fetching it failed ({err}); fetch it with: {}",
            dest.display(),
            rootfs_fetcher::fetch_command(dest)
        );
    }
    Ok(())
}

/// A rootfs is a directory with a `/bin/sh` in it (often a symlink to busybox,
/// which is why the link itself is looked at, not what it points to on the host).
pub fn check(path: &Path) -> anyhow::Result<()> {
    let fetch = || rootfs_fetcher::fetch_command(path);
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "rootfs {} does not exist; fetch it with: {}",
                path.display(),
                fetch()
            )
        }
        Err(err) => bail!("rootfs {}: {err}", path.display()),
    };
    if !meta.is_dir() {
        bail!(
            "rootfs {} is not a directory; point --rootfs at an unpacked root filesystem (fetch one with: {})",
            path.display(),
            fetch()
        );
    }
    if std::fs::symlink_metadata(path.join("bin/sh")).is_err() {
        bail!(
            "rootfs {} has no /bin/sh, so it is not an unpacked root filesystem; fetch one with: {}",
            path.display(),
            fetch()
        );
    }
    Ok(())
}
