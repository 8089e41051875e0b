//! The kernel the VM boots: a Debian kernel package, downloaded with
//! `apt-get download` into `target/vm/debs/` once and unpacked with
//! `dpkg-deb -x`, and the `veth.ko` and `overlay.ko` that match it (veth
//! and overlayfs are modules in Debian's kernels; busybox's insmod loads
//! them in the VM).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::{output, read, which};

/// A kernel unpacked from its Debian package.
pub struct Kernel {
    /// `6.1.0-56-cloud-amd64`.
    pub release: String,
    pub vmlinuz: PathBuf,
    /// `veth.ko` (possibly compressed), when veth is a module.
    pub veth: Option<PathBuf>,
    /// `overlay.ko` (possibly compressed), when overlayfs is a module.
    pub overlay: Option<PathBuf>,
}

/// The .deb of the kernel `meta` depends on, downloaded into `debs` unless
/// it is there already.
pub fn fetch(meta: &str, debs: &Path) -> Result<PathBuf> {
    fs::create_dir_all(debs).with_context(|| format!("create {}", debs.display()))?;
    let depends = output(Command::new("apt-cache").args(["depends", meta])).unwrap_or_default();
    let Some(package) = versioned_kernel(&depends) else {
        // Offline, or no package lists: a kernel fetched earlier will do.
        if let Some(cached) = newest_deb(debs)? {
            eprintln!(
                "vm-test: apt-cache does not know {meta} (run apt-get update?); using {}",
                cached.display()
            );
            return Ok(cached);
        }
        bail!(
            "cannot tell which kernel {meta} is: `apt-cache depends {meta}` names no linux-image package; \
             run apt-get update, or pass --kernel-deb FILE"
        );
    };
    let prefix = format!("{package}_");
    if let Some(deb) = debs_in(debs)?
        .into_iter()
        .find(|d| file_name(d).starts_with(&prefix))
    {
        return Ok(deb);
    }
    eprintln!("vm-test: downloading {package} into {}", debs.display());
    output(
        Command::new("apt-get")
            .args(["download", "-q", &package])
            .current_dir(debs),
    )
    .with_context(|| format!("apt-get download {package}"))?;
    debs_in(debs)?
        .into_iter()
        .find(|d| file_name(d).starts_with(&prefix))
        .with_context(|| {
            format!(
                "apt-get download {package} left no {prefix}*.deb in {}",
                debs.display()
            )
        })
}

/// The `linux-image-…` package in `apt-cache depends` output.
pub fn versioned_kernel(depends: &str) -> Option<String> {
    depends.lines().find_map(|line| {
        let name = line.trim().strip_prefix("Depends:")?.trim();
        name.starts_with("linux-image-").then(|| name.to_owned())
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn debs_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut debs: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = file_name(p);
            name.starts_with("linux-image-") && name.ends_with(".deb")
        })
        .collect();
    debs.sort();
    Ok(debs)
}

fn newest_deb(dir: &Path) -> Result<Option<PathBuf>> {
    let mut debs = debs_in(dir)?;
    debs.sort_by_key(|d| d.metadata().and_then(|m| m.modified()).ok());
    Ok(debs.pop())
}

/// Unpacks `deb` under `into/<its name>/` (once) and finds the kernel
/// and veth.ko and overlay.ko in it.
pub fn unpack(deb: &Path, into: &Path) -> Result<Kernel> {
    let stem = deb
        .file_stem()
        .with_context(|| format!("{} has no file name", deb.display()))?;
    let dest = into.join(stem);
    if !dest.join("boot").is_dir() {
        fs::create_dir_all(into).with_context(|| format!("create {}", into.display()))?;
        let tmp = into.join(format!(".unpack-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        output(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tmp))
            .with_context(|| format!("unpack {}", deb.display()))?;
        let _ = fs::remove_dir_all(&dest);
        fs::rename(&tmp, &dest).with_context(|| format!("rename {} into place", tmp.display()))?;
    }
    let boot = dest.join("boot");
    let vmlinuz = fs::read_dir(&boot)
        .with_context(|| format!("read {}", boot.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .with_context(|| format!("{} has no boot/vmlinuz-*", deb.display()))?;
    let release = file_name(&vmlinuz)
        .trim_start_matches("vmlinuz-")
        .to_owned();
    let modules = dest.join("lib/modules").join(&release).join("kernel");
    let module = |dir: &str, name: &str| {
        ["ko", "ko.xz", "ko.zst"]
            .iter()
            .map(|ext| modules.join(dir).join(format!("{name}.{ext}")))
            .find(|p| p.exists())
    };
    Ok(Kernel {
        veth: module("drivers/net", "veth"),
        overlay: module("fs/overlayfs", "overlay"),
        release,
        vmlinuz,
    })
}

/// A module's bytes, decompressed (busybox's insmod takes plain .ko files).
pub fn module_bytes(path: &Path) -> Result<Vec<u8>> {
    let name = file_name(path);
    let (program, package) = if name.ends_with(".xz") {
        ("xz", "xz-utils")
    } else if name.ends_with(".zst") {
        ("zstd", "zstd")
    } else {
        return read(path);
    };
    if which(program).is_none() {
        bail!(
            "{name} is compressed: vm-test needs {program}; install it with: apt-get install {package}"
        );
    }
    let out = Command::new(program)
        .arg("-dc")
        .arg(path)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("{program} -dc {}", path.display()))?;
    if !out.status.success() {
        bail!("{program} -dc {} failed ({})", path.display(), out.status);
    }
    Ok(out.stdout)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_cache_depends_names_the_versioned_kernel() {
        let out = "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n";
        assert_eq!(
            versioned_kernel(out).as_deref(),
            Some("linux-image-6.1.0-56-cloud-amd64")
        );
        assert_eq!(versioned_kernel(""), None);
        assert_eq!(versioned_kernel("x\n  Depends: libc6\n"), None);
    }
}
