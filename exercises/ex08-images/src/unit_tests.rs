//! Your functions one at a time, in temporary directories: the option
//! string without root, the whiteouts (mknod and `trusted.*` attributes need
//! root, as every test of the workshop does), and the overlay mount in a
//! mount namespace of the test's own. The same tests run against the
//! solution.

use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::overlay::{RunDir, mount_overlay, options};
use crate::whiteout::convert;

fn run_dir(parent: &Path) -> RunDir {
    RunDir::create(parent, &format!("ws-{}", std::process::id()))
        .unwrap_or_else(|e| panic!("RunDir::create failed: {e:#}"))
}

fn root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (mknod, trusted.* attributes, mount): sudo -E cargo test -p ex08"
    );
}

#[test]
fn lowerdir_lists_the_top_layer_first() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_dir(dir.path());
    let lowers = [
        PathBuf::from("/layers/base"),
        PathBuf::from("/layers/mid"),
        PathBuf::from("/layers/top"),
    ];
    let got = options(&lowers, &run).unwrap_or_else(|e| panic!("options failed: {e:#}"));
    let want = format!(
        "lowerdir=/layers/top:/layers/mid:/layers/base,upperdir={},workdir={}",
        run.upper.display(),
        run.work.display()
    );
    assert_eq!(
        got, want,
        "the lowers come base first; overlayfs wants the top layer first, then upperdir and workdir"
    );
    let one = options(&lowers[..1], &run).unwrap();
    assert!(
        one.starts_with("lowerdir=/layers/base,upperdir="),
        "one layer (a --rootfs) is a lowerdir of its own: {one:?}"
    );
}

#[test]
fn separators_and_overlong_strings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_dir(dir.path());
    for bad in ["/layers/a:b", "/layers/a,b", "/layers/a\\b"] {
        assert!(
            options(&[PathBuf::from(bad)], &run).is_err(),
            "{bad:?} would be split by the kernel: options must refuse it"
        );
    }
    assert!(
        options(&[], &run).is_err(),
        "an overlay without a lower layer must be refused"
    );
    let many: Vec<PathBuf> = (0..60)
        .map(|i| {
            PathBuf::from(format!(
                "/var/lib/contain-rs-workshop/images/layers/sha256/{i:064}"
            ))
        })
        .collect();
    assert!(
        options(&many, &run).is_err(),
        "60 long layer paths make more than the 4095 bytes mount(2) copies: options must refuse them"
    );
}

#[test]
fn whiteouts_become_character_devices_0_0() {
    root();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("made-then-deleted"), b"x").unwrap();
    let fd = std::fs::File::open(dir.path()).unwrap();
    for name in ["gone", "made-then-deleted"] {
        let entry = format!(".wh.{name}");
        assert_eq!(
            convert(fd.as_fd(), entry.as_bytes()),
            Ok(true),
            "`{entry}` is a whiteout: convert must say so with Ok(true)"
        );
        let st = std::fs::symlink_metadata(dir.path().join(name))
            .unwrap_or_else(|e| panic!("`{entry}`: no `{name}` in the directory afterwards ({e})"));
        assert!(
            st.file_type().is_char_device() && st.rdev() == 0,
            "`{entry}`: `{name}` must be a character device 0:0 (overlayfs's whiteout)"
        );
        assert!(
            !dir.path().join(&entry).exists(),
            "`{entry}` itself must not be created"
        );
    }
}

#[test]
fn opaque_markers_set_the_xattr() {
    root();
    let dir = tempfile::tempdir().unwrap();
    let fd = std::fs::File::open(dir.path()).unwrap();
    assert_eq!(convert(fd.as_fd(), b".wh..wh..opq"), Ok(true));
    let path = std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap();
    let mut value = [0u8; 8];
    // SAFETY: both strings are NUL-terminated; `value` is writable for its length.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    assert!(
        n == 1 && value[0] == b'y',
        "`.wh..wh..opq`: the directory must get trusted.overlay.opaque = \"y\""
    );
    assert!(
        !dir.path().join(".wh..wh..opq").exists(),
        "the marker itself must not be created"
    );
}

#[test]
fn other_names_are_left_to_the_unpacker() {
    root();
    let dir = tempfile::tempdir().unwrap();
    let fd = std::fs::File::open(dir.path()).unwrap();
    for name in ["plain", ".hidden", "a.wh.b", "wh.x"] {
        assert_eq!(
            convert(fd.as_fd(), name.as_bytes()),
            Ok(false),
            "`{name}` is not a whiteout: Ok(false), and nothing made"
        );
    }
    assert_eq!(
        convert(fd.as_fd(), b".wh..wh.plnk"),
        Ok(true),
        "aufs's `.wh..wh.*` are ignored"
    );
    for bad in [&b".wh."[..], b".wh..", b".wh..."] {
        assert!(
            convert(fd.as_fd(), bad).is_err(),
            "`{}` whites out no file: an error",
            String::from_utf8_lossy(bad)
        );
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "nothing may be created for these names: {left:?}"
    );
}

#[test]
fn the_overlay_mount_merges_and_copies_up() {
    root();
    let dir = tempfile::tempdir().unwrap();
    let (base, top) = (dir.path().join("base"), dir.path().join("top"));
    for (layer, file, text) in [
        (&base, "a", "base"),
        (&base, "b", "base"),
        (&top, "b", "top"),
    ] {
        std::fs::create_dir_all(layer).unwrap();
        std::fs::write(layer.join(file), text).unwrap();
    }
    let run = run_dir(&dir.path().join("containers"));
    let opts = options(&[base.clone(), top.clone()], &run).unwrap();
    // In a child with a mount namespace of its own: the mount never
    // reaches the host's table, and goes when the child exits.
    // SAFETY: the child only makes syscalls and exits with _exit.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            let ok = (|| -> Result<(), String> {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                    .map_err(|e| e.to_string())?;
                crate::mount::make_mounts_private().map_err(|e| e.to_string())?;
                let merged = mount_overlay(&opts, &run).map_err(|e| e.to_string())?;
                let read = |f: &str| std::fs::read_to_string(merged.join(f)).unwrap_or_default();
                if read("a") != "base" || read("b") != "top" {
                    return Err(format!("merged shows a={:?} b={:?}", read("a"), read("b")));
                }
                std::fs::write(merged.join("a"), "written").map_err(|e| e.to_string())?;
                Ok(())
            })();
            let code = match ok {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("in the test's mount namespace: {e}");
                    1
                }
            };
            // SAFETY: _exit ends the child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            assert!(
                matches!(status, nix::sys::wait::WaitStatus::Exited(_, 0)),
                "mounting your overlay over two layers failed (see the line above): {status:?}"
            );
        }
    }
    assert_eq!(
        std::fs::read_to_string(base.join("a")).unwrap(),
        "base",
        "a lower layer was written"
    );
    assert_eq!(
        std::fs::read_to_string(run.upper.join("a")).unwrap_or_default(),
        "written",
        "a write must be copied up into the run's upper directory"
    );
}
