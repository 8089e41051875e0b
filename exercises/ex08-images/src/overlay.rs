//! # Exercise 8, part 1: the overlay
//!
//! Read first: chapter 8 of the book, `book/src/ch08-images.md`.
//!
//! Given: [`OverlayOpt`] (`--container-dir`) and [`RunDir`], the run's
//! `<container-dir>/ws-<pid>/{upper,work,merged}`, made by the parent before
//! the clone and removed when the container has ended. step08's
//! `container.rs` calls your two functions:
//!
//! - [`options`], in the parent, before anything is created: the option
//!   string of the overlay mount for these layers and this run. `lowers`
//!   comes **base first** (the order the layers were made in); the kernel
//!   wants the `lowerdir=` list **top first**, `:`-separated, then the
//!   upper and work directories. A path the kernel would split wrongly (one
//!   with `:`, `,` or `\`) is an error, and so is a string longer than the
//!   one page (4095 bytes) that mount(2) copies.
//! - [`mount_overlay`], in PID 1, in the container's mount namespace (its
//!   mounts already private): mount the overlay on `run.merged` with those
//!   options, and return the directory to pivot into.
//!
//! Done when `cargo test -p ex08` passes; `cargo test -p ex08 unit_tests` runs
//! only the fast tests of your functions. Stuck? `exercises/hints.toml`
//! has hints, each more specific than the last.

use std::path::PathBuf;

// Given: the run's directories are step08's `rundir` module, compiled here
// as it is (`RunDir`, `OverlayOpt`, `DEFAULT_DIR`).
pub use crate::rundir::*;
use workshop::SyscallError;

/// `lowerdir=TOP:...:BASE,upperdir=UPPER,workdir=WORK` for `lowers` (base
/// first) and `run`; an error (one sentence naming the fix) for an empty
/// `lowers`, a path with a separator in it, or more than 4095 bytes.
pub fn options(lowers: &[PathBuf], run: &RunDir) -> anyhow::Result<String> {
    todo!("exercise 8: the overlay's options for {lowers:?} and {run:?}")
}

/// Mounts the overlay (`options`) on `run.merged`; returns that directory,
/// the container's root from now on. Make the call through
/// `workshop::call`, as step03 does, so that `-x` shows it.
pub fn mount_overlay(options: &str, run: &RunDir) -> Result<PathBuf, SyscallError> {
    todo!(
        "exercise 8: mount(\"overlay\", {:?}, ...) with {options:?}",
        run.merged
    )
}
