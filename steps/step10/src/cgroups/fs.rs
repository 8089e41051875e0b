//! The four file operations a cgroup needs, `mkdir`, `rmdir`, `write` and
//! `read`, done by step05's narrated helpers (`-x` shows each like the
//! syscall it is, and a failure names the file, the value, the errno and a
//! hint: `write("/sys/fs/cgroup/memory/x/memory.limit_in_bytes", "104857600")
//! failed: EBUSY (Device or resource busy); hint: ...`).
//!
//! In tests, a fake tree (`tests.rs`) stands in for cgroupfs: a real
//! cgroupfs fills a new directory with its interface files and lets
//! `rmdir` remove a directory that still lists them; plain directories do
//! neither, so the two hooks below do it for the fake trees only.

use std::path::Path;

use step09::cgroup::cgroupfs;
use workshop::SyscallError;

pub use cgroupfs::{read, write};

/// Creates one cgroup directory (the kernel fills it with its files).
pub fn mkdir(path: &Path) -> Result<(), SyscallError> {
    cgroupfs::mkdir(path)?;
    #[cfg(test)]
    super::tests::fake_mkdir(path);
    Ok(())
}

/// Removes one empty cgroup directory (EBUSY while it has processes or
/// child cgroups; its interface files do not count).
pub fn rmdir(path: &Path) -> Result<(), SyscallError> {
    #[cfg(test)]
    super::tests::fake_rmdir(path);
    cgroupfs::rmdir(path)
}
