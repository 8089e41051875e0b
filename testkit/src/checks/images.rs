//! Chapter 8: each run's own overlay over read-only lowers, and images
//! pulled from a registry into a content-addressed store.
//!
//! Every check brings its own store and container dir (temp dirs, never the
//! defaults under /var/lib) and, for images, its own registry on loopback
//! ([`crate::registry`]) with images built for it ([`crate::oci`]). The
//! writing checks run on a private copy of the busybox rootfs, so a runtime
//! that writes through to its lower layer cannot spoil the shared one.
//! Each "not seen" claim comes with its positive control: the same write is
//! seen where it should be.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use super::{Check, expect_code, expect_one_line};
use crate::oci::{self, Config, Entry, Image, Layer};
use crate::registry::{FakeRegistry, Fault, Registry};
use crate::run::{Output, RUN_LIMIT, Target, run_command, wait_limited};

/// The checks of chapter 8.
pub const CHECKS: &[Check] = &[
    Check {
        name: "overlay::root_is_an_overlay",
        since: 8,
        run: root_is_an_overlay,
    },
    Check {
        name: "overlay::writes_end_with_the_run",
        since: 8,
        run: writes_end_with_the_run,
    },
    Check {
        name: "overlay::base_rootfs_unchanged",
        since: 8,
        run: base_rootfs_unchanged,
    },
    Check {
        name: "overlay::concurrent_runs_see_own_writes",
        since: 8,
        run: concurrent_runs_see_own_writes,
    },
    Check {
        name: "overlay::container_dir_used_then_emptied",
        since: 8,
        run: container_dir_used_then_emptied,
    },
    Check {
        name: "overlay::container_dir_emptied_after_failure",
        since: 8,
        run: container_dir_emptied_after_failure,
    },
    Check {
        name: "overlay::container_dir_emptied_after_sigterm",
        since: 8,
        run: container_dir_emptied_after_sigterm,
    },
    Check {
        name: "overlay::container_dir_swept_after_sigkill",
        since: 8,
        run: container_dir_swept_after_sigkill,
    },
    Check {
        name: "images::config_is_honoured",
        since: 8,
        run: config_is_honoured,
    },
    Check {
        name: "images::user_name_from_image_passwd",
        since: 8,
        run: user_name_from_image_passwd,
    },
    Check {
        name: "images::unknown_user_is_125",
        since: 8,
        run: unknown_user_is_125,
    },
    Check {
        name: "images::command_replaces_cmd_keeps_entrypoint",
        since: 8,
        run: command_replaces_cmd_keeps_entrypoint,
    },
    Check {
        name: "images::layers_whiteouts_and_links",
        since: 8,
        run: layers_whiteouts_and_links,
    },
    Check {
        name: "images::shared_layer_stored_once",
        since: 8,
        run: shared_layer_stored_once,
    },
    Check {
        name: "images::concurrent_containers_on_one_image",
        since: 8,
        run: concurrent_containers_on_one_image,
    },
    Check {
        name: "images::token_auth_flow",
        since: 8,
        run: token_auth_flow,
    },
    Check {
        name: "images::concurrent_pulls_into_empty_store",
        since: 8,
        run: concurrent_pulls_into_empty_store,
    },
    Check {
        name: "images::pull_policies",
        since: 8,
        run: pull_policies,
    },
    Check {
        name: "images::unknown_tag_is_125",
        since: 8,
        run: unknown_tag_is_125,
    },
    Check {
        name: "images::unknown_repository_is_125",
        since: 8,
        run: unknown_repository_is_125,
    },
    Check {
        name: "images::registry_down_is_125",
        since: 8,
        run: registry_down_is_125,
    },
    Check {
        name: "images::blob_digest_mismatch_is_125",
        since: 8,
        run: blob_digest_mismatch_is_125,
    },
    Check {
        name: "images::truncated_blob_is_125",
        since: 8,
        run: truncated_blob_is_125,
    },
    Check {
        name: "images::no_platform_entry_is_125",
        since: 8,
        run: no_platform_entry_is_125,
    },
    Check {
        name: "images::dotdot_layer_is_125",
        since: 8,
        run: dotdot_layer_is_125,
    },
    Check {
        name: "images::pull_never_with_empty_store_is_125",
        since: 8,
        run: pull_never_with_empty_store_is_125,
    },
];

fn err(e: impl std::fmt::Display) -> String {
    format!("{e:#}")
}

// ---------------------------------------------------------------- helpers

/// A temp dir holding this check's image store and container dir.
struct Dirs {
    _tmp: tempfile::TempDir,
    store: PathBuf,
    containers: PathBuf,
}

impl Dirs {
    fn new() -> Result<Dirs, String> {
        let tmp = tempfile::Builder::new()
            .prefix("testkit-ch8-")
            .tempdir()
            .map_err(err)?;
        let store = tmp.path().join("store");
        let containers = tmp.path().join("containers");
        std::fs::create_dir(&store).map_err(err)?;
        std::fs::create_dir(&containers).map_err(err)?;
        Ok(Dirs {
            _tmp: tmp,
            store,
            containers,
        })
    }

    fn containers_s(&self) -> String {
        self.containers.to_string_lossy().into_owned()
    }

