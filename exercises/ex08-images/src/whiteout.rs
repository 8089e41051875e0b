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

use std::os::fd::BorrowedFd;

/// What turns one layer entry into overlayfs's form (given): the type of
/// [`convert`], which step08's image code takes.
pub type Convert = fn(BorrowedFd<'_>, &[u8]) -> Result<bool, String>;

/// One layer entry named `name` in `dir`: `Ok(true)` when it was a
/// whiteout (converted, nothing more to create), `Ok(false)` otherwise.
pub fn convert(dir: BorrowedFd<'_>, name: &[u8]) -> Result<bool, String> {
    todo!(
        "exercise 8: is {:?} a whiteout? (dir {dir:?})",
        String::from_utf8_lossy(name)
    )
}
