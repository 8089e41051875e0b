//! The rootfs fetcher: downloads the Alpine minirootfs the workshop's
//! containers run in, verifies it, and unpacks it safely.
//!
//! A container needs a root filesystem to `pivot_root` into (step03 on).
//! The workshop uses Alpine's minirootfs: about 3.5 MiB, a static-ish
//! busybox userland, and the same on every learner's machine because it is
//! pinned here by URL and SHA-512 ([`pinned`]). What this crate guarantees:
//!
//! - **Verified before use.** The digest is computed while the archive
//!   streams into a `.part` file, and compared before a single byte is
//!   unpacked ([`download`](crate::fetch)).
//! - **Safe unpacking.** Every entry is checked; an archive with a `..` path,
//!   an absolute path, a hard link out, a write through a symlink, a device
//!   node, or more than `--max-bytes` of content is refused as a whole
//!   ([`unpack`]).
//! - **All or nothing.** The archive is unpacked into a fresh temporary
//!   directory beside the destination and renamed into place in one step
//!   (with `--force`, swapped with the old one atomically). A failure, or
//!   Ctrl-C, leaves no `.part`, no temporary directory, no half rootfs, and an
//!   existing good rootfs untouched ([`cleanup`]).
//! - **Idempotent.** A marker file, `<dest>/.workshop-rootfs`, records the
//!   verified checksum; fetching again when it matches does nothing.
//!
//! The steps and `doctor` use [`status`] and [`fetch_command`] to tell a
//! learner whether the rootfs is there and, if not, the exact command to get
//! it; [`fetch`] does the work for the `rootfs-fetcher` binary.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod checksum;
pub mod cleanup;
/// Public for `cargo xtask kit`, which fetches both pinned tarballs with it.
pub mod download;
pub mod pinned;
pub mod progress;
pub mod unpack;

pub use checksum::Checksum;
pub use progress::Progress;
pub use unpack::{MARKER, UnpackError};

use cleanup::{Kind, Pending};
use indicatif::HumanBytes;
use progress::{Reporter, seconds};

/// Where the rootfs goes when neither `--dest` nor `WORKSHOP_ROOTFS` says.
pub const DEFAULT_DEST: &str = "/var/lib/contain-rs-workshop/rootfs";
/// The default cap on unpacked bytes: the minirootfs is about 10 MiB
/// unpacked, so this only stops bombs and wrong files.
pub const DEFAULT_MAX_BYTES: u64 = 512 << 20;
/// The default connect and stall timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// `WORKSHOP_ROOTFS` if set (and not empty), else [`DEFAULT_DEST`].
pub fn default_dest() -> PathBuf {
    match std::env::var_os("WORKSHOP_ROOTFS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(DEFAULT_DEST),
    }
}

/// Whether a verified rootfs is at a destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// The marker is there; the string is its checksum in the form
    /// `sha512:<hex>` (or `sha256:<hex>`).
    Verified { sha512_or_sha256: String },
    /// Nothing at the destination.
    Missing,
    /// Something is there, but not a rootfs this fetcher verified; why.
    Unverified(String),
}

/// Reads `<dest>/.workshop-rootfs`. Cheap: no hashing, no network.
pub fn status(dest: &Path) -> Status {
    match std::fs::metadata(dest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Status::Missing,
        Err(e) => return Status::Unverified(format!("cannot look at it: {e}")),
        Ok(m) if !m.is_dir() => return Status::Unverified("it is not a directory".into()),
        Ok(_) => {}
    }
    let marker = dest.join(MARKER);
    let text = match std::fs::read_to_string(&marker) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Status::Unverified(format!(
                "it has no {MARKER} marker: it was not made by rootfs-fetcher, or a fetch did not finish"
            ));
        }
        Err(e) => return Status::Unverified(format!("cannot read {}: {e}", marker.display())),
    };
    match Checksum::from_tagged(text.lines().next().unwrap_or_default()) {
        Ok(sum) => Status::Verified {
            sha512_or_sha256: sum.to_string(),
        },
        Err(why) => Status::Unverified(format!("its {MARKER} marker is malformed: {why}")),
    }
}

