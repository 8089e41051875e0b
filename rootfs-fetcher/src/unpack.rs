//! Safe unpacking of a `.tar.gz` into a fresh, empty directory.
//!
//! # Why not `tar::Archive::unpack`
//!
//! The `tar` crate (we require >= 0.4.45) parses archives well, and we use it
//! for exactly that: headers, GNU long names, PAX extensions. Its unpacking
//! is not what a rootfs fetcher needs:
//!
//! - `unpack_in` *silently skips* entries with a `..` component and strips a
//!   leading `/`: a hostile archive is half-unpacked and reported as fine.
//!   We want such an archive refused, loudly, with nothing installed.
//! - It turns character/block devices and FIFOs into empty regular files
//!   (it has no `mknod`), so a device node in an archive goes unnoticed.
//! - It guards against writing through symlinks by canonicalising paths, a
//!   check-then-use that is only as good as the directory is quiet.
//! - It gives no cap on how much a small `.tar.gz` may expand to.
//!
//! So we iterate the entries ourselves, check every path and link ourselves,
//! and create each file, directory, symlink and hard link ourselves, relative
//! to directory file descriptors:
//!
//! - Every path is split into components; an absolute path or a `..`
//!   component refuses the whole archive.
//! - The parent of each entry is reached one component at a time with
//!   `openat(O_DIRECTORY | O_NOFOLLOW)`. The kernel refuses to step through a
//!   symlink, so no entry is ever written through one, whether the symlink
//!   points inside the root or out of it (an archive made by `tar` never needs
//!   that; following one safely would need `openat2(RESOLVE_IN_ROOT)`, and
//!   no rootfs archive is worth the complexity). The last component is created
//!   with calls that never follow it either: `O_CREAT | O_EXCL | O_NOFOLLOW`,
//!   `mkdirat`, `symlinkat`, `linkat` without `AT_SYMLINK_FOLLOW`.
//! - Symlinks themselves may point anywhere (`/bin/sh -> /bin/busybox` is
//!   absolute, and correct inside a container); they are only never followed.
//! - A hard link must name an entry already unpacked, by a relative path
//!   without `..`; `/etc/passwd` is refused.
//! - Character and block devices are refused: a container gets its `/dev`
//!   from the runtime, and a device node in a downloaded archive is an
//!   attack (`/dev/mem` with mode 0666). FIFOs are *created*: a FIFO gives
//!   access to nothing but itself.
//! - GNU sparse entries are refused (they can expand far beyond their size in
//!   the archive); PAX global headers are skipped; unknown types are refused.
//! - Every byte coming out of the decompressor is counted against
//!   `max_bytes` (headers included), which stops a gzip bomb early.
//! - Modes are applied with `fchmod` after `fchown` (a chown clears set-id
//!   bits), so `/tmp`'s sticky bit and setuid bits survive; ownership is
//!   applied only when running as root. Directory modes, owners and times are
//!   applied at the end, deepest first, so a read-only directory in the
//!   archive does not stop its own contents from being unpacked.
//!
//! The caller unpacks into a fresh temporary directory beside the destination
//! and renames it into place only if this returns `Ok`.
//!
//! [`unpack_tar`] is the same for a tar stream the caller has decompressed
//! already (an image layer may be gzip, zstd or plain tar), with a [`Hook`]
//! that sees every non-directory entry first: step08 uses it to turn OCI
//! whiteouts into overlayfs ones.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags};
use tar::EntryType;

/// The name of the fetcher's marker file at the top of a rootfs; an archive
/// may not contain it.
pub const MARKER: &str = ".workshop-rootfs";

/// Why an archive was not unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// An entry that would escape the root, or that we refuse on principle.
    #[error("refusing the archive: entry `{entry}` {why}")]
    Refused { entry: String, why: String },
    /// More than `max_bytes` came out of the decompressor.
    #[error(
        "refusing the archive: it unpacks to more than {limit} bytes (--max-bytes); a gzip bomb, or the wrong file"
    )]
    TooBig { limit: u64 },
    /// Not a valid `.tar.gz`.
    #[error("the archive is corrupt: {0}")]
    Corrupt(String),
    /// The filesystem said no.
    #[error("cannot {op} `{entry}` while unpacking: {cause}")]
    Io {
        op: &'static str,
        entry: String,
        cause: io::Error,
    },
}

