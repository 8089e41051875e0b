//! The test rootfs: an Alpine-shaped root filesystem built from Debian's
//! busybox-static, because no machine that tests this project can reach
//! Alpine's servers.
//!
//! Its shape follows the Alpine minirootfs the learners fetch: a static
//! `/bin/busybox`, one `/bin/<applet> -> /bin/busybox` symlink per applet
//! (so `/bin/sh` exists), a few files in `/etc`, the usual empty mount points,
//! and `/tmp` with mode 1777. It comes in two forms, both cached under
//! [`work_dir`] and built at most once however many test threads and test
//! processes ask at the same time:
//!
//! - [`busybox_tarball`]: a `.tar.gz`, which the fetcher's tests serve on
//!   loopback and drive the real download path against;
//! - [`busybox_rootfs`]: the unpacked directory, owned by root, which the
//!   steps' tests pass as `--rootfs`.
//!
//! [`hostile`] builds the archives a safe unpacker must refuse, and
//! [`tarball`] the raw builder behind all of them.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use sha2::Digest;

use self::tarball::Entry;

/// Where the busybox binary of the test rootfs comes from.
pub const BUSYBOX: &str = "/bin/busybox";

/// The modification time of every entry, so the tarball is reproducible.
const MTIME: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

/// `<workspace>/target/testkit`, or `$CARGO_TARGET_DIR/testkit`.
pub fn work_dir() -> PathBuf {
    // testkit lives one level below the workspace root.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit is inside the workspace")
        .to_path_buf();
    let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace.join(dir)
            }
        }
        None => workspace.join("target"),
    };
    target.join("testkit")
}

/// The cached `.tar.gz` of the busybox rootfs: `<work_dir>/busybox-rootfs.tar.gz`.
pub fn busybox_tarball() -> Result<PathBuf> {
    cached("busybox-rootfs.tar.gz", |tmp| {
        let bytes = tarball::targz(&layout()?);
        fs::write(tmp, bytes).with_context(|| format!("write {}", tmp.display()))
    })
}

/// The cached unpacked busybox rootfs, `<work_dir>/rootfs`, owned by root.
///
/// Fails (it does not skip) when not run as root: the steps need a rootfs
/// owned by root, and only root can make one.
pub fn busybox_rootfs() -> Result<PathBuf> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "building the busybox test rootfs needs root (its files must be owned by root); run the tests as root"
        );
    }
    cached("rootfs", |tmp| materialize(&layout()?, tmp))
}