/// The command a learner runs to fetch the rootfs into `dest`. No `sudo`:
/// the workspace runs its binaries as root itself (.cargo/as-root), and a
/// `sudo cargo` would build as root and leave root-owned files in target/.
pub fn fetch_command(dest: &Path) -> String {
    format!(
        "cargo run -p rootfs-fetcher -- --dest {}",
        shell_quote(&dest.to_string_lossy())
    )
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=,@%".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Where the archive comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `http://` or `https://`.
    Url(String),
    /// A local copy (`--from-file`), for classrooms without internet.
    File(PathBuf),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Url(url) => url.clone(),
            Source::File(path) => path.display().to_string(),
        }
    }
}

/// What to fetch, where to, and how carefully.
#[derive(Clone, Debug)]
pub struct Options {
    /// The rootfs directory to create (its parent is created if needed).
    pub dest: PathBuf,
    pub source: Source,
    /// What the archive must hash to.
    pub checksum: Checksum,
    /// Replace whatever is at `dest`, even a verified rootfs.
    pub force: bool,
    /// Connect timeout, and the longest a download may stall.
    pub timeout: Duration,
    /// The most bytes the archive may expand to (and be downloaded as).
    pub max_bytes: u64,
    pub progress: Progress,
}

impl Options {
    /// Any archive, with the default timeout, cap and progress.
    pub fn new(dest: PathBuf, source: Source, checksum: Checksum) -> Self {
        Options {
            dest,
            source,
            checksum,
            force: false,
            timeout: DEFAULT_TIMEOUT,
            max_bytes: DEFAULT_MAX_BYTES,
            progress: Progress::Auto,
        }
    }

    /// The pinned Alpine minirootfs for this machine's architecture.
    pub fn pinned_for_host(dest: PathBuf) -> Result<Self, FetchError> {
        Options::pinned_for_arch(std::env::consts::ARCH, dest)
    }

    /// The pinned Alpine minirootfs for `arch` (`x86_64`, `aarch64`).
    pub fn pinned_for_arch(arch: &str, dest: PathBuf) -> Result<Self, FetchError> {
        let pin = pinned::for_arch(arch).ok_or_else(|| FetchError::UnsupportedArch {
            arch: arch.to_owned(),
            supported: pinned::supported(),
        })?;
        let checksum = Checksum::sha512(pin.sha512).expect("pinned checksums are well formed");
        Ok(Options::new(
            dest,
            Source::Url(pin.url.to_owned()),
            checksum,
        ))
    }
}

/// What [`fetch`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The archive was fetched, verified and unpacked into place.
    Fetched,
    /// A rootfs with the wanted checksum was already there; nothing changed.
    AlreadyPresent,
}

/// Why a fetch failed. Every message is one line that names the cause.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "no pinned Alpine minirootfs for architecture `{arch}` (pinned: {supported}); pass --url URL --sha512 HEX (or --from-file PATH --sha512 HEX) to use another archive"
    )]
    UnsupportedArch { arch: String, supported: String },
    #[error("{}: {why}", .dest.display())]
    BadDest { dest: PathBuf, why: String },
    #[error(
        "{} exists but is not a rootfs this fetcher verified ({why}); pass --force to replace it",
        .dest.display()
    )]
    NotARootfs { dest: PathBuf, why: String },
    #[error(
        "{} already holds a different verified rootfs ({found}, wanted {wanted}); pass --force to replace it",
        .dest.display()
    )]
    DifferentRootfs {
        dest: PathBuf,
        found: String,
        wanted: String,
    },
    #[error("HTTP {status} from {url}; nothing was kept")]
    Http { url: String, status: String },
    #[error(
        "cannot download {url}: {why}; nothing was kept (offline? copy the archive over and pass --from-file PATH)"
    )]
    Download { url: String, why: String },
    #[error(
        "the download of {url} stalled: no data for {secs} s (--timeout) after {got} bytes; the partial download was deleted"
    )]
    Stalled { url: String, secs: u64, got: u64 },
    #[error(
        "the download of {url} was truncated: {got} of {expected} bytes arrived; the partial download was deleted"
    )]
    Truncated {
        url: String,
        got: u64,
        expected: u64,
    },
    #[error("{what} is larger than --max-bytes ({limit} bytes); nothing was kept")]
    TooLarge {
        what: String,
        bytes: Option<u64>,
        limit: u64,
    },
    #[error(
        "checksum mismatch for {source_name}: expected {} {}, got {got}; {then}",
        .expected.algorithm(),
        .expected.hex()
    )]
    Mismatch {
        source_name: String,
        expected: Checksum,
        got: String,
        then: &'static str,
    },
    #[error("{cause}; {} was not changed", .dest.display())]
    Unpack { dest: PathBuf, cause: UnpackError },
    #[error("cannot {what} {}: {cause}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "{} appeared while this fetch was running (another rootfs-fetcher?); it was left as it is",
        .dest.display()
    )]
    Raced { dest: PathBuf },
}