/// What was unpacked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries of any kind, the root directory included.
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub fifos: u64,
    /// Bytes of the decompressed tar stream read so far (headers included).
    pub tar_bytes: u64,
}

/// Splits an archive path into its components, dropping empty ones and `.`.
/// `./` and `.` give no components: the root itself.
pub fn entry_components(raw: &[u8]) -> Result<Vec<&[u8]>, String> {
    if raw.contains(&0) {
        return Err("has a NUL byte in its name".into());
    }
    if raw.starts_with(b"/") {
        return Err("is an absolute path".into());
    }
    let mut comps = Vec::new();
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => return Err("has a `..` component".into()),
            normal => comps.push(normal),
        }
    }
    Ok(comps)
}

/// The components of a hard link's target, which must name an entry inside
/// the archive.
pub fn hardlink_components(raw: &[u8]) -> Result<Vec<&[u8]>, String> {
    let shown = String::from_utf8_lossy(raw);
    if raw.starts_with(b"/") {
        return Err(format!("is a hard link to `{shown}`, outside the rootfs"));
    }
    match entry_components(raw) {
        Ok(comps) if comps.is_empty() => Err("is a hard link with no target".into()),
        Ok(comps) => Ok(comps),
        Err(why) => Err(format!(
            "is a hard link to `{shown}`, which {why} (outside the rootfs)"
        )),
    }
}

/// A reader that counts what passes through it and fails once more than
/// `limit` bytes have.
#[derive(Debug)]
pub struct Capped<R> {
    inner: R,
    count: Rc<Cell<u64>>,
    limit: u64,
    over: Rc<Cell<bool>>,
}

impl<R> Capped<R> {
    pub fn new(inner: R, limit: u64) -> Capped<R> {
        Capped {
            inner,
            count: Rc::new(Cell::new(0)),
            limit,
            over: Rc::new(Cell::new(false)),
        }
    }
    /// A handle on the running count.
    pub fn counter(&self) -> Rc<Cell<u64>> {
        self.count.clone()
    }
    /// A handle that turns true when the limit was passed.
    pub fn over_flag(&self) -> Rc<Cell<bool>> {
        self.over.clone()
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let count = self.count.get() + n as u64;
        self.count.set(count);
        if count > self.limit {
            self.over.set(true);
            return Err(io::Error::other(format!(
                "more than {} bytes (--max-bytes)",
                self.limit
            )));
        }
        Ok(n)
    }
}

/// Unpacks the `.tar.gz` read from `archive` into `root`, an existing empty
/// directory, refusing the whole archive at the first unsafe entry.
/// `progress` is called after every entry. On `Err`, `root` holds a partial
/// tree that the caller removes.
pub fn unpack(
    archive: impl Read,
    root: &Path,
    max_bytes: u64,
    progress: &mut dyn FnMut(&Stats),
) -> Result<Stats, UnpackError> {
    let gz = flate2::read::MultiGzDecoder::new(archive);
    unpack_tar(gz, root, max_bytes, &mut |_, _| Ok(false), progress)
}

/// A look at each non-directory entry before it is created: `hook(parent,
/// name)` gets the entry's parent directory (already reached safely, never
/// through a symlink) and the entry's last component. `Ok(true)` means the
/// hook has dealt with the entry and the unpacker creates nothing for it;
/// `Ok(false)` lets the unpacker go on as usual; `Err(why)` refuses the
/// archive, `why` completing "entry `NAME` ...". Image layers use it to turn
/// OCI whiteouts (`.wh.NAME`) into overlayfs ones.
pub type Hook<'a> = dyn FnMut(BorrowedFd<'_>, &[u8]) -> Result<bool, String> + 'a;