    /// `--image REF --image-store S --container-dir C FLAGS… ARGS…`, without
    /// `--rootfs` (they conflict), stdin null, no WORKSHOP_* variables.
    fn image_cmd(&self, t: &Target, reference: &str, flags: &[&str], args: &[&str]) -> Command {
        let mut cmd = Command::new(&t.bin);
        cmd.args(["--image", reference, "--image-store"])
            .arg(&self.store)
            .arg("--container-dir")
            .arg(&self.containers)
            .args(flags)
            .args(args);
        for var in [
            "WORKSHOP_ROOTFS",
            "WORKSHOP_IMAGE_STORE",
            "WORKSHOP_CONTAINER_DIR",
        ] {
            cmd.env_remove(var);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    fn run_image(
        &self,
        t: &Target,
        reference: &str,
        flags: &[&str],
        args: &[&str],
    ) -> Result<Output, String> {
        run_command(self.image_cmd(t, reference, flags, args), RUN_LIMIT).map_err(|e| {
            format!(
                "`{} --image {reference} {} {}`: {e}",
                t.name(),
                flags.join(" "),
                args.join(" ")
            )
        })
    }

    /// `--rootfs R --container-dir C ARGS…`.
    fn rootfs_cmd(&self, t: &Target, rootfs: &Path, args: &[&str]) -> Command {
        let mut full = vec!["--container-dir", self.containers.to_str().unwrap_or("")];
        full.extend_from_slice(args);
        let mut cmd = t.command_with_rootfs(rootfs, &full);
        cmd.env_remove("WORKSHOP_CONTAINER_DIR");
        cmd
    }

    fn run_rootfs(&self, t: &Target, rootfs: &Path, args: &[&str]) -> Result<Output, String> {
        run_command(self.rootfs_cmd(t, rootfs, args), RUN_LIMIT)
            .map_err(|e| format!("`{} {}`: {e}", t.name(), args.join(" ")))
    }

    /// Fails unless the container dir is empty and no host mount lies under it.
    fn containers_clean(&self, after: &str) -> Result<(), String> {
        let left: Vec<String> = std::fs::read_dir(&self.containers)
            .map_err(|e| format!("read {}: {e}", self.containers.display()))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !left.is_empty() {
            return Err(format!(
                "{after}, --container-dir still holds {left:?}: remove <container-dir>/ws-<pid> \
                 (unmount merged first) when the container ends, on every way out"
            ));
        }
        let prefix = self.containers_s();
        let mounts: Vec<String> = crate::host::mounts()
            .into_iter()
            .filter(|m| m.contains(&prefix))
            .collect();
        if !mounts.is_empty() {
            return Err(format!(
                "{after}, the host still has mounts under --container-dir: {mounts:?}"
            ));
        }
        Ok(())
    }
}

/// A private copy of the busybox rootfs (owned by root, modes kept).
fn rootfs_copy() -> Result<tempfile::TempDir, String> {
    let base = crate::rootfs::busybox_rootfs().map_err(err)?;
    let dir = tempfile::Builder::new()
        .prefix("testkit-lower-")
        .tempdir()
        .map_err(err)?;
    let dest = dir.path().join("rootfs");
    let out = Command::new("cp")
        .arg("-a")
        .arg(&base)
        .arg(&dest)
        .output()
        .map_err(|e| format!("cp -a: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cp -a {} {}: {}",
            base.display(),
            dest.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(dir)
}

fn lower(copy: &tempfile::TempDir) -> PathBuf {
    copy.path().join("rootfs")
}

/// The `trusted.overlay.opaque` xattr of `path` (no symlink following).
fn opaque_xattr(path: &Path) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut buf = [0u8; 64];
    // SAFETY: both strings are NUL-terminated CStrings that live across the
    // call, and buf is a writable buffer of the length passed.
    let n = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    usize::try_from(n).ok().map(|n| buf[..n].to_vec())
}

/// Every entry under `root`: relative path -> type, mode, owner, size,
/// device, content hash or link target, opaque xattr. Two equal trees are
/// byte-for-byte the same files. `root` itself is "".
pub fn tree(root: &Path) -> Result<BTreeMap<String, String>, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> Result<(), String> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| format!("read {}: {e}", dir.display()))?
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            describe(root, &path, out)?;
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(root, &path, out)?;
            }
        }
        Ok(())
    }
    fn describe(
        root: &Path,
        path: &Path,
        out: &mut BTreeMap<String, String>,
    ) -> Result<(), String> {
        let m = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let ft = m.file_type();
        let what = if ft.is_file() {
            format!("file {}", crate::rootfs::sha256_file(path).map_err(err)?)
        } else if ft.is_symlink() {
            format!("link {}", std::fs::read_link(path).map_err(err)?.display())
        } else if ft.is_dir() {
            format!("dir opaque={:?}", opaque_xattr(path))
        } else if ft.is_char_device() {
            format!("chr {}", m.rdev())
        } else if ft.is_block_device() {
            format!("blk {}", m.rdev())
        } else {
            "other".into()
        };
        let rel = path
            .strip_prefix(root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned();
        let size = if ft.is_dir() { 0 } else { m.size() };
        out.insert(
            rel,
            format!(
                "{what} mode={:o} {}:{} size={size}",
                m.mode(),
                m.uid(),
                m.gid()
            ),
        );
        Ok(())
    }
    let mut out = BTreeMap::new();
    describe(root, root, &mut out)?;
    walk(root, root, &mut out)?;
    Ok(out)
}

/// The first few differences between two [`tree`]s, for a message.
fn tree_diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> String {
    let mut diffs = Vec::new();
    for (k, v) in before {
        match after.get(k) {
            None => diffs.push(format!("{k:?} removed")),
            Some(w) if w != v => diffs.push(format!("{k:?} changed ({v} -> {w})")),
            _ => {}
        }
    }
    for k in after.keys() {
        if !before.contains_key(k) {
            diffs.push(format!("{k:?} added"));
        }
    }
    let n = diffs.len();
    diffs.truncate(5);
    format!("{} ({n} differences)", diffs.join(", "))
}

/// The store's tree without the lock file's content (a runtime may write
/// its pid there).
fn store_tree(store: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut t = tree(store)?;
    if let Some(v) = t.get_mut("lock") {
        *v = "lock".into();
    }
    Ok(t)
}

/// Starts `cmd` and hands back every stdout line as it comes, so a check can
/// wait for `ready` and still read what the container prints later.
fn spawn_lines(mut cmd: Command) -> Result<(KillOnDrop, Receiver<String>), String> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    Ok((KillOnDrop(Some(child)), rx))
}