/// Fetches, verifies and unpacks the archive into `opts.dest`, unless a
/// rootfs with the same checksum is already there.
///
/// Progress goes to stderr (see [`Progress`]). No thread started here
/// outlives the call: the HTTP client and its runtime are joined, and the
/// progress bars do not tick on their own.
pub fn fetch(opts: &Options) -> Result<Outcome, FetchError> {
    let reporter = Reporter::new(opts.progress);
    let (dest, parent, name) = split_dest(&opts.dest)?;
    let wanted = opts.checksum.to_string();
    let shown = dest.display();

    match status(&dest) {
        Status::Verified { sha512_or_sha256 } if !opts.force => {
            if sha512_or_sha256 == wanted {
                reporter.line(format!(
                    "{shown}: already present and verified ({}:{})",
                    opts.checksum.algorithm(),
                    checksum::abbrev(opts.checksum.hex())
                ));
                return Ok(Outcome::AlreadyPresent);
            }
            return Err(FetchError::DifferentRootfs {
                dest,
                found: checksum::abbrev(&sha512_or_sha256),
                wanted: checksum::abbrev(&wanted),
            });
        }
        Status::Unverified(why) if !opts.force && !is_empty_dir(&dest) => {
            return Err(FetchError::NotARootfs { dest, why });
        }
        _ => {}
    }

    let created_parents = create_parents(&parent)?;
    let (mut part_file, part) = new_part(&parent, &name)?;
    let source_name = opts.source.describe();
    let received = match &opts.source {
        Source::Url(url) => download::from_url(
            url,
            &mut part_file,
            opts.checksum.hasher(),
            opts.timeout,
            opts.max_bytes,
            &reporter,
        )?,
        Source::File(path) => download::from_file(
            path,
            &mut part_file,
            opts.checksum.hasher(),
            opts.max_bytes,
            &reporter,
        )?,
    };
    if received.digest != opts.checksum.hex() {
        return Err(FetchError::Mismatch {
            source_name,
            expected: opts.checksum.clone(),
            got: received.digest,
            then: match opts.source {
                Source::Url(_) => "the download was deleted",
                Source::File(_) => "nothing was unpacked",
            },
        });
    }
    reporter.line(format!(
        "verified {} {} ({} in {})",
        opts.checksum.algorithm(),
        checksum::abbrev(opts.checksum.hex()),
        HumanBytes(received.bytes),
        seconds(received.took)
    ));

    let part_io = |what, cause| FetchError::Io {
        what,
        path: part.path().to_owned(),
        cause,
    };
    part_file
        .seek(SeekFrom::Start(0))
        .map_err(|e| part_io("rewind", e))?;
    let unpack_dir = new_unpack_dir(&parent, &name)?;
    reporter.line(format!("unpacking into {shown}"));
    let consumed = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let archive = Counting {
        inner: &part_file,
        count: consumed.clone(),
    };
    let mut bar = reporter.bar("unpack", Some(received.bytes));
    let stats = unpack::unpack(archive, unpack_dir.path(), opts.max_bytes, &mut |_| {
        bar.set(consumed.get())
    })
    .map_err(|cause| FetchError::Unpack {
        dest: dest.clone(),
        cause,
    })?;
    let unpack_took = bar.finish();

    write_marker(unpack_dir.path(), &opts.checksum, &source_name)?;
    let replaced = install(&unpack_dir, &dest)?;
    // Now holds the previous rootfs, if there was one; remove it.
    drop(unpack_dir);
    drop(part);
    drop(part_file);
    for dir in created_parents {
        dir.disarm();
    }
    reporter.line(format!(
        "{shown}: {} {} entries ({} files, {} dirs, {} symlinks, {} hard links), {} in {}",
        if replaced {
            "replaced with"
        } else {
            "unpacked"
        },
        stats.entries,
        stats.files,
        stats.dirs,
        stats.symlinks,
        stats.hardlinks,
        HumanBytes(stats.tar_bytes),
        seconds(unpack_took)
    ));
    Ok(Outcome::Fetched)
}