/// [`unpack`] for a tar stream that is already decompressed (or never was),
/// with a [`Hook`] on every non-directory entry. The checks are the same:
/// `max_bytes` caps the tar stream itself.
pub fn unpack_tar(
    tar: impl Read,
    root: &Path,
    max_bytes: u64,
    hook: &mut Hook<'_>,
    progress: &mut dyn FnMut(&Stats),
) -> Result<Stats, UnpackError> {
    let capped = Capped::new(tar, max_bytes);
    let (count, over) = (capped.counter(), capped.over_flag());
    let read_error = |e: io::Error| {
        if over.get() {
            UnpackError::TooBig { limit: max_bytes }
        } else {
            UnpackError::Corrupt(one_line(&e))
        }
    };

    let root_fd = nix::fcntl::open(
        root,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::Io {
        op: "open the unpack directory",
        entry: root.display().to_string(),
        cause: e.into(),
    })?;
    let mut tree = Tree {
        root: root_fd,
        as_root: nix::unistd::geteuid().is_root(),
        symlinks: HashMap::new(),
        dirs: BTreeMap::new(),
        stats: Stats::default(),
    };

    let mut archive = tar::Archive::new(capped);
    let entries = archive.entries().map_err(read_error)?;
    for entry in entries {
        let mut entry = entry.map_err(read_error)?;
        // Under the cleanup lock: a signal's cleanup waits for this entry
        // to be whole, and then nothing more is written.
        crate::cleanup::critical(|| tree.entry(&mut entry, &read_error, &mut *hook))?;
        tree.stats.tar_bytes = count.get();
        progress(&tree.stats);
    }
    crate::cleanup::critical(|| tree.finish_dirs())?;
    tree.stats.tar_bytes = count.get();
    Ok(tree.stats)
}

/// Metadata applied to a directory once everything is in it.
#[derive(Clone, Copy, Debug)]
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Option<i64>,
}

struct Tree {
    root: OwnedFd,
    as_root: bool,
    /// Symlinks created so far (path -> target), to say *which* symlink an
    /// entry tried to write through.
    symlinks: HashMap<Vec<u8>, Vec<u8>>,
    /// Directories by components; the empty key is the root. Sorted, so
    /// reverse order visits children before their parents.
    dirs: BTreeMap<Vec<Vec<u8>>, Meta>,
    stats: Stats,
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().replace('\n', " ")
}