/// Copies `src` into the cached busybox rootfs at `rel_path` (mode 0755),
/// atomically, and returns where it landed. For helper programs a test wants
/// to run inside the container.
pub fn install_file(rel_path: &str, src: &Path) -> Result<PathBuf> {
    let rel = Path::new(rel_path.trim_start_matches('/'));
    if rel
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        bail!("install_file: {rel_path:?} must be a plain relative path");
    }
    let dest = busybox_rootfs()?.join(rel);
    let parent = dest.parent().expect("a path below the rootfs has a parent");
    fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    let tmp = parent.join(format!(".install-{}", unique()));
    let result = (|| -> Result<()> {
        fs::copy(src, &tmp)
            .with_context(|| format!("copy {} to {}", src.display(), tmp.display()))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
        fs::rename(&tmp, &dest).with_context(|| format!("rename into {}", dest.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| dest)
}

/// The SHA-512 of a file, lowercase hex.
pub fn sha512_file(path: impl AsRef<Path>) -> Result<String> {
    hash_file::<sha2::Sha512>(path.as_ref())
}

/// The SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: impl AsRef<Path>) -> Result<String> {
    hash_file::<sha2::Sha256>(path.as_ref())
}

fn hash_file<D: Digest>(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut hasher = D::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The applets of `/bin/busybox`, after checking that it is there and static
/// (a dynamic busybox would not run inside a rootfs without its libraries).
pub fn busybox_applets() -> Result<Vec<String>> {
    const HINT: &str = "install busybox-static (apt-get install busybox-static)";
    let bytes = fs::read(BUSYBOX).with_context(|| format!("cannot read {BUSYBOX}; {HINT}"))?;
    match is_static_elf(&bytes) {
        Some(true) => {}
        Some(false) => bail!("{BUSYBOX} is dynamically linked; {HINT}"),
        None => bail!("{BUSYBOX} is not an ELF executable; {HINT}"),
    }
    let out = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .with_context(|| format!("run {BUSYBOX} --list; {HINT}"))?;
    if !out.status.success() {
        bail!("{BUSYBOX} --list failed ({}); {HINT}", out.status);
    }
    let applets: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && !a.contains('/') && *a != "busybox")
        .map(str::to_owned)
        .collect();
    if !applets.iter().any(|a| a == "sh") {
        bail!("{BUSYBOX} has no `sh` applet; {HINT}");
    }
    Ok(applets)
}

/// `Some(true)` for an ELF file without a program interpreter (`PT_INTERP`),
/// that is, a static executable; `None` when it is not ELF at all.
fn is_static_elf(bytes: &[u8]) -> Option<bool> {
    if bytes.len() < 0x40 || &bytes[..4] != b"\x7fELF" {
        return None;
    }
    let is64 = bytes[4] == 2;
    let little = bytes[5] == 1;
    let u16_at = |at: usize| -> Option<u64> {
        let b: [u8; 2] = bytes.get(at..at + 2)?.try_into().ok()?;
        Some(if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        } as u64)
    };
    let u32_at = |at: usize| -> Option<u64> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        } as u64)
    };
    let u64_at = |at: usize| -> Option<u64> {
        let b: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
        Some(if little {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    };
    let (phoff, phentsize, phnum) = if is64 {
        (u64_at(0x20)?, u16_at(0x36)?, u16_at(0x38)?)
    } else {
        (u32_at(0x1c)?, u16_at(0x2a)?, u16_at(0x2c)?)
    };
    const PT_INTERP: u64 = 3;
    for i in 0..phnum {
        let at = usize::try_from(phoff + i * phentsize).ok()?;
        if u32_at(at)? == PT_INTERP {
            return Some(false);
        }
    }
    Some(true)
}

/// Every entry of the test rootfs, parents before children.
fn layout() -> Result<Vec<Entry>> {
    let applets = busybox_applets()?;
    let busybox = fs::read(BUSYBOX).with_context(|| format!("read {BUSYBOX}"))?;

    let mut entries = vec![Entry::dir("./", 0o755)];
    for dir in [
        "bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys", "mnt", "run",
        "var", "home",
    ] {
        entries.push(Entry::dir(dir, 0o755));
    }
    entries.push(Entry::dir("root", 0o700));
    entries.push(Entry::dir("tmp", 0o1777));

    entries.push(Entry::file("bin/busybox", 0o755, busybox));
    for applet in &applets {
        entries.push(Entry::symlink(&format!("bin/{applet}"), "/bin/busybox"));
    }

    let etc: [(&str, &str); 5] = [
        (
            "etc/os-release",
            "NAME=\"contain-rs-workshop busybox\"\n\
             ID=workshop-busybox\n\
             ID_LIKE=alpine\n\
             VERSION_ID=test\n\
             PRETTY_NAME=\"contain-rs-workshop busybox test rootfs (Alpine-shaped, built from Debian's busybox-static)\"\n\
             HOME_URL=\"https://alpinelinux.org/\"\n",
        ),
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\n\
             daemon:x:2:2:daemon:/sbin:/bin/false\n\
             nobody:x:65534:65534:nobody:/:/bin/false\n",
        ),
        (
            "etc/group",
            "root:x:0:root\ndaemon:x:2:root\nnobody:x:65534:\n",
        ),
        (
            "etc/hosts",
            "127.0.0.1\tlocalhost localhost.localdomain\n::1\tlocalhost localhost.localdomain\n",
        ),
        ("etc/hostname", "localhost\n"),
    ];
    for (path, text) in etc {
        entries.push(Entry::file(path, 0o644, text.as_bytes().to_vec()));
    }
    Ok(entries)
}