/// Counts the compressed bytes the unpacker has consumed, for its bar.
struct Counting<R> {
    inner: R,
    count: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// The absolute destination, its parent and its file name.
fn split_dest(dest: &Path) -> Result<(PathBuf, PathBuf, String), FetchError> {
    let bad = |why: &str| FetchError::BadDest {
        dest: dest.to_owned(),
        why: why.to_owned(),
    };
    let absolute = std::path::absolute(dest).map_err(|e| bad(&e.to_string()))?;
    let name = match absolute.file_name() {
        Some(name) if name != ".." => name.to_string_lossy().into_owned(),
        _ => {
            return Err(bad(
                "--dest must name a directory to create, not `/` or `..`",
            ));
        }
    };
    let parent = absolute
        .parent()
        .expect("a path with a file name has a parent")
        .to_owned();
    Ok((absolute, parent, name))
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
}

/// Creates the missing ancestors of the destination, each removed again
/// (if still empty) should the fetch fail. Innermost first, so they drop in
/// the order that lets each removal succeed.
fn create_parents(parent: &Path) -> Result<Vec<Pending>, FetchError> {
    let mut missing = Vec::new();
    let mut at = parent;
    while std::fs::symlink_metadata(at).is_err() {
        missing.push(at.to_owned());
        match at.parent() {
            Some(up) => at = up,
            None => break,
        }
    }
    let mut created = Vec::new();
    for dir in missing.into_iter().rev() {
        std::fs::create_dir(&dir).map_err(|cause| FetchError::Io {
            what: "create the directory",
            path: dir.clone(),
            cause,
        })?;
        created.push(Pending::new(dir, Kind::EmptyDir));
    }
    created.reverse();
    Ok(created)
}

/// `<parent>/.<name>.XXXXXX.part`, opened for writing and reading back.
fn new_part(parent: &Path, name: &str) -> Result<(std::fs::File, Pending), FetchError> {
    let file = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        .tempfile_in(parent)
        .map_err(|cause| FetchError::Io {
            what: "create a .part file in",
            path: parent.to_owned(),
            cause,
        })?;
    let (file, path) = file.keep().map_err(|e| FetchError::Io {
        what: "keep",
        path: e.file.path().to_owned(),
        cause: e.error,
    })?;
    Ok((file, Pending::new(path, Kind::File)))
}

/// `<parent>/.<name>.unpack-XXXXXX`, mode 0700 until it is complete.
fn new_unpack_dir(parent: &Path, name: &str) -> Result<Pending, FetchError> {
    let dir = tempfile::Builder::new()
        .prefix(&format!(".{name}.unpack-"))
        .tempdir_in(parent)
        .map_err(|cause| FetchError::Io {
            what: "create a temporary directory in",
            path: parent.to_owned(),
            cause,
        })?;
    Ok(Pending::new(dir.keep(), Kind::Tree))
}

fn write_marker(root: &Path, sum: &Checksum, source: &str) -> Result<(), FetchError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = root.join(MARKER);
    let text = format!(
        "{sum}\n# Written by rootfs-fetcher {} after verifying the archive from {source}.\n# Delete this file, or pass --force, to fetch again.\n",
        env!("CARGO_PKG_VERSION")
    );
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|cause| FetchError::Io {
            what: "write the marker",
            path,
            cause,
        })
}

