//! OCI whiteouts into overlayfs whiteouts.
//!
//! A layer deletes a file of the layers below it by shipping a *whiteout*:
//! the OCI image spec spells it as an empty file named `.wh.NAME` beside the
//! deleted `NAME`, and a directory whose old contents are all hidden holds
//! `.wh..wh..opq` (an *opaque* directory). overlayfs speaks another
//! language: a whiteout is a character device with device number 0:0 named
//! `NAME` itself, and an opaque directory carries the extended attribute
//! `trusted.overlay.opaque=y`. We translate while unpacking each layer, so the
//! layer directories in the store can be overlay lower layers as they are.
//! The `.wh.*` entries themselves are never created.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::sys::stat::{Mode, SFlag};

/// What turns one layer entry into overlayfs's form: [`convert`], or an
/// exercise's own (`image::resolve_with`).
pub type Convert = fn(BorrowedFd<'_>, &[u8]) -> Result<bool, String>;

/// The prefix of every OCI whiteout name.
pub const PREFIX: &[u8] = b".wh.";
/// The name that makes its directory opaque.
pub const OPAQUE: &[u8] = b".wh..wh..opq";

// ANCHOR: whiteout
/// Looks at one layer entry named `name` in the directory `dir`: a whiteout
/// is turned into overlayfs's form and `Ok(true)` returned (create nothing
/// for it); any other name gives `Ok(false)`. `Err` completes "entry `..`".
pub fn convert(dir: BorrowedFd<'_>, name: &[u8]) -> Result<bool, String> {
    if name == OPAQUE {
        opaque(dir)?;
        return Ok(true);
    }
    let Some(hidden) = name.strip_prefix(PREFIX) else {
        return Ok(false);
    };
    if hidden.starts_with(PREFIX) {
        // `.wh..wh.*`: aufs bookkeeping (`.wh..wh.plnk`), meaningless here.
        return Ok(true);
    }
    if matches!(hidden, b"" | b"." | b"..") {
        return Err("is a whiteout of no file (`.wh.` of an empty name, `.` or `..`)".into());
    }
    whiteout(dir, hidden)?;
    Ok(true)
}

/// `hidden` in `dir` becomes a character device 0:0, overlayfs's "this name
/// is deleted". `mknodat` never follows a symlink in its last component.
pub fn whiteout(dir: BorrowedFd<'_>, hidden: &[u8]) -> Result<(), String> {
    let show = String::from_utf8_lossy(hidden);
    // The same layer may have listed the name itself before deleting it.
    match nix::unistd::unlinkat(dir, hidden, nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(format!("cannot make way for the whiteout of `{show}`: {e}")),
    }
    nix::sys::stat::mknodat(dir, hidden, SFlag::S_IFCHR, Mode::empty(), 0)
        .map_err(|e| format!("cannot create the whiteout of `{show}` (mknodat, c 0:0): {e}"))
}

/// Marks `dir` opaque: overlayfs shows none of the lower layers' entries of
/// the same directory. `trusted.*` attributes need CAP_SYS_ADMIN.
pub fn opaque(dir: BorrowedFd<'_>) -> Result<(), String> {
    const NAME: &std::ffi::CStr = c"trusted.overlay.opaque";
    // SAFETY: `dir` is an open descriptor for the call's duration, NAME is a
    // NUL-terminated string, and the value pointer/length describe the
    // one-byte slice b"y", which outlives the call.
    let rc = unsafe { libc::fsetxattr(dir.as_raw_fd(), NAME.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(format!(
            "makes its directory opaque, but fsetxattr(trusted.overlay.opaque) failed: {e}"
        ));
    }
    Ok(())
}
// ANCHOR_END: whiteout

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    #[test]
    fn whiteouts_become_char_devices_and_opaque_xattrs() {
        // A privileged test: it fails, never skips, without root.
        assert!(
            nix::unistd::geteuid().is_root(),
            "run as root: mknod and trusted.* xattrs need it"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gone"), b"x").unwrap();
        let fd = std::fs::File::open(dir.path()).unwrap();
        assert!(convert(fd.as_fd(), b".wh.gone").unwrap());
        let st = std::fs::symlink_metadata(dir.path().join("gone")).unwrap();
        assert!(st.file_type().is_char_device());
        assert_eq!(st.rdev(), 0);
        assert!(!dir.path().join(".wh.gone").exists());

        assert!(convert(fd.as_fd(), OPAQUE).unwrap());
        let mut value = [0u8; 8];
        let path = std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: both strings are NUL-terminated; `value` is writable for its length.
        let n = unsafe {
            libc::getxattr(
                path.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        assert_eq!(&value[..usize::try_from(n).unwrap()], b"y");
        assert!(!dir.path().join(".wh..wh..opq").exists());

        assert!(!convert(fd.as_fd(), b"plain").unwrap());
        assert!(convert(fd.as_fd(), b".wh..wh.plnk").unwrap());
        for bad in [&b".wh."[..], b".wh..", b".wh..."] {
            assert!(convert(fd.as_fd(), bad).is_err(), "{bad:?}");
        }
    }
}