/// Writes `entries` as a directory tree at `root` (which must not exist),
/// owned by root, with exactly the entries' modes.
fn materialize(entries: &[Entry], root: &Path) -> Result<()> {
    use std::os::unix::fs::lchown;
    use tarball::Kind;
    for entry in entries {
        let rel = String::from_utf8_lossy(&entry.path).into_owned();
        let path = if rel == "./" {
            root.to_path_buf()
        } else {
            root.join(&rel)
        };
        let what = || format!("create {}", path.display());
        match &entry.kind {
            Kind::Dir => fs::create_dir(&path).with_context(what)?,
            Kind::File(data) => fs::write(&path, data).with_context(what)?,
            Kind::Symlink(target) => {
                symlink(String::from_utf8_lossy(target).as_ref(), &path).with_context(what)?
            }
            other => bail!("the test rootfs has no {other:?} entries"),
        }
        lchown(&path, Some(entry.uid as u32), Some(entry.gid as u32))
            .with_context(|| format!("chown {}", path.display()))?;
        if !matches!(entry.kind, Kind::Symlink(_)) {
            // After the chown, which clears set-id bits; mkdir's mode obeys
            // the umask, this does not.
            fs::set_permissions(&path, fs::Permissions::from_mode(entry.mode))
                .with_context(|| format!("chmod {}", path.display()))?;
        }
    }
    Ok(())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub(crate) fn unique() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Returns `<work_dir>/<name>`, building it with `build(tmp)` first if it is
/// not there. Safe across threads and processes: the build happens under an
/// exclusive `flock` on `<work_dir>/.<name>.lock`, into a temporary path
/// beside the result, which is renamed into place only when complete; so the
/// final path, once it exists, is always whole.
pub(crate) fn cached(name: &str, build: impl FnOnce(&Path) -> Result<()>) -> Result<PathBuf> {
    let dir = work_dir();
    let target = dir.join(name);
    if target.symlink_metadata().is_ok() {
        return Ok(target);
    }
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let lock_path = dir.join(format!(".{name}.lock"));
    let lock_file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("open {}", lock_path.display()))?;
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| errno)
        .with_context(|| format!("flock {}", lock_path.display()))?;
    if target.symlink_metadata().is_ok() {
        // Someone else built it while we waited for the lock.
        return Ok(target);
    }
    // Under the lock nobody else is building: leftovers of a crashed build
    // are stale.
    let tmp_prefix = format!(".{name}.tmp-");
    for leftover in fs::read_dir(&dir)?.flatten() {
        if leftover
            .file_name()
            .to_string_lossy()
            .starts_with(&tmp_prefix)
        {
            remove_any(&leftover.path());
        }
    }
    let tmp = dir.join(format!("{tmp_prefix}{}", unique()));
    let built = build(&tmp).and_then(|()| {
        fs::rename(&tmp, &target)
            .with_context(|| format!("rename {} to {}", tmp.display(), target.display()))
    });
    if let Err(err) = built {
        remove_any(&tmp);
        return Err(err.context(format!("building {}", target.display())));
    }
    Ok(target)
}

