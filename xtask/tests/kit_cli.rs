//! `cargo xtask kit` as a learner's instructor runs it: bad input is one
//! line on stderr, exit status 125, and nothing left behind.

use std::path::Path;
use std::process::Command;

fn kit(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("kit")
        .args(args)
        .output()
        .expect("run xtask kit");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn nothing_left(dir: &Path) {
    assert!(!dir.exists(), "{} was left behind", dir.display());
    let partial = format!("{}.partial", dir.display());
    assert!(!Path::new(&partial).exists(), "{partial} was left behind");
}

#[test]
fn a_wrong_alpine_tarball_is_refused_with_125_and_nothing_is_left() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join("mirror");
    std::fs::create_dir(&mirror).unwrap();
    for arch in ["x86_64", "aarch64"] {
        let name = format!(
            "alpine-minirootfs-{}-{arch}.tar.gz",
            rootfs_fetcher::pinned::ALPINE_VERSION
        );
        std::fs::write(mirror.join(name), b"not Alpine").unwrap();
    }
    let dir = tmp.path().join("kit");
    let (code, stderr) = kit(&[
        dir.to_str().unwrap(),
        "--alpine-from",
        mirror.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(125), "{stderr}");
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("xtask kit: ")
            && last.contains("is not the pinned")
            && last.contains("https://"),
        "{stderr}"
    );
    nothing_left(&dir);
}

#[test]
fn an_empty_mirror_and_an_existing_directory_are_refused_with_125() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kit");
    let (code, stderr) = kit(&[
        dir.to_str().unwrap(),
        "--alpine-from",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(125), "{stderr}");
    assert!(stderr.contains("is missing: --alpine-from"), "{stderr}");
    nothing_left(&dir);

    // An existing directory is refused before anything is written.
    let (code, stderr) = kit(&[tmp.path().to_str().unwrap()]);
    assert_eq!(code, Some(125), "{stderr}");
    assert!(stderr.contains("exists already"), "{stderr}");
}