/// Moves the finished tree into place in one step; returns whether it
/// replaced something. Afterwards `unpack_dir`'s path holds the replaced tree
/// (or nothing), which its guard then removes.
///
/// With something at `dest`, `renameat2(RENAME_EXCHANGE)` swaps the two
/// atomically: there is no moment without a rootfs. Filesystems without it
/// get rename-aside, rename-in, move-the-old-one-back-to-the-temp-path, all
/// under the cleanup lock so a Ctrl-C cannot cut the sequence.
fn install(unpack_dir: &Pending, dest: &Path) -> Result<bool, FetchError> {
    use nix::errno::Errno;
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    let tmp = unpack_dir.path();
    let io = |what, cause: Errno| FetchError::Io {
        what,
        path: dest.to_owned(),
        cause: cause.into(),
    };
    cleanup::critical(|| {
        if std::fs::symlink_metadata(dest).is_err() {
            return match renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RenameFlags::RENAME_NOREPLACE) {
                Ok(()) => Ok(false),
                Err(Errno::EEXIST) => Err(FetchError::Raced {
                    dest: dest.to_owned(),
                }),
                Err(Errno::EINVAL | Errno::ENOSYS) => {
                    nix::fcntl::renameat(AT_FDCWD, tmp, AT_FDCWD, dest)
                        .map(|()| false)
                        .map_err(|e| io("rename the new rootfs to", e))
                }
                Err(e) => Err(io("rename the new rootfs to", e)),
            };
        }
        match renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RenameFlags::RENAME_EXCHANGE) {
            Ok(()) => return Ok(true),
            Err(Errno::EINVAL | Errno::ENOSYS) => {}
            Err(e) => return Err(io("swap the new rootfs with", e)),
        }
        let mut aside = tmp.as_os_str().to_owned();
        aside.push(".old");
        let aside = PathBuf::from(aside);
        std::fs::rename(dest, &aside).map_err(|cause| FetchError::Io {
            what: "move aside the old rootfs at",
            path: dest.to_owned(),
            cause,
        })?;
        if let Err(cause) = std::fs::rename(tmp, dest) {
            let _ = std::fs::rename(&aside, dest);
            return Err(FetchError::Io {
                what: "rename the new rootfs to",
                path: dest.to_owned(),
                cause,
            });
        }
        if std::fs::rename(&aside, tmp).is_err() {
            let _ = std::fs::remove_dir_all(&aside);
        }
        Ok(true)
    })
}

/// Parses a size: `1048576`, `512K`, `512M`, `1G` (binary units; `KiB`,
/// `MB` and lowercase are accepted too).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let num: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (try 1048576, 512K, 512M or 1G)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => return Err(format!("`{s}`: unknown unit `{other}` (use K, M or G)")),
    };
    let bytes = num
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("`{s}` is too large"))?;
    if bytes == 0 {
        return Err("the size must be more than 0".into());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12X").unwrap_err().contains("unknown unit"));
        assert!(parse_size("M").is_err());
        assert!(
            parse_size("99999999999999G")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn commands_are_quoted_for_the_shell() {
        assert_eq!(
            fetch_command(Path::new("/var/lib/contain-rs-workshop/rootfs")),
            "cargo run -p rootfs-fetcher -- --dest /var/lib/contain-rs-workshop/rootfs"
        );
        assert_eq!(
            fetch_command(Path::new("/tmp/my rootfs's")),
            r"cargo run -p rootfs-fetcher -- --dest '/tmp/my rootfs'\''s'"
        );
    }

    #[test]
    fn status_reads_the_marker() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("rootfs");
        assert_eq!(status(&dest), Status::Missing);
        std::fs::create_dir(&dest).unwrap();
        assert!(
            matches!(status(&dest), Status::Unverified(why) if why.contains("no .workshop-rootfs"))
        );
        std::fs::write(dest.join(MARKER), "sha512:zz\n").unwrap();
        assert!(matches!(status(&dest), Status::Unverified(why) if why.contains("malformed")));
        let sum = format!("sha256:{}", "ab".repeat(32));
        std::fs::write(dest.join(MARKER), format!("{sum}\n# comment\n")).unwrap();
        assert_eq!(
            status(&dest),
            Status::Verified {
                sha512_or_sha256: sum
            }
        );
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(
            matches!(status(&file), Status::Unverified(why) if why.contains("not a directory"))
        );
    }

    #[test]
    fn default_dest_and_pins() {
        // Only reads the environment; the binary's tests cover WORKSHOP_ROOTFS.
        let dest = default_dest();
        assert!(dest.is_absolute() || std::env::var_os("WORKSHOP_ROOTFS").is_some());
        let opts = Options::pinned_for_arch("aarch64", "/x".into()).unwrap();
        assert!(matches!(&opts.source, Source::Url(u) if u.contains("aarch64")));
        assert_eq!(opts.checksum.algorithm(), "sha512");
        let err = Options::pinned_for_arch("riscv64", "/x".into()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("riscv64") && msg.contains("x86_64, aarch64") && msg.contains("--url"),
            "{msg}"
        );
    }

    #[test]
    fn destinations_must_name_a_directory() {
        assert!(split_dest(Path::new("/")).is_err());
        let (abs, parent, name) = split_dest(Path::new("/a/b/rootfs")).unwrap();
        assert_eq!(
            (abs.as_path(), parent.as_path(), name.as_str()),
            (Path::new("/a/b/rootfs"), Path::new("/a/b"), "rootfs")
        );
    }
}