/// A started runtime, SIGTERMed and waited for when dropped (a failed check
/// leaves nothing running).
struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    /// Waits for it to end by itself (at most RUN_LIMIT); its exit status.
    fn wait(&mut self) -> Result<i32, String> {
        let mut child = self.0.take().ok_or("already waited for")?;
        wait_limited(&mut child, RUN_LIMIT).map(crate::run::code)
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            crate::run::stop(&mut child);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits (10 s at most) for a line `ready`; the lines before it.
fn until_ready(rx: &Receiver<String>) -> Result<Vec<String>, String> {
    let mut before = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(l) if l == "ready" => return Ok(before),
            Ok(l) => before.push(l),
            Err(_) => {
                return Err(format!(
                    "the container did not print `ready` within 10 s (it printed {before:?})"
                ));
            }
        }
    }
}

/// The lines after `ready`, until the container closes stdout.
fn rest(rx: &Receiver<String>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(l) = rx.recv_timeout(RUN_LIMIT) {
        out.push(l);
    }
    out
}

fn lines(out: &Output) -> Vec<&str> {
    out.stdout.lines().collect()
}

fn registry() -> Result<Registry, String> {
    Registry::open().map_err(|e| format!("cannot start the test registry: {e:#}"))
}

/// A layer with `srv/<name>` holding `text`, and `srv/app/` for WorkingDir.
fn srv_layer(name: &str, text: &str) -> Layer {
    Layer::from_entries(&[
        Entry::dir("srv", 0o755),
        Entry::dir("srv/app", 0o755),
        Entry::file(&format!("srv/{name}"), 0o666, text.as_bytes().to_vec()),
    ])
}

/// Pushes `config` over busybox + a small unique layer as `name:tag`.
fn push(reg: &Registry, config: Config, name: &str, tag: &str) -> Result<Image, String> {
    let image = Image::on_busybox(
        config,
        vec![srv_layer(
            "id",
            &format!("{name}:{tag} {}\n", crate::rootfs::unique()),
        )],
    )
    .map_err(err)?;
    reg.push(&image, name, tag).map_err(err)?;
    Ok(image)
}

// ---------------------------------------------------------------- overlay

/// `/` inside is an overlay mount (fstype `overlay` in mountinfo).
pub fn root_is_an_overlay(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let rootfs = t.rootfs.clone().ok_or("chapter 8 checks need a rootfs")?;
    let out = d.run_rootfs(t, &rootfs, &["cat", "/proc/self/mountinfo"])?;
    expect_code(&out, 0, "cat /proc/self/mountinfo")?;
    let root = out.stdout.lines().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-")?;
        (f.get(4) == Some(&"/")).then(|| f.get(sep + 1).copied().unwrap_or(""))
    });
    match root {
        Some("overlay") => d.containers_clean("after the run"),
        other => Err(format!(
            "the mount on / inside has fstype {other:?}, expected \"overlay\": mount overlayfs \
             (lowerdir=the rootfs, upperdir, workdir under --container-dir) and pivot_root onto it"
        )),
    }
}

/// A write, a delete and a chmod are seen in their own run, and not in the next one.
pub fn writes_end_with_the_run(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let copy = rootfs_copy()?;
    let rootfs = lower(&copy);
    let first = d.run_rootfs(
        t,
        &rootfs,
        &[
            "sh",
            "-c",
            "echo x > /etc/written && rm /bin/ls && chmod 600 /etc/passwd && \
             cat /etc/written && (test -e /bin/ls && echo ls-here || echo ls-gone) && \
             stat -c %a /etc/passwd",
        ],
    )?;
    expect_code(
        &first,
        0,
        "a run that writes /etc/written, removes /bin/ls, chmods /etc/passwd",
    )?;
    // Positive control: the run sees its own changes.
    if lines(&first) != ["x", "ls-gone", "600"] {
        return Err(format!(
            "inside the run that wrote them, the changes were not seen: printed {:?}, expected \
             [\"x\", \"ls-gone\", \"600\"]: the overlay's upper layer must be writable",
            first.stdout
        ));
    }
    let second = d.run_rootfs(
        t,
        &rootfs,
        &[
            "sh",
            "-c",
            "(test -e /etc/written && echo written || echo clean) && \
             (test -e /bin/ls && echo ls-here || echo ls-gone) && stat -c %a /etc/passwd",
        ],
    )?;
    expect_code(&second, 0, "the next run on the same rootfs")?;
    if lines(&second) != ["clean", "ls-here", "644"] {
        return Err(format!(
            "the next run on the same rootfs saw the previous run's changes: printed {:?}, \
             expected [\"clean\", \"ls-here\", \"644\"]: each run needs its own fresh upper layer",
            second.stdout
        ));
    }
    if rootfs.join("etc/written").exists() || !rootfs.join("bin/ls").exists() {
        return Err("the run's changes reached the rootfs on the host: write to the overlay's upper layer, never to the lower".into());
    }
    d.containers_clean("after two runs")
}

/// Writes, deletes, chmods, chowns, renames, links leave the lower rootfs
/// byte-for-byte as it was.
pub fn base_rootfs_unchanged(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let copy = rootfs_copy()?;
    let rootfs = lower(&copy);
    let before = tree(&rootfs)?;
    let out = d.run_rootfs(
        t,
        &rootfs,
        &[
            "sh",
            "-c",
            "echo extra >> /etc/os-release && rm /etc/group && chmod 700 /tmp && \
             chown 2:2 /etc/passwd && mv /etc/passwd /etc/passwd.old && ln -s x /etc/newlink && \
             rm -r /usr && mkdir /newdir && echo new > /newdir/f && : > /bin/busybox.copy && \
             tail -n 1 /etc/os-release && ls /etc",
        ],
    )?;
    expect_code(
        &out,
        0,
        "a run that writes, deletes, chmods, chowns and renames",
    )?;
    // Positive control: the changes happened, inside.
    let l = lines(&out);
    if l.first() != Some(&"extra") || !l.contains(&"passwd.old") || l.contains(&"group") {
        return Err(format!(
            "inside the run, its own changes were not seen ({:?}): the upper layer must be writable",
            out.stdout
        ));
    }
    let after = tree(&rootfs)?;
    if before != after {
        return Err(format!(
            "the rootfs on the host changed under a run: {}: it must be a read-only lower layer \
             (lowerdir=), every change going to the run's upper layer",
            tree_diff(&before, &after)
        ));
    }
    d.containers_clean("after the run")
}

