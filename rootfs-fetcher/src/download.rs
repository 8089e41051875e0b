//! Getting the archive's bytes into the `.part` file, hashed on the way.
//!
//! Both sources (an `http(s)://` URL, or a file for offline classrooms) are
//! copied into a `.part` file that the fetch owns, and the digest is computed
//! from the same bytes as they are written. Unpacking then reads the `.part`
//! file back through the same descriptor, so what is unpacked is exactly what
//! was verified, even if the USB stick or the mirror changes meanwhile.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

use crate::FetchError;
use crate::checksum::Hasher;
use crate::progress::Reporter;

/// What arrived.
#[derive(Debug)]
pub struct Received {
    pub bytes: u64,
    /// Lowercase hex of the digest of those bytes.
    pub digest: String,
    pub took: Duration,
}

/// Downloads `url` into `out`. `timeout` bounds the connection and every
/// read: a server that stops sending for that long is an error, not a hang.
pub fn from_url(
    url: &str,
    out: &mut File,
    hasher: Hasher,
    timeout: Duration,
    max_bytes: u64,
    reporter: &Reporter,
) -> Result<Received, FetchError> {
    // The blocking client runs a tokio runtime on a thread of its own; it is
    // joined when the last handle (client or response) is dropped, which
    // happens before this function returns, on every path.
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(timeout)
        // In the blocking client, `timeout` bounds the wait for the response
        // head and then *each* read of the body: a stall timeout, not a
        // deadline for the whole download.
        .timeout(timeout)
        .user_agent(concat!(
            "contain-rs-workshop-rootfs-fetcher/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .map_err(|e| FetchError::Download {
            url: url.to_owned(),
            why: chain(&e),
        })?;
    let secs = timeout.as_secs();
    let mut response = client.get(url).send().map_err(|e| {
        if e.is_timeout() {
            FetchError::Stalled {
                url: url.to_owned(),
                secs,
                got: 0,
            }
        } else {
            FetchError::Download {
                url: url.to_owned(),
                why: chain(&e),
            }
        }
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Http {
            url: url.to_owned(),
            status: status.to_string(),
        });
    }
    let total = response.content_length();
    if let Some(total) = total.filter(|t| *t > max_bytes) {
        return Err(FetchError::TooLarge {
            what: url.to_owned(),
            bytes: Some(total),
            limit: max_bytes,
        });
    }
    reporter.line(format!("downloading {url}"));
    let result = stream(
        &mut response,
        out,
        hasher,
        total,
        max_bytes,
        "download",
        reporter,
    );
    drop(response);
    drop(client);
    let received = result.map_err(|(e, got)| match e {
        StreamError::Read(e) if is_timeout(&e) => FetchError::Stalled {
            url: url.to_owned(),
            secs,
            got,
        },
        StreamError::Read(e) => match total {
            Some(expected) if got < expected => FetchError::Truncated {
                url: url.to_owned(),
                got,
                expected,
            },
            _ => FetchError::Download {
                url: url.to_owned(),
                why: chain(&e),
            },
        },
        StreamError::Write(cause) => FetchError::Io {
            what: "write the download to",
            path: "the .part file".into(),
            cause,
        },
        StreamError::TooLarge => FetchError::TooLarge {
            what: url.to_owned(),
            bytes: None,
            limit: max_bytes,
        },
    })?;
    match total {
        Some(expected) if received.bytes != expected => Err(FetchError::Truncated {
            url: url.to_owned(),
            got: received.bytes,
            expected,
        }),
        _ => Ok(received),
    }
}

/// Copies the local archive `path` into `out` (for `--from-file`).
pub fn from_file(
    path: &Path,
    out: &mut File,
    hasher: Hasher,
    max_bytes: u64,
    reporter: &Reporter,
) -> Result<Received, FetchError> {
    let io = |what, cause| FetchError::Io {
        what,
        path: path.to_owned(),
        cause,
    };
    let mut file = File::open(path).map_err(|e| io("open", e))?;
    let total = file.metadata().map_err(|e| io("stat", e))?.len();
    let shown = path.display().to_string();
    if total > max_bytes {
        return Err(FetchError::TooLarge {
            what: shown,
            bytes: Some(total),
            limit: max_bytes,
        });
    }
    reporter.line(format!("reading {shown}"));
    stream(
        &mut file,
        out,
        hasher,
        Some(total),
        max_bytes,
        "read",
        reporter,
    )
    .map_err(|(e, _)| match e {
        StreamError::Read(e) => io("read", e),
        StreamError::Write(e) => io("copy", e),
        StreamError::TooLarge => FetchError::TooLarge {
            what: shown.clone(),
            bytes: None,
            limit: max_bytes,
        },
    })
}

enum StreamError {
    Read(io::Error),
    Write(io::Error),
    TooLarge,
}

/// Copies `from` into `out`, hashing and showing progress; on error also
/// says how many bytes had arrived.
fn stream(
    from: &mut dyn Read,
    out: &mut File,
    mut hasher: Hasher,
    total: Option<u64>,
    max_bytes: u64,
    label: &str,
    reporter: &Reporter,
) -> Result<Received, (StreamError, u64)> {
    let mut bar = reporter.bar(label, total);
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err((StreamError::Read(e), got)),
        };
        got += n as u64;
        if got > max_bytes {
            return Err((StreamError::TooLarge, got));
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| (StreamError::Write(e), got))?;
        bar.set(got);
    }
    let took = bar.finish();
    Ok(Received {
        bytes: got,
        digest: hasher.finish(),
        took,
    })
}

/// Whether a read failed because `--timeout` passed without data.
fn is_timeout(e: &io::Error) -> bool {
    if e.kind() == io::ErrorKind::TimedOut {
        return true;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|r| r as _);
    while let Some(err) = source {
        let reqwest_timeout = err
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout);
        let io_timeout = err
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut);
        if reqwest_timeout || io_timeout {
            return true;
        }
        source = err.source();
    }
    false
}

/// An error and its causes on one line, without reqwest's "error sending
/// request for url (...)" preamble (the caller names the URL).
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(e);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    if parts.len() > 1 && parts[0].contains("for url (") {
        parts.remove(0);
    }
    parts.join(": ").replace('\n', " ")
}
