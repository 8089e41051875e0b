//! What a fetch in progress has created and must remove if it does not
//! finish: the `.part` download, the temporary unpack directory, parent
//! directories it had to create.
//!
//! On an error the [`Pending`] guards remove their paths as they are dropped.
//! A signal is harder: the main thread may be blocked in a network read for
//! up to `--timeout` seconds, so the binary handles SIGINT/SIGTERM on a thread
//! of its own which calls [`remove_all_and_freeze`] and exits. To keep that
//! thread from deleting a directory while the main thread writes into it or
//! renames it, every such step runs inside [`critical`], under the same lock;
//! once frozen, the lock is never released again and the main thread stops
//! at its next step, so nothing is recreated behind the cleanup's back.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// How to remove a pending path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A file (the `.part` download).
    File,
    /// A directory and everything in it (the temporary unpack directory).
    Tree,
    /// A directory this fetch created as a parent of the destination:
    /// removed only if it is empty.
    EmptyDir,
}

static PENDING: Mutex<Vec<(PathBuf, Kind)>> = Mutex::new(Vec::new());

fn lock() -> MutexGuard<'static, Vec<(PathBuf, Kind)>> {
    // A panic while holding the lock leaves a plain Vec behind: still usable.
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

fn remove(path: &Path, kind: Kind) {
    let _ = match kind {
        Kind::File => std::fs::remove_file(path),
        Kind::Tree => std::fs::remove_dir_all(path),
        Kind::EmptyDir => std::fs::remove_dir(path),
    };
}

/// Runs `f` while holding the cleanup lock, so a signal's cleanup happens
/// either wholly before or wholly after it. `f` must not create or drop a
/// [`Pending`] (the lock is not reentrant).
pub fn critical<T>(f: impl FnOnce() -> T) -> T {
    let _guard = lock();
    f()
}

/// For a signal handler thread: removes every pending path, then keeps the
/// lock forever so the interrupted fetch cannot take another step. Returns
/// how many paths it removed. The caller is expected to exit the process.
pub fn remove_all_and_freeze() -> usize {
    let mut guard = lock();
    let removed = guard.len();
    // Newest first: an unpack directory goes before the parent it is in.
    for (path, kind) in guard.drain(..).rev() {
        remove(&path, kind);
    }
    std::mem::forget(guard);
    removed
}

/// A path to remove unless the fetch disarms it.
#[derive(Debug)]
pub struct Pending {
    path: PathBuf,
    kind: Kind,
}

impl Pending {
    /// Registers `path`, which the caller has just created.
    pub fn new(path: PathBuf, kind: Kind) -> Pending {
        lock().push((path.clone(), kind));
        Pending { path, kind }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the path: the fetch succeeded and it is now wanted.
    pub fn disarm(self) {
        let mut pending = lock();
        if let Some(at) = pending.iter().rposition(|(p, _)| *p == self.path) {
            pending.remove(at);
        }
        drop(pending);
        std::mem::forget(self);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut pending = lock();
        // Only if a signal's cleanup has not already taken it.
        if let Some(at) = pending.iter().rposition(|(p, _)| *p == self.path) {
            pending.remove(at);
            remove(&self.path, self.kind);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_guards_remove_and_disarmed_ones_keep() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.part");
        std::fs::write(&file, b"partial").unwrap();
        let tree = dir.path().join("unpack");
        std::fs::create_dir_all(tree.join("a/b")).unwrap();
        let kept = dir.path().join("kept");
        std::fs::create_dir(&kept).unwrap();
        let nonempty = dir.path().join("parent");
        std::fs::create_dir_all(nonempty.join("child")).unwrap();

        let guards = (
            Pending::new(file.clone(), Kind::File),
            Pending::new(tree.clone(), Kind::Tree),
            Pending::new(kept.clone(), Kind::EmptyDir),
            Pending::new(nonempty.clone(), Kind::EmptyDir),
        );
        guards.2.disarm();
        drop((guards.0, guards.1, guards.3));
        assert!(!file.exists());
        assert!(!tree.exists());
        assert!(kept.exists(), "a disarmed path stays");
        assert!(
            nonempty.join("child").exists(),
            "EmptyDir never removes contents"
        );
    }
}