fn remove_any(path: &Path) {
    match path.symlink_metadata() {
        Ok(m) if m.is_dir() => {
            let _ = fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// A `.tar.gz` builder that writes exactly the bytes it is given: names with
/// `..`, absolute paths, device nodes. The `tar` crate's own `set_path`
/// refuses `..`, so the names go straight into the header's name field.
pub mod tarball {
    use std::io::Read;

    use flate2::Compression;
    use flate2::write::GzEncoder;
    use tar::{EntryType, Header};

    /// What an entry is.
    #[derive(Clone, Debug)]
    pub enum Kind {
        Dir,
        File(Vec<u8>),
        /// A regular file of this many zero bytes, streamed (for bombs).
        Zeros(u64),
        Symlink(Vec<u8>),
        Hardlink(Vec<u8>),
        CharDevice(u32, u32),
        BlockDevice(u32, u32),
        Fifo,
    }

    /// One archive entry. `path` and link targets are raw header bytes.
    #[derive(Clone, Debug)]
    pub struct Entry {
        pub path: Vec<u8>,
        pub kind: Kind,
        pub mode: u32,
        pub uid: u64,
        pub gid: u64,
    }

    impl Entry {
        fn new(path: &str, kind: Kind, mode: u32) -> Entry {
            Entry {
                path: path.as_bytes().to_vec(),
                kind,
                mode,
                uid: 0,
                gid: 0,
            }
        }
        pub fn dir(path: &str, mode: u32) -> Entry {
            Entry::new(path, Kind::Dir, mode)
        }
        pub fn file(path: &str, mode: u32, data: impl Into<Vec<u8>>) -> Entry {
            Entry::new(path, Kind::File(data.into()), mode)
        }
        pub fn zeros(path: &str, len: u64) -> Entry {
            Entry::new(path, Kind::Zeros(len), 0o644)
        }
        pub fn symlink(path: &str, target: &str) -> Entry {
            Entry::new(path, Kind::Symlink(target.as_bytes().to_vec()), 0o777)
        }
        pub fn hardlink(path: &str, target: &str) -> Entry {
            Entry::new(path, Kind::Hardlink(target.as_bytes().to_vec()), 0o644)
        }
        pub fn char_device(path: &str, major: u32, minor: u32) -> Entry {
            Entry::new(path, Kind::CharDevice(major, minor), 0o666)
        }
        pub fn block_device(path: &str, major: u32, minor: u32) -> Entry {
            Entry::new(path, Kind::BlockDevice(major, minor), 0o660)
        }
        pub fn fifo(path: &str, mode: u32) -> Entry {
            Entry::new(path, Kind::Fifo, mode)
        }
        /// The same entry with this owner.
        pub fn owner(mut self, uid: u64, gid: u64) -> Entry {
            self.uid = uid;
            self.gid = gid;
            self
        }
    }

    /// The entries as a gzip-compressed tar archive, in order.
    pub fn targz(entries: &[Entry]) -> Vec<u8> {
        let gz = GzEncoder::new(Vec::new(), Compression::default());
        let mut builder = tar::Builder::new(gz);
        for entry in entries {
            let mut header = Header::new_gnu();
            put(&mut header.as_old_mut().name, &entry.path, "path");
            header.set_mode(entry.mode);
            header.set_uid(entry.uid);
            header.set_gid(entry.gid);
            header.set_mtime(super::MTIME);
            header.set_size(0);
            let mut data: Box<dyn Read> = Box::new(std::io::empty());
            match &entry.kind {
                Kind::Dir => header.set_entry_type(EntryType::Directory),
                Kind::File(bytes) => {
                    header.set_entry_type(EntryType::Regular);
                    header.set_size(bytes.len() as u64);
                    data = Box::new(&bytes[..]);
                }
                Kind::Zeros(len) => {
                    header.set_entry_type(EntryType::Regular);
                    header.set_size(*len);
                    data = Box::new(std::io::repeat(0).take(*len));
                }
                Kind::Symlink(target) | Kind::Hardlink(target) => {
                    header.set_entry_type(if matches!(entry.kind, Kind::Symlink(_)) {
                        EntryType::Symlink
                    } else {
                        EntryType::Link
                    });
                    put(&mut header.as_old_mut().linkname, target, "link target");
                }
                Kind::CharDevice(major, minor) | Kind::BlockDevice(major, minor) => {
                    header.set_entry_type(if matches!(entry.kind, Kind::CharDevice(..)) {
                        EntryType::Char
                    } else {
                        EntryType::Block
                    });
                    header.set_device_major(*major).expect("a GNU header");
                    header.set_device_minor(*minor).expect("a GNU header");
                }
                Kind::Fifo => header.set_entry_type(EntryType::Fifo),
            }
            header.set_cksum();
            builder
                .append(&header, data)
                .expect("writing to memory cannot fail");
        }
        builder
            .into_inner()
            .and_then(|gz| gz.finish())
            .expect("writing to memory cannot fail")
    }

    fn put(field: &mut [u8; 100], bytes: &[u8], what: &str) {
        assert!(
            bytes.len() <= field.len(),
            "tarball: {what} {:?} is longer than 100 bytes",
            String::from_utf8_lossy(bytes)
        );
        field.fill(0);
        field[..bytes.len()].copy_from_slice(bytes);
    }
}

/// Archives a safe unpacker must refuse, as `.tar.gz` bytes. Each starts with
/// harmless entries, so a refusal comes after something was already
/// unpacked, and each hostile entry aims at a name that a test can check for.
pub mod hostile {
    use super::tarball::{Entry, targz};

    /// Where [`dotdot`] tries to write: beside the destination.
    pub const DOTDOT_NAME: &str = "workshop-escape-dotdot";
    /// Where [`absolute`] tries to write.
    pub const ABSOLUTE_PATH: &str = "/tmp/workshop-escape-absolute";
    /// Where [`symlink_escape`] tries to write, through `escape -> /tmp`.
    pub const SYMLINK_PATH: &str = "/tmp/workshop-escape-symlink";

    fn harmless() -> Vec<Entry> {
        vec![
            Entry::dir("./", 0o755),
            Entry::dir("./etc", 0o755),
            Entry::file("./etc/harmless", 0o644, b"harmless\n".to_vec()),
        ]
    }

    fn with(entries: impl IntoIterator<Item = Entry>) -> Vec<u8> {
        let mut all = harmless();
        all.extend(entries);
        targz(&all)
    }

    /// `../workshop-escape-dotdot`: a `..` entry (the `tar` crate's own
    /// `unpack_in` would silently skip it).
    pub fn dotdot() -> Vec<u8> {
        with([Entry::file(
            &format!("../{DOTDOT_NAME}"),
            0o644,
            b"escaped\n".to_vec(),
        )])
    }

    /// `/tmp/workshop-escape-absolute`: an absolute path.
    pub fn absolute() -> Vec<u8> {
        with([Entry::file(ABSOLUTE_PATH, 0o644, b"escaped\n".to_vec())])
    }

    /// `escape -> /tmp`, then the file `escape/workshop-escape-symlink`
    /// written through it.
    pub fn symlink_escape() -> Vec<u8> {
        let file = SYMLINK_PATH.rsplit('/').next().expect("a file name");
        with([
            Entry::symlink("escape", "/tmp"),
            Entry::file(&format!("escape/{file}"), 0o644, b"escaped\n".to_vec()),
        ])
    }

    /// `etc/passwd-link`, a hard link to the host's `/etc/passwd`.
    pub fn hardlink_out() -> Vec<u8> {
        with([Entry::hardlink("etc/passwd-link", "/etc/passwd")])
    }

    /// `dev/kmem-ish`, a character device node (1:1, the kernel's /dev/mem).
    pub fn device_node() -> Vec<u8> {
        with([
            Entry::dir("dev", 0o755),
            Entry::char_device("dev/kmem-ish", 1, 1),
        ])
    }

    /// A file of `unpacked_bytes` zeros: compresses about 1000 to 1.
    pub fn bomb(unpacked_bytes: u64) -> Vec<u8> {
        with([Entry::zeros("bomb", unpacked_bytes)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;

    /// (path, type byte, link name, mode, size) of every entry.
    fn list(targz: &[u8]) -> Vec<(String, u8, String, u32, u64)> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(targz));
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                    h.entry_type().as_byte(),
                    e.link_name_bytes()
                        .map(|l| String::from_utf8_lossy(&l).into_owned())
                        .unwrap_or_default(),
                    h.mode().unwrap(),
                    h.size().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn elf_static_check() {
        let busybox = fs::read(BUSYBOX).expect("busybox-static is installed");
        assert_eq!(is_static_elf(&busybox), Some(true));
        let dynamic = fs::read("/bin/ls")
            .or_else(|_| fs::read("/usr/bin/ls"))
            .unwrap();
        assert_eq!(is_static_elf(&dynamic), Some(false));
        assert_eq!(is_static_elf(b"#!/bin/sh\necho hi\n"), None);
    }

    #[test]
    fn tarball_has_the_alpine_shape() {
        let path = busybox_tarball().unwrap();
        let entries = list(&fs::read(&path).unwrap());
        let by_path: HashMap<_, _> = entries.iter().map(|e| (e.0.as_str(), e)).collect();
        let busybox_len = fs::metadata(BUSYBOX).unwrap().len();
        let bb = by_path["bin/busybox"];
        assert_eq!((bb.1, bb.3, bb.4), (b'0', 0o755, busybox_len));
        let sh = by_path["bin/sh"];
        assert_eq!((sh.1, sh.2.as_str()), (b'2', "/bin/busybox"));
        assert_eq!(by_path["tmp"].3, 0o1777);
        assert_eq!(by_path["root"].3, 0o700);
        for dir in [
            "proc", "sys", "dev", "mnt", "run", "var", "home", "sbin", "usr/bin",
        ] {
            assert_eq!(by_path[dir].1, b'5', "{dir} is a directory");
        }
        for file in [
            "etc/os-release",
            "etc/passwd",
            "etc/group",
            "etc/hosts",
            "etc/hostname",
        ] {
            assert_eq!(by_path[file].1, b'0', "{file} is a file");
        }
        let applets = busybox_applets().unwrap();
        assert!(applets.len() > 100, "{} applets", applets.len());
        for applet in &applets {
            assert!(
                by_path.contains_key(format!("bin/{applet}").as_str()),
                "{applet}"
            );
        }
        // Reproducible: the cache is only as good as the bytes are stable.
        assert_eq!(tarball::targz(&layout().unwrap()), fs::read(&path).unwrap());
    }

    #[test]
    fn rootfs_directory_is_owned_by_root_with_the_right_modes() {
        let root = busybox_rootfs().unwrap();
        assert_eq!(root, work_dir().join("rootfs"));
        let meta = |p: &str| fs::symlink_metadata(root.join(p)).unwrap();
        assert_eq!(meta("tmp").mode() & 0o7777, 0o1777);
        assert_eq!(meta("root").mode() & 0o7777, 0o700);
        assert_eq!(meta("").mode() & 0o7777, 0o755);
        assert_eq!(meta("bin/busybox").mode() & 0o7777, 0o755);
        for p in ["", "tmp", "bin/busybox", "bin/sh", "etc/passwd"] {
            assert_eq!((meta(p).uid(), meta(p).gid()), (0, 0), "{p} owned by root");
        }
        assert_eq!(
            fs::read_link(root.join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        assert_eq!(
            fs::read(root.join("bin/busybox")).unwrap(),
            fs::read(BUSYBOX).unwrap()
        );
        let os_release = fs::read_to_string(root.join("etc/os-release")).unwrap();
        assert!(os_release.contains("busybox test rootfs"), "{os_release}");
        // It runs: the static busybox needs nothing from the rootfs.
        let out = Command::new(root.join("bin/busybox"))
            .args(["echo", "alive"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "alive\n");
    }

    #[test]
    fn concurrent_callers_all_get_the_same_complete_result() {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                std::thread::spawn(move || {
                    if i % 2 == 0 {
                        busybox_rootfs().unwrap()
                    } else {
                        busybox_tarball().unwrap()
                    }
                })
            })
            .collect();
        for h in handles {
            let path = h.join().unwrap();
            assert!(path.exists());
        }
        let leftovers: Vec<_> = fs::read_dir(work_dir())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                n.starts_with(".rootfs.tmp-") || n.starts_with(".busybox-rootfs.tar.gz.tmp-")
            })
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn cached_builds_once_under_contention() {
        use std::sync::atomic::AtomicUsize;
        static BUILDS: AtomicUsize = AtomicUsize::new(0);
        let name = format!("contention-test-{}", unique());
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let name = name.clone();
                std::thread::spawn(move || {
                    cached(&name, |tmp| {
                        BUILDS.fetch_add(1, Ordering::SeqCst);
                        fs::write(tmp, b"half")?;
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        Ok(fs::write(tmp, b"whole")?)
                    })
                    .unwrap()
                })
            })
            .collect();
        for h in handles {
            assert_eq!(fs::read(h.join().unwrap()).unwrap(), b"whole");
        }
        assert_eq!(BUILDS.load(Ordering::SeqCst), 1);
        fs::remove_file(work_dir().join(&name)).unwrap();
        let _ = fs::remove_file(work_dir().join(format!(".{name}.lock")));
    }

    #[test]
    fn cached_builds_once_and_cleans_up_a_failed_build() {
        let name = format!("cache-test-{}", unique());
        let err = cached(&name, |tmp| {
            fs::write(tmp, b"half")?;
            bail!("boom")
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("boom"));
        assert!(!work_dir().join(&name).exists());
        let mut builds = 0;
        for _ in 0..2 {
            cached(&name, |tmp| {
                builds += 1;
                Ok(fs::write(tmp, b"whole")?)
            })
            .unwrap();
        }
        assert_eq!(builds, 1);
        assert_eq!(fs::read(work_dir().join(&name)).unwrap(), b"whole");
        fs::remove_file(work_dir().join(&name)).unwrap();
        let _ = fs::remove_file(work_dir().join(format!(".{name}.lock")));
    }

    #[test]
    fn hostile_archives_hold_what_they_say() {
        let last = |bytes: Vec<u8>| list(&bytes).pop().unwrap();
        assert_eq!(last(hostile::dotdot()).0, "../workshop-escape-dotdot");
        assert_eq!(last(hostile::absolute()).0, hostile::ABSOLUTE_PATH);
        let sym = list(&hostile::symlink_escape());
        let n = sym.len();
        assert_eq!((sym[n - 2].1, sym[n - 2].2.as_str()), (b'2', "/tmp"));
        assert_eq!(sym[n - 1].0, "escape/workshop-escape-symlink");
        let link = last(hostile::hardlink_out());
        assert_eq!((link.1, link.2.as_str()), (b'1', "/etc/passwd"));
        assert_eq!(last(hostile::device_node()).1, b'3');
        let bomb = hostile::bomb(64 << 20);
        assert!(bomb.len() < 1 << 20, "{} bytes compressed", bomb.len());
        assert_eq!(last(bomb).4, 64 << 20);
    }

    #[test]
    fn sha_helpers_match_known_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("abc");
        fs::File::create(&f).unwrap().write_all(b"abc").unwrap();
        assert_eq!(
            sha256_file(&f).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(sha512_file(&f).unwrap().starts_with("ddaf35a193617aba"));
    }

    #[test]
    fn install_file_rejects_escapes() {
        assert!(install_file("../x", Path::new("/bin/busybox")).is_err());
    }
}
