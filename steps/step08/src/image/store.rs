//! The content-addressed store: everything is named by its sha256 digest,
//! so an image's layers shared with another image are stored once.
//!
//! ```text
//! <store>/lock                               flock(LOCK_EX) held by a pull while it writes
//! <store>/blobs/sha256/<hex>                 manifests, indexes, configs (verified JSON)
//! <store>/layers/sha256/<hex>/               one unpacked layer, named by its compressed blob's digest
//! <store>/refs/<registry>/<repository>/<tag> the digest the tag resolved to
//! <store>/tmp/                               work in progress; emptied by the next pull
//! ```
//!
//! Nothing outside `tmp/` appears before it is complete and verified: a pull
//! writes into `tmp/` and *renames* into place (a rename within one
//! filesystem is atomic), layers first, then the JSON, the ref last. A pull
//! killed at any moment leaves only `tmp/` litter, which the next pull
//! removes while it holds the lock. Layer directories are never written
//! again after their rename: they are overlayfs lower layers.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::fcntl::{Flock, FlockArg};
use sha2::{Digest, Sha256};

use super::reference::Reference;

/// A store at a directory (which may not exist yet).
#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
}

/// The store's lock, held until dropped; proof for the writing methods.
pub struct Locked {
    _lock: Flock<File>,
    /// This pull's own directory in `tmp/`, removed when dropped.
    pub work: PathBuf,
    /// The store did not exist before this pull: if the pull fails, the
    /// empty store is removed again (nothing left behind).
    created: Option<PathBuf>,
    /// Set when the pull has stored its image.
    pub done: bool,
}

impl Drop for Locked {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.work);
        if let (Some(root), false) = (&self.created, self.done) {
            // Still under the lock. `remove_dir` removes only empty
            // directories: whatever holds content stays.
            for dir in [
                "tmp",
                "refs",
                "blobs/sha256",
                "blobs",
                "layers/sha256",
                "layers",
            ] {
                let _ = std::fs::remove_dir(root.join(dir));
            }
            let only_the_lock = std::fs::read_dir(root).is_ok_and(|entries| {
                entries
                    .filter_map(Result::ok)
                    .all(|e| e.file_name() == "lock")
            });
            if only_the_lock {
                let _ = std::fs::remove_file(root.join("lock"));
                let _ = std::fs::remove_dir(root);
            }
        }
    }
}