/// Two runs at the same time on one rootfs each see only their own writes.
pub fn concurrent_runs_see_own_writes(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let copy = rootfs_copy()?;
    let rootfs = lower(&copy);
    let (mut a, rx) = spawn_lines(d.rootfs_cmd(
        t,
        &rootfs,
        &[
            "sh",
            "-c",
            "echo a > /tmp/who; echo ready; sleep 4; cat /tmp/who",
        ],
    ))?;
    until_ready(&rx)?;
    let b = d.run_rootfs(
        t,
        &rootfs,
        &[
            "sh",
            "-c",
            "cat /tmp/who 2>/dev/null || echo none; echo b > /tmp/who; cat /tmp/who",
        ],
    )?;
    expect_code(&b, 0, "the second container")?;
    if lines(&b) != ["none", "b"] {
        return Err(format!(
            "a second container on the same rootfs printed {:?}, expected [\"none\", \"b\"]: it \
             saw the first container's /tmp/who (or not its own): each run needs its own upper layer",
            b.stdout
        ));
    }
    let a_saw = rest(&rx);
    let code = a.wait()?;
    if code != 0 || a_saw != ["a"] {
        return Err(format!(
            "the first container read {a_saw:?} back from /tmp/who after the second wrote \"b\" \
             (exit {code}), expected [\"a\"]: its writes must stay its own"
        ));
    }
    if rootfs.join("tmp/who").exists() {
        return Err("a container's /tmp/who reached the rootfs on the host".into());
    }
    d.containers_clean("after both containers ended")
}