impl Tree {
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        read_error: &dyn Fn(io::Error) -> UnpackError,
        hook: &mut Hook<'_>,
    ) -> Result<(), UnpackError> {
        let raw = entry.path_bytes().into_owned();
        let name = lossy(&raw);
        let refuse = |why: String| UnpackError::Refused {
            entry: name.clone(),
            why,
        };
        let header = entry.header();
        let kind = header.entry_type();
        if kind == EntryType::XGlobalHeader {
            // `git archive` writes one; it describes the archive, not a file.
            return Ok(());
        }
        let comps: Vec<Vec<u8>> = entry_components(&raw)
            .map_err(&refuse)?
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        if comps.len() == 1 && comps[0] == MARKER.as_bytes() {
            return Err(refuse(format!(
                "uses the name of the fetcher's own marker file ({MARKER})"
            )));
        }
        let field = |what: &str, e: io::Error| refuse(format!("has a bad {what} field: {e}"));
        let id = |what: &str, v: u64| {
            u32::try_from(v).map_err(|_| refuse(format!("has an out-of-range {what} {v}")))
        };
        let meta = Meta {
            mode: header.mode().map_err(|e| field("mode", e))? & 0o7777,
            uid: id("uid", header.uid().map_err(|e| field("uid", e))?)?,
            gid: id("gid", header.gid().map_err(|e| field("gid", e))?)?,
            mtime: header.mtime().ok().and_then(|t| i64::try_from(t).ok()),
        };
        // Old (pre-POSIX) archives mark directories only by a trailing slash.
        let old_style_dir =
            header.as_ustar().is_none() && header.as_gnu().is_none() && raw.ends_with(b"/");
        self.stats.entries += 1;

        if comps.is_empty() {
            return if kind.is_dir() || old_style_dir {
                self.dirs.insert(Vec::new(), meta);
                Ok(())
            } else {
                Err(refuse("is the archive's root but not a directory".into()))
            };
        }
        let (last, parents) = comps.split_last().expect("not empty");

        let parent = self.walk(parents, true, &name)?;
        if !(kind.is_dir() || old_style_dir) && hook(parent.as_fd(), last).map_err(&refuse)? {
            return Ok(());
        }

        match kind {
            _ if kind.is_dir() || (old_style_dir && kind.is_file()) => {
                self.make_dir(&parent, last, &comps, &name)?;
                self.dirs.insert(comps.clone(), meta);
                self.stats.dirs += 1;
            }
            EntryType::Regular | EntryType::Continuous => {
                let size = header.size().map_err(|e| field("size", e))?;
                self.clear(&parent, last, &comps, &name)?;
                let fd = openat(
                    &parent,
                    last.as_slice(),
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(|e| io_err("create", &name, e))?;
                let mut file = File::from(fd);
                let written = copy_entry(entry, &mut file, &name, read_error)?;
                if written != size {
                    return Err(UnpackError::Corrupt(format!(
                        "entry `{name}` holds {written} bytes, its header says {size}"
                    )));
                }
                self.apply(file.as_fd(), meta, &name)?;
                self.stats.files += 1;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| refuse("is a symlink with no target".into()))?;
                self.clear(&parent, last, &comps, &name)?;
                nix::unistd::symlinkat(target.as_slice(), &parent, last.as_slice())
                    .map_err(|e| io_err("create the symlink", &name, e))?;
                if self.as_root {
                    nix::unistd::fchownat(
                        &parent,
                        last.as_slice(),
                        Some(Uid::from_raw(meta.uid)),
                        Some(Gid::from_raw(meta.gid)),
                        AtFlags::AT_SYMLINK_NOFOLLOW,
                    )
                    .map_err(|e| io_err("chown", &name, e))?;
                }
                if let Some(t) = meta.mtime {
                    let t = TimeSpec::new(t, 0);
                    nix::sys::stat::utimensat(
                        &parent,
                        last.as_slice(),
                        &t,
                        &t,
                        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
                    )
                    .map_err(|e| io_err("set the time of", &name, e))?;
                }
                self.symlinks.insert(comps.join(&b'/'), target);
                self.stats.symlinks += 1;
            }
            EntryType::Link => {
                let raw_target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let target: Vec<Vec<u8>> = hardlink_components(&raw_target)
                    .map_err(&refuse)?
                    .into_iter()
                    .map(<[u8]>::to_vec)
                    .collect();
                if target == comps {
                    // A link to itself: nothing to do (GNU tar agrees).
                    return Ok(());
                }
                let shown = lossy(&raw_target);
                let (tlast, tparents) = target.split_last().expect("not empty");
                let not_there = || {
                    refuse(format!(
                        "is a hard link to `{shown}`, which the archive has not unpacked before it (a hard link must name an earlier entry of the same archive)"
                    ))
                };
                let tparent = match self.walk(tparents, false, &name) {
                    Ok(fd) => fd,
                    Err(UnpackError::Io { cause, .. })
                        if cause.raw_os_error() == Some(libc::ENOENT) =>
                    {
                        return Err(not_there());
                    }
                    Err(e) => return Err(e),
                };
                match stat_at(&tparent, tlast) {
                    Ok(st) if is(&st, SFlag::S_IFDIR) => {
                        return Err(refuse(format!("is a hard link to the directory `{shown}`")));
                    }
                    Ok(_) => {}
                    Err(Errno::ENOENT) => return Err(not_there()),
                    Err(e) => return Err(io_err("look at the link target of", &name, e)),
                }
                self.clear(&parent, last, &comps, &name)?;
                nix::unistd::linkat(
                    &tparent,
                    tlast.as_slice(),
                    &parent,
                    last.as_slice(),
                    AtFlags::empty(),
                )
                .map_err(|e| io_err("create the hard link", &name, e))?;
                self.stats.hardlinks += 1;
            }
            EntryType::Char | EntryType::Block => {
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                let what = if kind == EntryType::Char {
                    "character"
                } else {
                    "block"
                };
                return Err(refuse(format!(
                    "is a {what} device node ({major}:{minor}); device nodes are refused, a container gets its /dev from the runtime"
                )));
            }
            EntryType::Fifo => {
                self.clear(&parent, last, &comps, &name)?;
                nix::unistd::mkfifoat(&parent, last.as_slice(), Mode::from_bits_truncate(0o600))
                    .map_err(|e| io_err("create the fifo", &name, e))?;
                // Opening a FIFO would block, so its metadata goes by name;
                // it was just created in a directory only we can write to.
                if self.as_root {
                    nix::unistd::fchownat(
                        &parent,
                        last.as_slice(),
                        Some(Uid::from_raw(meta.uid)),
                        Some(Gid::from_raw(meta.gid)),
                        AtFlags::AT_SYMLINK_NOFOLLOW,
                    )
                    .map_err(|e| io_err("chown", &name, e))?;
                }
                nix::sys::stat::fchmodat(
                    &parent,
                    last.as_slice(),
                    Mode::from_bits_truncate(meta.mode),
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )
                .map_err(|e| io_err("chmod", &name, e))?;
                self.stats.fifos += 1;
            }
            EntryType::GNUSparse => {
                return Err(refuse(
                    "is a GNU sparse file; sparse entries are refused (they can expand far beyond their size in the archive)".into(),
                ));
            }
            other => {
                return Err(refuse(format!(
                    "has entry type `{}`, which the unpacker does not handle",
                    (other.as_byte() as char).escape_default()
                )));
            }
        }
        Ok(())
    }

    /// Opens the directory `comps` below the root, one component at a time,
    /// never following a symlink; creates missing components if `create`.
    fn walk(&self, comps: &[Vec<u8>], create: bool, entry: &str) -> Result<OwnedFd, UnpackError> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut current: Option<OwnedFd> = None;
        for (i, comp) in comps.iter().enumerate() {
            let dir: BorrowedFd<'_> = match &current {
                Some(fd) => fd.as_fd(),
                None => self.root.as_fd(),
            };
            let opened = match openat(dir, comp.as_slice(), flags, Mode::empty()) {
                Err(Errno::ENOENT) if create => {
                    // A parent the archive never listed: tar creates it too.
                    match nix::sys::stat::mkdirat(
                        dir,
                        comp.as_slice(),
                        Mode::from_bits_truncate(0o755),
                    ) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(io_err("create a parent directory of", entry, e)),
                    }
                    openat(dir, comp.as_slice(), flags, Mode::empty())
                }
                other => other,
            };
            let fd = match opened {
                Ok(fd) => fd,
                Err(Errno::ELOOP | Errno::ENOTDIR) => {
                    let prefix = comps[..=i].join(&b'/');
                    let shown = lossy(&prefix);
                    let why = match self.symlinks.get(&prefix) {
                        Some(target) => format!(
                            "would be written through the symlink `{shown}` (-> {}); the unpacker never follows symlinks",
                            lossy(target)
                        ),
                        None => format!("needs `{shown}` to be a directory, but it is not"),
                    };
                    return Err(UnpackError::Refused {
                        entry: entry.to_owned(),
                        why,
                    });
                }
                Err(e) => return Err(io_err("open a parent directory of", entry, e)),
            };
            current = Some(fd);
        }
        match current {
            Some(fd) => Ok(fd),
            None => self.root.try_clone().map_err(|cause| UnpackError::Io {
                op: "open the root for",
                entry: entry.to_owned(),
                cause,
            }),
        }
    }

    /// Makes way for a non-directory entry at `parent/name`: a later entry
    /// for the same path replaces an earlier one (as with tar), but never a
    /// directory, and never by writing through what is there.
    fn clear(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        comps: &[Vec<u8>],
        entry: &str,
    ) -> Result<(), UnpackError> {
        match nix::unistd::unlinkat(parent, name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {
                self.symlinks.remove(&comps.join(&b'/'));
                Ok(())
            }
            Err(Errno::EISDIR) => Err(UnpackError::Refused {
                entry: entry.to_owned(),
                why: "would replace a directory of the same name".into(),
            }),
            Err(e) => Err(io_err("replace", entry, e)),
        }
    }

    fn make_dir(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        comps: &[Vec<u8>],
        entry: &str,
    ) -> Result<(), UnpackError> {
        // 0700 while unpacking; the archive's mode is applied at the end.
        match nix::sys::stat::mkdirat(parent, name, Mode::from_bits_truncate(0o700)) {
            Ok(()) => Ok(()),
            Err(Errno::EEXIST) => match stat_at(parent, name) {
                Ok(st) if is(&st, SFlag::S_IFDIR) => Ok(()),
                Ok(_) => {
                    // A file or symlink listed earlier under the same name:
                    // replace it (it is not followed).
                    nix::unistd::unlinkat(parent, name, UnlinkatFlags::NoRemoveDir)
                        .map_err(|e| io_err("replace", entry, e))?;
                    self.symlinks.remove(&comps.join(&b'/'));
                    nix::sys::stat::mkdirat(parent, name, Mode::from_bits_truncate(0o700))
                        .map_err(|e| io_err("create the directory", entry, e))
                }
                Err(e) => Err(io_err("look at", entry, e)),
            },
            Err(e) => Err(io_err("create the directory", entry, e)),
        }
    }

    /// Owner (when root), then mode (a chown clears set-id bits), then time.
    fn apply(&self, fd: BorrowedFd<'_>, meta: Meta, entry: &str) -> Result<(), UnpackError> {
        if self.as_root {
            nix::unistd::fchown(
                fd,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
            )
            .map_err(|e| io_err("chown", entry, e))?;
        }
        nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(meta.mode))
            .map_err(|e| io_err("chmod", entry, e))?;
        if let Some(t) = meta.mtime {
            let t = TimeSpec::new(t, 0);
            nix::sys::stat::futimens(fd, &t, &t)
                .map_err(|e| io_err("set the time of", entry, e))?;
        }
        Ok(())
    }

    /// Applies directory metadata, children before parents; the root gets
    /// 0755 if the archive did not list it.
    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        self.dirs.entry(Vec::new()).or_insert(Meta {
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: None,
        });
        for (comps, meta) in self.dirs.iter().rev() {
            let name = if comps.is_empty() {
                "./".to_owned()
            } else {
                lossy(&comps.join(&b'/'))
            };
            let fd = self.walk(comps, false, &name)?;
            self.apply(fd.as_fd(), *meta, &name)?;
        }
        Ok(())
    }
}