/// `sha256:<hex>` → `<hex>` (digests were checked when parsed).
pub fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl Store {
    pub fn new(root: &Path) -> Store {
        Store {
            root: root.to_owned(),
        }
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex_of(digest))
    }

    pub fn layer_path(&self, digest: &str) -> PathBuf {
        self.root.join("layers/sha256").join(hex_of(digest))
    }

    /// `refs/<registry>/<repository>/<tag>`; `None` for a reference with a
    /// digest (`name:tag@sha256:..` says nothing of where the tag points now).
    pub fn ref_path(&self, r: &Reference) -> Option<PathBuf> {
        if r.digest.is_some() {
            return None;
        }
        let tag = r.tag.as_ref()?;
        Some(
            self.root
                .join("refs")
                .join(&r.registry)
                .join(&r.repository)
                .join(tag),
        )
    }

    /// The digest a tag resolved to at its last pull.
    pub fn read_ref(&self, r: &Reference) -> Option<String> {
        let text = std::fs::read_to_string(self.ref_path(r)?).ok()?;
        let digest = text.trim().to_owned();
        super::reference::check_digest(&digest).ok()?;
        Some(digest)
    }

    /// A stored blob, if it is there and still matches its digest.
    pub fn read_blob(&self, digest: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.blob_path(digest)).ok()?;
        (sha256(&bytes) == digest).then_some(bytes)
    }

    pub fn has_layer(&self, digest: &str) -> bool {
        self.layer_path(digest).is_dir()
    }

    /// Creates the store's directories, takes the lock (waiting for another
    /// pull to finish), and empties `tmp/` of what a killed pull left.
    pub fn lock(&self) -> anyhow::Result<Locked> {
        let root = &self.root;
        let created = (!root.exists()).then(|| root.clone());
        for dir in ["blobs/sha256", "layers/sha256", "refs", "tmp"] {
            std::fs::create_dir_all(root.join(dir)).with_context(|| {
                format!(
                    "cannot create the image store {} (--image-store); run as root or pick a directory you can write",
                    root.display()
                )
            })?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(root.join("lock"))
            .with_context(|| format!("cannot open {}/lock", root.display()))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| {
            anyhow::anyhow!("cannot lock the image store {}/lock: {e}", root.display())
        })?;
        let tmp = root.join("tmp");
        // We hold the lock: no other pull is writing, so all of tmp/ is litter.
        for entry in std::fs::read_dir(&tmp).context("cannot read the store's tmp/")? {
            let path = entry.context("cannot read the store's tmp/")?.path();
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
        let work = tmp.join(format!("pull-{}", std::process::id()));
        std::fs::create_dir(&work).with_context(|| format!("cannot create {}", work.display()))?;
        Ok(Locked {
            _lock: lock,
            work,
            created,
            done: false,
        })
    }

    /// Stores verified JSON under its digest: written in tmp/, synced, renamed.
    pub fn write_blob(&self, locked: &Locked, digest: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let dest = self.blob_path(digest);
        if dest.exists() {
            return Ok(());
        }
        let tmp = locked.work.join(format!("blob-{}", hex_of(digest)));
        write_synced(&tmp, bytes)?;
        rename(&tmp, &dest)
    }

    /// Moves a complete, verified layer tree into place.
    pub fn put_layer(&self, unpacked: &Path, digest: &str) -> anyhow::Result<()> {
        let dest = self.layer_path(digest);
        if dest.exists() {
            return Ok(());
        }
        rename(unpacked, &dest)
    }

    /// Records what the tag resolved to: the last write of a pull.
    pub fn write_ref(&self, locked: &Locked, r: &Reference, digest: &str) -> anyhow::Result<()> {
        let Some(dest) = self.ref_path(r) else {
            return Ok(());
        };
        let parent = dest.parent().expect("refs/<registry>/...");
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let tmp = locked.work.join("ref");
        write_synced(&tmp, format!("{digest}\n").as_bytes())?;
        rename(&tmp, &dest)
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn rename(from: &Path, to: &Path) -> anyhow::Result<()> {
    if !from.exists() {
        bail!("{} vanished before it was stored", from.display());
    }
    std::fs::rename(from, to)
        .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_clears_litter_and_a_failed_first_pull_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(&dir.path().join("store"));
        let r = Reference::parse("127.0.0.1:5000/test/app:1").unwrap();
        let json = br#"{"x":1}"#;
        let digest = sha256(json);

        // A pull that fails before storing anything: the store it created goes.
        drop(store.lock().unwrap());
        assert!(!store.root.exists());

        // A pull that stores: blob, then ref; a killed pull's litter in tmp/.
        let mut locked = store.lock().unwrap();
        std::fs::create_dir(store.root.join("tmp/pull-killed")).unwrap();
        store.write_blob(&locked, &digest, json).unwrap();
        store.write_ref(&locked, &r, &digest).unwrap();
        locked.done = true;
        drop(locked);
        assert_eq!(store.read_ref(&r).as_deref(), Some(digest.as_str()));
        assert_eq!(store.read_blob(&digest).as_deref(), Some(&json[..]));
        assert_eq!(
            std::fs::read_to_string(store.root.join("refs/127.0.0.1:5000/test/app/1")).unwrap(),
            format!("{digest}\n")
        );

        // The next pull removes the litter; failing, it keeps what is stored.
        drop(store.lock().unwrap());
        assert_eq!(
            std::fs::read_dir(store.root.join("tmp")).unwrap().count(),
            0
        );
        assert!(store.read_blob(&digest).is_some());

        // A blob that no longer matches its name is not trusted.
        std::fs::write(store.blob_path(&digest), b"tampered").unwrap();
        assert!(store.read_blob(&digest).is_none());
        // A reference with a digest has no ref file.
        let pinned = Reference::parse(&format!("127.0.0.1:5000/test/app:1@{digest}")).unwrap();
        assert!(store.ref_path(&pinned).is_none());
    }
}