/// While a container runs, `<container-dir>/ws-<pid>/{upper,work,merged}`
/// exists with the overlay on `merged`; after it ends, nothing is left.
pub fn container_dir_used_then_emptied(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let rootfs = t.rootfs.clone().ok_or("chapter 8 checks need a rootfs")?;
    let (mut child, rx) =
        spawn_lines(d.rootfs_cmd(t, &rootfs, &["sh", "-c", "echo ready; sleep 2"]))?;
    until_ready(&rx)?;
    let entries: Vec<String> = std::fs::read_dir(&d.containers)
        .map_err(err)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let is_ws = |n: &String| {
        n.strip_prefix("ws-")
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    if entries.len() != 1 || !is_ws(&entries[0]) {
        return Err(format!(
            "while the container ran, --container-dir held {entries:?}, expected one ws-<pid>: \
             make the run's upper, work and merged there"
        ));
    }
    let ws = d.containers.join(&entries[0]);
    for sub in ["upper", "work", "merged"] {
        if !ws.join(sub).is_dir() {
            return Err(format!(
                "while the container ran, {} was not a directory",
                ws.join(sub).display()
            ));
        }
    }
    let code = child.wait()?;
    if code != 0 {
        return Err(format!(
            "`sh -c 'echo ready; sleep 2'` exited {code}, expected 0"
        ));
    }
    d.containers_clean("after the container ended")
}

/// SIGTERM to the runtime (as on Ctrl-C or `kill`) ends the container and
/// still removes its ws-<pid>.
pub fn container_dir_emptied_after_sigterm(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let rootfs = t.rootfs.clone().ok_or("chapter 8 checks need a rootfs")?;
    let (mut child, rx) = spawn_lines(d.rootfs_cmd(
        t,
        &rootfs,
        &["sh", "-c", "echo x > /tmp/f; echo ready; exec sleep 30"],
    ))?;
    until_ready(&rx)?;
    // Positive control: the run's layer is there while it runs.
    let n = std::fs::read_dir(&d.containers).map_err(err)?.count();
    if n != 1 {
        return Err(format!(
            "while the container ran, --container-dir held {n} entries, expected one ws-<pid>"
        ));
    }
    if let Some(c) = child.0.as_mut() {
        crate::run::stop(c);
        if matches!(c.try_wait(), Ok(None)) {
            return Err("the runtime did not end within 10 s of SIGTERM".into());
        }
    }
    d.containers_clean("after SIGTERM to the runtime")
}

/// SIGKILL of the runtime leaves its ws-<pid> behind (nothing of the
/// runtime runs then: the positive control); the next run removes it, and
/// leaves alone the ws-<pid> of a runtime that still runs.
pub fn container_dir_swept_after_sigkill(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let rootfs = t.rootfs.clone().ok_or("chapter 8 checks need a rootfs")?;
    let script = ["sh", "-c", "echo x > /tmp/f; echo ready; exec sleep 30"];
    let (mut killed, rx) = spawn_lines(d.rootfs_cmd(t, &rootfs, &script))?;
    until_ready(&rx)?;
    let (live, rx) = spawn_lines(d.rootfs_cmd(t, &rootfs, &script))?;
    until_ready(&rx)?;
    let live_ws = format!("ws-{}", live.0.as_ref().map(Child::id).unwrap_or(0));
    if let Some(mut c) = killed.0.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
    let entries = |d: &Dirs| -> Result<BTreeSet<String>, String> {
        Ok(std::fs::read_dir(&d.containers)
            .map_err(err)?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect())
    };
    let left = entries(&d)?;
    if left.len() != 2 {
        return Err(format!(
            "after kill -9 of one of two runtimes, --container-dir held {left:?}, expected \
             both ws-<pid> (a runtime killed with SIGKILL cannot clean up)"
        ));
    }
    let out = d.run_rootfs(t, &rootfs, &["true"])?;
    expect_code(&out, 0, "the run after a kill -9")?;
    let after = entries(&d)?;
    if after != BTreeSet::from([live_ws.clone()]) {
        return Err(format!(
            "after kill -9 of a runtime and another run, --container-dir held {after:?}, \
             expected only {live_ws} of the runtime still running: at start, remove every \
             ws-<pid> whose process is gone (kill(pid, 0) fails with ESRCH), and only those"
        ));
    }
    drop(live);
    d.containers_clean("after the last container ended")
}

/// A setup that fails halfway (125) and a missing command (127) leave
/// nothing in the container dir, and no mount under it.
pub fn container_dir_emptied_after_failure(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let broken = crate::run::rootfs_that_fails_halfway()?;
    let out = d.run_rootfs(t, broken.path(), &["true"])?;
    expect_code(
        &out,
        125,
        "a rootfs whose /proc is a file (the setup fails halfway)",
    )?;
    d.containers_clean("after a setup that failed halfway")?;
    let rootfs = t.rootfs.clone().ok_or("chapter 8 checks need a rootfs")?;
    let out = d.run_rootfs(t, &rootfs, &["no-such-command-ch8"])?;
    expect_code(&out, 127, "a command that does not exist")?;
    d.containers_clean("after a command that was not found")
}

// ---------------------------------------------------------------- images

/// Cmd, Env, WorkingDir and User of the image's config are what the
/// command sees; `-e` overrides the image's Env.
pub fn config_is_honoured(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let reg = registry()?;
    let config = Config::shell()
        .env("GREETING=hello")
        .env("OTHER=kept")
        .working_dir("/srv/app")
        .user("1234:2345")
        .cmd(&["sh", "-c", "echo $GREETING $OTHER; pwd; id -u; id -g"]);
    push(&reg, config, "test/app", "1")?;
    let reference = reg.reference("test/app", "1");
    let out = d.run_image(t, &reference, &[], &[])?;
    expect_code(&out, 0, "an image run without a command (its Cmd)")?;
    let want = ["hello kept", "/srv/app", "1234", "2345"];
    if lines(&out) != want {
        return Err(format!(
            "the image's Cmd printed {:?}, expected {want:?}: run Cmd with the config's Env, in \
             its WorkingDir, as its User (uid:gid)",
            out.stdout
        ));
    }
    let out = d.run_image(t, &reference, &["-e", "GREETING=bye"], &[])?;
    expect_code(&out, 0, "the image with -e GREETING=bye")?;
    if lines(&out).first() != Some(&"bye kept") {
        return Err(format!(
            "with -e GREETING=bye the image's Cmd printed {:?}, expected \"bye kept\" first: \
             -e comes after the image's Env and overrides it",
            out.stdout
        ));
    }
    d.containers_clean("after the image runs")
}

/// `User: NAME` is looked up in the image's own /etc/passwd.
pub fn user_name_from_image_passwd(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let reg = registry()?;
    let passwd = "root:x:0:0:root:/root:/bin/sh\nbuilder:x:4321:4322::/srv:/bin/sh\n";
    let image = Image::on_busybox(
        Config::shell()
            .user("builder")
            .cmd(&["sh", "-c", "id -u; id -g"]),
        vec![Layer::from_entries(&[
            Entry::dir("etc", 0o755),
            Entry::file("etc/passwd", 0o644, passwd.as_bytes().to_vec()),
        ])],
    )
    .map_err(err)?;
    reg.push(&image, "test/user", "1").map_err(err)?;
    let out = d.run_image(t, &reg.reference("test/user", "1"), &[], &[])?;
    expect_code(&out, 0, "an image with User \"builder\"")?;
    if lines(&out) != ["4321", "4322"] {
        return Err(format!(
            "User \"builder\" ran as {:?}, expected uid 4321 gid 4322: look the name up in the \
             image's /etc/passwd (the top layer's, not the host's)",
            out.stdout
        ));
    }
    d.containers_clean("after the run")
}

/// `User: NAME` that the image's /etc/passwd lacks: 125, one line naming
/// it, nothing left in the container dir.
pub fn unknown_user_is_125(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let reg = registry()?;
    push(&reg, Config::shell().user("nosuchuser"), "test/nouser", "1")?;
    let out = d.run_image(t, &reg.reference("test/nouser", "1"), &[], &["true"])?;
    expect_code(&out, 125, "an image whose User is not in its /etc/passwd")?;
    expect_one_line(
        &out,
        &["nosuchuser"],
        "an image whose User is not in its /etc/passwd",
    )?;
    d.containers_clean("after a run whose user was not found")
}

/// No command: Entrypoint + Cmd; a command: Entrypoint + the command.
pub fn command_replaces_cmd_keeps_entrypoint(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let reg = registry()?;
    push(
        &reg,
        Config::shell()
            .entrypoint(&["/bin/echo", "ep"])
            .cmd(&["from-cmd"]),
        "test/ep",
        "1",
    )?;
    let reference = reg.reference("test/ep", "1");
    let out = d.run_image(t, &reference, &[], &[])?;
    expect_code(&out, 0, "Entrypoint [/bin/echo ep] with Cmd [from-cmd]")?;
    if out.out() != "ep from-cmd" {
        return Err(format!(
            "without a command the image printed {:?}, expected \"ep from-cmd\": run Entrypoint + Cmd",
            out.out()
        ));
    }
    let out = d.run_image(t, &reference, &[], &["given", "args"])?;
    expect_code(&out, 0, "the same image with the command `given args`")?;
    if out.out() != "ep given args" {
        return Err(format!(
            "with the command `given args` the image printed {:?}, expected \"ep given args\": \
             a command replaces Cmd and keeps Entrypoint",
            out.out()
        ));
    }
    d.containers_clean("after the runs")
}

/// A later layer's whiteout hides a file, an opaque dir shows only the
/// upper layer's contents, symlinks and hardlinks survive; the store holds
/// the whiteouts converted for overlayfs.
pub fn layers_whiteouts_and_links(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let reg = registry()?;
    let middle = Layer::from_entries(&[
        Entry::dir("data", 0o755),
        Entry::file("data/keep", 0o644, b"keep\n".to_vec()),
        Entry::file("data/gone", 0o644, b"gone\n".to_vec()),
        Entry::dir("opq", 0o755),
        Entry::file("opq/old", 0o644, b"old\n".to_vec()),
        Entry::dir("links", 0o755),
        Entry::file("links/target", 0o644, b"target\n".to_vec()),
        Entry::symlink("links/sym", "target"),
        Entry::hardlink("links/hard", "links/target"),
    ]);
    let top = Layer::from_entries(&[
        Entry::dir("data", 0o755),
        Entry::file("data/.wh.gone", 0o644, Vec::new()),
        Entry::dir("opq", 0o755),
        Entry::file("opq/.wh..wh..opq", 0o644, Vec::new()),
        Entry::file("opq/new", 0o644, b"new\n".to_vec()),
    ]);
    let top_hex = oci::hex_of(&top.digest()).to_owned();
    let image = Image::on_busybox(Config::shell(), vec![middle, top]).map_err(err)?;
    reg.push(&image, "test/layers", "1").map_err(err)?;
    let script = "ls -A /data; echo --; ls -A /opq; echo --; readlink /links/sym; cat /links/sym; \
                  echo --; stat -c %i /links/target; stat -c %i /links/hard; cat /links/hard";
    let out = d.run_image(
        t,
        &reg.reference("test/layers", "1"),
        &[],
        &["sh", "-c", script],
    )?;
    expect_code(&out, 0, "ls and stat in an image of three layers")?;
    let parts: Vec<Vec<&str>> = out
        .stdout
        .split("--\n")
        .map(|p| p.lines().collect())
        .collect();
    let part = |i: usize| parts.get(i).cloned().unwrap_or_default();
    if part(0) != ["keep"] {
        return Err(format!(
            "/data held {:?}, expected [\"keep\"]: `.wh.gone` in the top layer deletes data/gone \
             of the layer below, and is never shown itself",
            part(0)
        ));
    }
    if part(1) != ["new"] {
        return Err(format!(
            "/opq held {:?}, expected [\"new\"]: `.wh..wh..opq` makes the directory opaque \
             (trusted.overlay.opaque=y), hiding what lower layers had in it",
            part(1)
        ));
    }
    if part(2) != ["target", "target"] {
        return Err(format!(
            "/links/sym gave {:?}, expected [\"target\", \"target\"] (readlink, cat): unpack \
             symlinks as symlinks, target untouched",
            part(2)
        ));
    }
    let p3 = part(3);
    if p3.len() != 3 || p3[0] != p3[1] || p3[2] != "target" {
        return Err(format!(
            "/links/target and /links/hard gave {p3:?}: a hardlink in a layer must be unpacked \
             as a hard link (same inode, same contents)"
        ));
    }
    // The store: the top layer unpacked with overlayfs's whiteouts.
    let layer_dir = d.store.join("layers/sha256").join(&top_hex);
    let gone = std::fs::symlink_metadata(layer_dir.join("data/gone")).map_err(|e| {
        format!(
            "{}: {e}: the top layer's `.wh.gone` must be unpacked as a character device 0:0 named gone",
            layer_dir.join("data/gone").display()
        )
    })?;
    if !gone.file_type().is_char_device() || gone.rdev() != 0 {
        return Err(format!(
            "{} is not a character device 0:0 (overlayfs's whiteout)",
            layer_dir.join("data/gone").display()
        ));
    }
    if opaque_xattr(&layer_dir.join("opq")).as_deref() != Some(b"y".as_slice()) {
        return Err(format!(
            "{} has no xattr trusted.overlay.opaque=y (from `.wh..wh..opq`)",
            layer_dir.join("opq").display()
        ));
    }
    let wh: Vec<String> = tree(&d.store.join("layers"))?
        .into_keys()
        .filter(|k| k.rsplit('/').next().is_some_and(|n| n.starts_with(".wh.")))
        .collect();
    if !wh.is_empty() {
        return Err(format!(
            "the store's layers still hold OCI whiteout files: {wh:?}"
        ));
    }
    d.containers_clean("after the run")
}

/// Every blob file hashes to its name; `layers/sha256` holds exactly `want`.
fn store_consistent(store: &Path, want_layers: &BTreeSet<String>) -> Result<(), String> {
    let blobs = store.join("blobs/sha256");
    for e in std::fs::read_dir(&blobs)
        .map_err(|e| format!("read {}: {e}", blobs.display()))?
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        let got = crate::rootfs::sha256_file(e.path()).map_err(err)?;
        if got != name {
            return Err(format!(
                "{} holds bytes whose sha256 is {got}: a blob's name is its digest",
                e.path().display()
            ));
        }
    }
    let layers: BTreeSet<String> = std::fs::read_dir(store.join("layers/sha256"))
        .map_err(|e| format!("read {}/layers/sha256: {e}", store.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if &layers != want_layers {
        return Err(format!(
            "layers/sha256 holds {layers:?}, expected one directory per distinct layer digest {want_layers:?}"
        ));
    }
    let tmp = store.join("tmp");
    if let Ok(rd) = std::fs::read_dir(&tmp) {
        let left: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
        if !left.is_empty() {
            return Err(format!(
                "{} still holds {left:?} after the pulls",
                tmp.display()
            ));
        }
    }
    Ok(())
}

fn layer_hexes(images: &[&Image]) -> BTreeSet<String> {
    images
        .iter()
        .flat_map(|i| i.layers.iter().map(|l| oci::hex_of(&l.digest()).to_owned()))
        .collect()
}

/// Two images sharing the base layer store it once; blobs and refs are right.
pub fn shared_layer_stored_once(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let reg = registry()?;
    let a = push(&reg, Config::shell(), "test/a", "1")?;
    let b = push(&reg, Config::shell(), "test/b", "1")?;
    for name in ["test/a", "test/b"] {
        let out = d.run_image(t, &reg.reference(name, "1"), &[], &["true"])?;
        expect_code(&out, 0, &format!("{name}:1 true"))?;
        if !out.stderr.trim().is_empty() {
            return Err(format!(
                "a pull that worked printed {:?} on stderr (not a terminal): say nothing then",
                out.stderr
            ));
        }
    }
    store_consistent(&d.store, &layer_hexes(&[&a, &b]))?;
    for (name, image) in [("test/a", &a), ("test/b", &b)] {
        let blobs = image.blobs();
        let r = d.store.join("refs").join(reg.host()).join(name).join("1");
        let text = std::fs::read_to_string(&r).map_err(|e| format!("{}: {e}", r.display()))?;
        if text.trim() != blobs.manifest_digest {
            return Err(format!(
                "{} says {:?}, expected the manifest digest {}",
                r.display(),
                text.trim(),
                blobs.manifest_digest
            ));
        }
        for digest in [&blobs.manifest_digest, &blobs.config_digest] {
            let p = d.store.join("blobs/sha256").join(oci::hex_of(digest));
            if !p.is_file() {
                return Err(format!(
                    "{} is missing: the store keeps manifests and configs",
                    p.display()
                ));
            }
        }
    }
    d.containers_clean("after the runs")
}

/// Two containers on one image see only their own writes; the store's
/// layers are unchanged by them.
pub fn concurrent_containers_on_one_image(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let reg = registry()?;
    push(&reg, Config::shell(), "test/app", "1")?;
    let reference = reg.reference("test/app", "1");
    let out = d.run_image(t, &reference, &[], &["true"])?;
    expect_code(&out, 0, "pulling the image")?;
    let before = store_tree(&d.store)?;
    let (mut a, rx) = spawn_lines(d.image_cmd(
        t,
        &reference,
        &[],
        &[
            "sh",
            "-c",
            "echo a > /srv/who; rm /srv/id; echo ready; sleep 4; cat /srv/who; ls /srv",
        ],
    ))?;
    until_ready(&rx)?;
    let b = d.run_image(
        t,
        &reference,
        &[],
        &[
            "sh",
            "-c",
            "cat /srv/who 2>/dev/null || echo none; echo b > /srv/who; cat /srv/who; ls /srv",
        ],
    )?;
    expect_code(&b, 0, "the second container on the image")?;
    if lines(&b) != ["none", "b", "app", "id", "who"] {
        return Err(format!(
            "a second container on the image printed {:?}, expected [none, b, app, id, who]: \
             each container needs its own upper layer over the image's layers",
            b.stdout
        ));
    }
    let a_saw = rest(&rx);
    let code = a.wait()?;
    if code != 0 || a_saw != ["a", "app", "who"] {
        return Err(format!(
            "the first container printed {a_saw:?} (exit {code}), expected [a, app, who]: its \
             writes and deletes must stay its own"
        ));
    }
    let after = store_tree(&d.store)?;
    if before != after {
        return Err(format!(
            "running containers changed the store: {}: the layers must be read-only lowers",
            tree_diff(&before, &after)
        ));
    }
    d.containers_clean("after both containers ended")
}

/// A registry with token auth: without a token it answers 401 (the
/// positive control that auth is on); the runtime gets a token and pulls.
pub fn token_auth_flow(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let reg = Registry::token().map_err(|e| format!("cannot start the token registry: {e:#}"))?;
    push(
        &reg,
        Config::shell().cmd(&["echo", "pulled with a token"]),
        "test/auth",
        "1",
    )?;
    let (code, head, _) =
        crate::registry::http_get(reg.addr(), "/v2/test/auth/manifests/1", None).map_err(err)?;
    if code != 401
        || !head
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer")
    {
        return Err(format!(
            "the test registry answered {code} without a token, expected 401 with a Bearer \
             challenge (the fixture is broken, not the runtime): {head}"
        ));
    }
    let issued = reg.tokens_issued();
    let out = d.run_image(t, &reg.reference("test/auth", "1"), &[], &[])?;
    expect_code(&out, 0, "pulling from a registry with token auth").map_err(|e| {
        format!(
            "{e}: on 401 read WWW-Authenticate: Bearer realm=,service=,scope=, GET the realm \
             with service and scope, and retry with Authorization: Bearer <token>"
        )
    })?;
    if out.out() != "pulled with a token" {
        return Err(format!(
            "the image printed {:?}, expected \"pulled with a token\"",
            out.out()
        ));
    }
    if reg.tokens_issued() <= issued {
        return Err("the image was pulled, but no token was asked for".into());
    }
    d.containers_clean("after the run")
}

/// Two pulls of one image at once into an empty store both succeed, and
/// the store is consistent after.
pub fn concurrent_pulls_into_empty_store(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let reg = registry()?;
    let image = push(&reg, Config::shell(), "test/app", "1")?;
    let reference = reg.reference("test/app", "1");
    let cmds = [
        d.image_cmd(t, &reference, &[], &["cat", "/srv/id"]),
        d.image_cmd(t, &reference, &[], &["cat", "/srv/id"]),
    ];
    let handles: Vec<_> = cmds
        .into_iter()
        .map(|c| std::thread::spawn(move || run_command(c, RUN_LIMIT)))
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let out = h
            .join()
            .map_err(|_| "a pull thread panicked".to_owned())??;
        expect_code(
            &out,
            0,
            &format!("pull {} of two at once into an empty store", i + 1),
        )
        .map_err(|e| format!("{e}: take <store>/lock while changing the store"))?;
        if !out.out().starts_with("test/app:1 ") {
            return Err(format!("pull {} read /srv/id as {:?}", i + 1, out.out()));
        }
    }
    store_consistent(&d.store, &layer_hexes(&[&image]))?;
    d.containers_clean("after the runs")
}

/// `--pull never` and `missing` run from the store with the registry gone;
/// `always` must ask it and so fails (125, one line) then.
pub fn pull_policies(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let reg = registry()?;
    push(
        &reg,
        Config::shell().cmd(&["echo", "from the store"]),
        "test/app",
        "1",
    )?;
    let reference = reg.reference("test/app", "1");
    let out = d.run_image(t, &reference, &[], &[])?;
    expect_code(&out, 0, "the first run, which pulls")?;
    drop(reg);
    for pull in ["never", "missing"] {
        let out = d.run_image(t, &reference, &["--pull", pull], &[])?;
        expect_code(
            &out,
            0,
            &format!("--pull {pull} with the image in the store and the registry gone"),
        )?;
        if out.out() != "from the store" {
            return Err(format!("--pull {pull} printed {:?}", out.out()));
        }
    }
    let before = store_tree(&d.store)?;
    let out = d.run_image(t, &reference, &["--pull", "always"], &[])?;
    expect_code(
        &out,
        125,
        "--pull always with the registry gone (it must ask the registry)",
    )?;
    expect_one_line(&out, &[], "--pull always with the registry gone")?;
    same_store(&d, &before, "--pull always with the registry gone")
}

fn same_store(d: &Dirs, before: &BTreeMap<String, String>, what: &str) -> Result<(), String> {
    let after = store_tree(&d.store)?;
    if before != &after {
        return Err(format!(
            "{what}: the store changed: {}: a failed pull must leave the store as it was \
             (write under <store>/tmp, rename into place only when verified, clean up on error)",
            tree_diff(before, &after)
        ));
    }
    d.containers_clean(&format!("after {what}"))
}

/// Runs `reference` on a store that already holds another image; expects
/// 125, one line mentioning `words`, the store unchanged, no container dir.
fn bad_pull(
    t: &Target,
    d: &Dirs,
    reference: &str,
    words: &[&str],
    what: &str,
) -> Result<(), String> {
    let before = store_tree(&d.store)?;
    let out = d.run_image(t, reference, &[], &["true"])?;
    expect_code(&out, 125, what)?;
    expect_one_line(&out, words, what)?;
    same_store(d, &before, what)
}

/// A store with `test/app:1` pulled from `reg` (the positive control: the
/// registry works for a good reference).
fn primed(t: &Target, reg: &Registry) -> Result<Dirs, String> {
    let d = Dirs::new()?;
    push(reg, Config::shell(), "test/app", "1")?;
    let out = d.run_image(t, &reg.reference("test/app", "1"), &[], &["true"])?;
    expect_code(
        &out,
        0,
        "a good image from the same registry (the positive control)",
    )?;
    Ok(d)
}

pub fn unknown_tag_is_125(t: &Target) -> Result<(), String> {
    let reg = registry()?;
    let d = primed(t, &reg)?;
    bad_pull(
        t,
        &d,
        &reg.reference("test/app", "nope"),
        &["nope"],
        "an unknown tag",
    )
}

pub fn unknown_repository_is_125(t: &Target) -> Result<(), String> {
    let reg = registry()?;
    let d = primed(t, &reg)?;
    bad_pull(
        t,
        &d,
        &reg.reference("no/such", "1"),
        &["no/such"],
        "an unknown repository",
    )
}

pub fn registry_down_is_125(t: &Target) -> Result<(), String> {
    let reg = registry()?;
    let d = primed(t, &reg)?;
    // A port nobody listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(err)?
        .port();
    bad_pull(
        t,
        &d,
        &format!("127.0.0.1:{port}/test/app:1"),
        &[],
        "a registry that is down (connection refused)",
    )
}

fn fake_fault(t: &Target, fault: Fault, what: &str) -> Result<(), String> {
    let fake = FakeRegistry::start(fault).map_err(err)?;
    let d = Dirs::new()?;
    let out = d.run_image(t, &fake.reference("good/app"), &[], &["cat", "/srv/good"])?;
    expect_code(
        &out,
        0,
        "the same fake registry's good image (the positive control)",
    )?;
    bad_pull(t, &d, &fake.reference("bad/app"), &[], what)
}

pub fn blob_digest_mismatch_is_125(t: &Target) -> Result<(), String> {
    fake_fault(
        t,
        Fault::WrongDigest,
        "a layer whose bytes do not match its digest",
    )
}

pub fn truncated_blob_is_125(t: &Target) -> Result<(), String> {
    fake_fault(
        t,
        Fault::Truncated,
        "a layer blob cut short of its Content-Length",
    )
}

pub fn no_platform_entry_is_125(t: &Target) -> Result<(), String> {
    fake_fault(
        t,
        Fault::NoPlatform,
        "an index with no entry for this machine's platform",
    )
}

/// A layer with `../` names is refused, and nothing lands outside.
pub fn dotdot_layer_is_125(t: &Target) -> Result<(), String> {
    let reg = registry()?;
    let d = primed(t, &reg)?;
    let name = format!("workshop-escape-ch8-{}", crate::rootfs::unique());
    let deep = format!("../../../../../../../../../../../../tmp/{name}");
    let hostile = Layer::from_entries(&[
        Entry::dir("etc", 0o755),
        Entry::file("etc/fine", 0o644, b"fine\n".to_vec()),
        Entry::file(&format!("../{name}"), 0o644, b"escaped\n".to_vec()),
        Entry::file(&deep, 0o644, b"escaped\n".to_vec()),
    ]);
    let image = Image::on_busybox(Config::shell(), vec![hostile]).map_err(err)?;
    reg.push(&image, "test/evil", "1").map_err(err)?;
    let result = bad_pull(
        t,
        &d,
        &reg.reference("test/evil", "1"),
        &[],
        "a layer with ../ paths",
    );
    let outside = Path::new("/tmp").join(&name);
    if outside.exists() {
        let _ = std::fs::remove_file(&outside);
        return Err(format!(
            "a layer entry `{deep}` was written to {}",
            outside.display()
        ));
    }
    result
}

pub fn pull_never_with_empty_store_is_125(t: &Target) -> Result<(), String> {
    let d = Dirs::new()?;
    let reg = registry()?;
    push(
        &reg,
        Config::shell().cmd(&["echo", "pulled"]),
        "test/app",
        "1",
    )?;
    let reference = reg.reference("test/app", "1");
    let out = d.run_image(t, &reference, &["--pull", "never"], &[])?;
    expect_code(&out, 125, "--pull never with an empty store")?;
    expect_one_line(&out, &[], "--pull never with an empty store")?;
    // The store may have been given its lock and empty directories; no content.
    let files: Vec<String> = tree(&d.store)?
        .into_iter()
        .filter(|(k, v)| k != "lock" && !v.starts_with("dir "))
        .map(|(k, _)| k)
        .collect();
    if !files.is_empty() {
        return Err(format!(
            "--pull never with an empty store wrote {files:?} into it: never means no registry"
        ));
    }
    d.containers_clean("after --pull never failed")?;
    // Positive control: the reference is good.
    let out = d.run_image(t, &reference, &[], &[])?;
    expect_code(
        &out,
        0,
        "the same reference with the default --pull missing",
    )?;
    if out.out() != "pulled" {
        return Err(format!(
            "the image printed {:?}, expected \"pulled\"",
            out.out()
        ));
    }
    Ok(())
}