fn stat_at(dir: &OwnedFd, name: &[u8]) -> nix::Result<FileStat> {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
}

fn is(st: &FileStat, kind: SFlag) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == kind
}

fn io_err(op: &'static str, entry: &str, e: Errno) -> UnpackError {
    UnpackError::Io {
        op,
        entry: entry.to_owned(),
        cause: e.into(),
    }
}

/// Copies an entry's data, telling read errors (the archive's fault, or the
/// cap) from write errors (the disk's).
fn copy_entry(
    from: &mut impl Read,
    to: &mut File,
    entry: &str,
    read_error: &dyn Fn(io::Error) -> UnpackError,
) -> Result<u64, UnpackError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        to.write_all(&buf[..n]).map_err(|cause| UnpackError::Io {
            op: "write",
            entry: entry.to_owned(),
            cause,
        })?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use testkit::rootfs::hostile;
    use testkit::rootfs::tarball::{Entry, targz};

    fn comps(raw: &str) -> Result<Vec<String>, String> {
        entry_components(raw.as_bytes()).map(|c| c.iter().map(|s| lossy(s)).collect())
    }

    #[test]
    fn path_checks() {
        assert_eq!(comps("./bin/sh").unwrap(), ["bin", "sh"]);
        assert_eq!(comps("bin//./sh/").unwrap(), ["bin", "sh"]);
        assert!(comps("./").unwrap().is_empty());
        assert!(comps(".").unwrap().is_empty());
        assert!(comps("../etc").unwrap_err().contains(".."));
        assert!(comps("a/../../etc").unwrap_err().contains(".."));
        assert!(comps("a/..").unwrap_err().contains(".."));
        assert!(comps("/etc/passwd").unwrap_err().contains("absolute"));
        assert!(entry_components(b"a\0b").unwrap_err().contains("NUL"));
        // `..` as part of a name is just a name.
        assert_eq!(comps("a..b/..c").unwrap(), ["a..b", "..c"]);
    }

    #[test]
    fn hardlink_target_checks() {
        assert_eq!(hardlink_components(b"./bin/busybox").unwrap().len(), 2);
        assert!(
            hardlink_components(b"/etc/passwd")
                .unwrap_err()
                .contains("outside")
        );
        assert!(
            hardlink_components(b"../../etc/passwd")
                .unwrap_err()
                .contains("outside")
        );
        assert!(
            hardlink_components(b"./")
                .unwrap_err()
                .contains("no target")
        );
    }

    #[test]
    fn the_cap_counts_every_byte_and_trips_once_over() {
        let mut under = Capped::new(&[7u8; 100][..], 100);
        let mut sink = Vec::new();
        assert_eq!(io::copy(&mut under, &mut sink).unwrap(), 100);
        assert_eq!(under.counter().get(), 100);

        let mut over = Capped::new(&[7u8; 101][..], 100);
        let flag = over.over_flag();
        assert!(io::copy(&mut over, &mut Vec::new()).is_err());
        assert!(flag.get());
    }

    fn unpack_bytes(bytes: &[u8], max: u64) -> (tempfile::TempDir, Result<Stats, UnpackError>) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let result = unpack(bytes, &root, max, &mut |_| {});
        (dir, result)
    }

    fn refused(bytes: Vec<u8>, want: &str) {
        let (dir, result) = unpack_bytes(&bytes, 1 << 30);
        match result {
            Err(e @ UnpackError::Refused { .. }) => {
                assert!(e.to_string().contains(want), "{e}")
            }
            other => panic!("expected a refusal mentioning {want:?}, got {other:?}"),
        }
        // Nothing beside the unpack directory.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["root"]);
    }

    #[test]
    fn hostile_archives_are_refused() {
        refused(hostile::dotdot(), "`..` component");
        refused(hostile::absolute(), "absolute path");
        refused(
            hostile::symlink_escape(),
            "through the symlink `escape` (-> /tmp)",
        );
        refused(
            hostile::hardlink_out(),
            "hard link to `/etc/passwd`, outside",
        );
        refused(hostile::device_node(), "character device node (1:1)");
        assert!(!Path::new(hostile::ABSOLUTE_PATH).exists());
        assert!(!Path::new(hostile::SYMLINK_PATH).exists());
    }

    #[test]
    fn more_refusals() {
        // Through a symlink that stays inside: still never followed.
        refused(
            targz(&[
                Entry::dir("usr", 0o755),
                Entry::symlink("lib", "usr"),
                Entry::file("lib/x", 0o644, b"x".to_vec()),
            ]),
            "through the symlink `lib` (-> usr)",
        );
        refused(
            targz(&[Entry::block_device("sda", 8, 0)]),
            "block device node (8:0)",
        );
        refused(
            targz(&[Entry::file(MARKER, 0o644, b"sha512:forged".to_vec())]),
            "marker",
        );
        refused(
            targz(&[Entry::hardlink("a", "missing")]),
            "has not unpacked before it",
        );
        refused(
            targz(&[
                Entry::file("f", 0o644, b"x".to_vec()),
                Entry::file("f/g", 0o644, b"x".to_vec()),
            ]),
            "needs `f` to be a directory",
        );
        refused(
            targz(&[
                Entry::dir("d", 0o755),
                Entry::file("d", 0o644, b"x".to_vec()),
            ]),
            "would replace a directory",
        );
    }

    #[test]
    fn a_bomb_stops_at_the_cap() {
        let (_dir, result) = unpack_bytes(&hostile::bomb(8 << 20), 1 << 20);
        assert!(
            matches!(result, Err(UnpackError::TooBig { limit }) if limit == 1 << 20),
            "{result:?}"
        );
        // The same archive passes a cap it fits under.
        let (_dir, result) = unpack_bytes(&hostile::bomb(8 << 20), 16 << 20);
        assert_eq!(result.unwrap().files, 2, "etc/harmless and bomb");
    }

    #[test]
    fn garbage_is_corrupt() {
        let (_dir, result) = unpack_bytes(b"this is not gzip", 1 << 20);
        assert!(matches!(result, Err(UnpackError::Corrupt(_))), "{result:?}");
    }

    #[test]
    fn unpacks_modes_links_duplicates_and_fifos() {
        let bytes = targz(&[
            Entry::dir("./", 0o755),
            Entry::dir("tmp", 0o1777),
            Entry::dir("ro", 0o555),
            Entry::file("ro/inside", 0o644, b"in a read-only dir".to_vec()),
            Entry::file("bin/su", 0o4755, b"#!/bin/sh\n".to_vec()),
            Entry::symlink("bin/sh", "/bin/busybox"),
            Entry::file("bin/sh", 0o755, b"replaced".to_vec()),
            Entry::symlink("bin/sh", "/bin/busybox"),
            Entry::hardlink("bin/su2", "./bin/su"),
            Entry::fifo("run/fifo", 0o620),
        ]);
        let (dir, result) = unpack_bytes(&bytes, 1 << 20);
        let stats = result.unwrap();
        assert_eq!(
            (stats.files, stats.symlinks, stats.hardlinks, stats.fifos),
            (3, 2, 1, 1)
        );
        let root = dir.path().join("root");
        let mode = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap().mode();
        assert_eq!(mode("") & 0o7777, 0o755);
        assert_eq!(mode("tmp") & 0o7777, 0o1777);
        assert_eq!(mode("ro") & 0o7777, 0o555);
        assert_eq!(mode("bin/su") & 0o7777, 0o4755);
        assert_eq!(mode("bin") & 0o7777, 0o755, "an implied parent");
        assert_eq!(mode("run/fifo") & libc::S_IFMT, libc::S_IFIFO);
        assert_eq!(mode("run/fifo") & 0o7777, 0o620);
        assert_eq!(
            std::fs::read_link(root.join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        let ino = |p: &str| std::fs::metadata(root.join(p)).unwrap().ino();
        assert_eq!(ino("bin/su"), ino("bin/su2"));
        assert_eq!(
            std::fs::symlink_metadata(root.join("bin/su"))
                .unwrap()
                .mtime(),
            std::fs::symlink_metadata(root.join("tmp")).unwrap().mtime(),
        );
        // Leave the tree removable for a non-root run.
        std::fs::set_permissions(root.join("ro"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn a_plain_tar_with_a_hook() {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(
            &targz(&[
                Entry::dir("d", 0o755),
                Entry::file("d/keep", 0o644, b"k".to_vec()),
                Entry::file("d/.wh.gone", 0o644, Vec::new()),
                Entry::file("top", 0o644, b"t".to_vec()),
            ])[..],
        )
        .read_to_end(&mut plain)
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut seen = Vec::new();
        let stats = unpack_tar(
            &plain[..],
            dir.path(),
            1 << 20,
            &mut |parent, name| {
                seen.push(lossy(name));
                if name.starts_with(b".wh.") {
                    // The hook gets the entry's parent directory.
                    nix::unistd::mkfifoat(
                        parent,
                        b"hooked".as_slice(),
                        Mode::from_bits_truncate(0o600),
                    )
                    .unwrap();
                    return Ok(true);
                }
                Ok(false)
            },
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            seen,
            ["keep", ".wh.gone", "top"],
            "directories are not shown"
        );
        assert_eq!(stats.files, 2);
        assert!(dir.path().join("d/hooked").exists());
        assert!(!dir.path().join("d/.wh.gone").exists());

        // A hook's refusal refuses the archive, naming the entry.
        let dir = tempfile::tempdir().unwrap();
        let err = unpack_tar(
            &plain[..],
            dir.path(),
            1 << 20,
            &mut |_, name| match name {
                b"top" => Err("is not wanted".into()),
                _ => Ok(false),
            },
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing the archive: entry `top` is not wanted"
        );
    }
}
