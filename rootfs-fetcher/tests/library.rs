//! The library API as the steps and `doctor` call it. One test only, so the
//! test harness runs no other test thread beside it: it counts the process's
//! threads, because the steps fork right after `fetch` returns and a thread
//! left running then (the HTTP client's runtime, a progress ticker) would be
//! a bug.

use std::path::Path;
use std::time::{Duration, Instant};

use rootfs_fetcher::{Checksum, Options, Outcome, Progress, Source, Status};
use testkit::server::{Reply, Server};

/// The names of this process's threads.
fn threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

#[test]
fn fetch_status_and_no_threads_left_behind() {
    let tarball = testkit::rootfs::busybox_tarball().unwrap();
    let sum = testkit::rootfs::sha512_file(&tarball).unwrap();
    let server = Server::start(vec![(
        "/rootfs.tar.gz".into(),
        Reply::Body(std::fs::read(&tarball).unwrap()),
    )])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("rootfs");

    assert_eq!(rootfs_fetcher::status(&dest), Status::Missing);
    let command = rootfs_fetcher::fetch_command(&dest);
    assert!(
        command.starts_with("cargo run -p rootfs-fetcher -- --dest /"),
        "{command}"
    );
    assert!(command.ends_with(&dest.display().to_string()), "{command}");

    let before = threads();
    let mut opts = Options::new(
        dest.clone(),
        Source::Url(server.url("/rootfs.tar.gz")),
        Checksum::sha512(&sum).unwrap(),
    );
    opts.progress = Progress::Quiet;
    assert_eq!(rootfs_fetcher::fetch(&opts).unwrap(), Outcome::Fetched);

    // Right after it returns: no HTTP runtime thread, nothing of tokio's.
    let after = threads();
    assert!(
        !after
            .iter()
            .any(|t| t.starts_with("reqwest") || t.starts_with("tokio")),
        "threads left by fetch: {after:?}"
    );
    // And no thread at all beyond the ones before (the server's connection
    // thread may take a moment to notice the client hung up).
    let deadline = Instant::now() + Duration::from_secs(2);
    while threads().len() > before.len() {
        assert!(
            Instant::now() < deadline,
            "before: {before:?}, after: {:?}",
            threads()
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    assert_eq!(
        rootfs_fetcher::status(&dest),
        Status::Verified {
            sha512_or_sha256: format!("sha512:{sum}")
        }
    );
    assert!(Path::new(&dest).join("bin/sh").symlink_metadata().is_ok());
    assert_eq!(
        rootfs_fetcher::fetch(&opts).unwrap(),
        Outcome::AlreadyPresent
    );
    assert_eq!(server.hits("/rootfs.tar.gz"), 1);

    // An error is a value with a one-line message, not a panic or a print.
    opts.source = Source::Url(server.url("/missing"));
    opts.force = true;
    let err = rootfs_fetcher::fetch(&opts).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "HTTP 404 Not Found from {}; nothing was kept",
            server.url("/missing")
        )
    );
    assert!(matches!(
        rootfs_fetcher::status(&dest),
        Status::Verified { .. }
    ));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["rootfs"]);
}
