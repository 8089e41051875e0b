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
    /// Enter the rootfs with MS_MOVE and chroot instead of pivot_root, as
    /// runc's --no-pivot: only for a machine whose root is the initial
    /// ramfs, where pivot_root fails with EINVAL. Weaker: see chapter 3.
    #[arg(long)]
    pub no_pivot: bool,
}

// ANCHOR: resolve
/// Finds the rootfs to use, fetching the default one on first use, and
/// checks that it looks like a root filesystem. Runs in the parent before
/// anything is created, so a bad rootfs leaves nothing behind. It also
/// records `--no-pivot` for [`crate::mount::pivot_into`].
pub fn resolve(opt: &RootfsOpt) -> anyhow::Result<PathBuf> {
    crate::mount::set_no_pivot(opt.no_pivot);
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

/// A rootfs is a directory with something in it. Nothing more is asked of
/// it: the mount points the container needs (`/proc`, `/dev`, `/sys`,
/// `/run`) are made inside it when missing, and a command it does not have
/// ends in 127, as with `docker run`. An empty directory is refused: it is
/// a rootfs that was never unpacked.
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
    let empty = std::fs::read_dir(path)
        .with_context(|| format!("read the rootfs {}", path.display()))?
        .next()
        .is_none();
    if empty {
        bail!(
            "rootfs {} is empty, so it is not an unpacked root filesystem; fetch one with: {}",
            path.display(),
            fetch()
        );
    }
    Ok(())
}
