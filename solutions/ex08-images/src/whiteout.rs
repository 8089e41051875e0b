//! # Exercise 8, part 2: whiteouts
//!
//! An image's layer deletes a file of the layers below by carrying a
//! *whiteout*. The OCI image format writes it as an empty file named
//! `.wh.NAME` next to the deleted `NAME`; a directory whose lower contents
//! must all be hidden (deleted, then made again) holds a file
//! `.wh..wh..opq`. overlayfs reads neither: to overlayfs a deleted name is
//! a **character device with device number 0:0** of that very name, and an
//! opaque directory has the extended attribute **`trusted.overlay.opaque`
//! set to `y`**.
//!
//! step08's layer unpacker (given) calls your [`convert`] for every entry
//! of a layer's tarball, with the directory the entry goes in (an open
//! file descriptor: use the `*at` calls, relative to it) and the entry's
//! last name, before it creates anything:
//!
//! - `.wh..wh..opq`: mark `dir` opaque; `Ok(true)` (nothing else is made);
//! - `.wh.NAME`: make `NAME` a whiteout in `dir` (the same layer may have
//!   created a `NAME` before: remove it first); `Ok(true)`;
//! - `.wh..wh.` followed by anything else (aufs's own bookkeeping):
//!   ignore it, `Ok(true)`;
//! - `.wh.` of nothing, of `.` or of `..`: `Err`, a sentence that completes
//!   "entry `...` ...";
//! - any other name: `Ok(false)`, the unpacker creates the entry.
//!
//! The calls: `mknodat(2)` (nix: `nix::sys::stat::mknodat`), `unlinkat(2)`,
//! `fsetxattr(2)` (`libc::fsetxattr`; an `unsafe` block needs its
//! `// SAFETY:` comment).

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::sys::stat::{Mode, SFlag};

/// What turns one layer entry into overlayfs's form (given): the type of
/// [`convert`], which step08's image code takes.
pub type Convert = fn(BorrowedFd<'_>, &[u8]) -> Result<bool, String>;

/// The prefix of every OCI whiteout name.
pub const PREFIX: &[u8] = b".wh.";
/// The name that makes its directory opaque.
pub const OPAQUE: &[u8] = b".wh..wh..opq";

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
