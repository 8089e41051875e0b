//! `rootfs-fetcher`: downloads, verifies and safely unpacks the Alpine
//! minirootfs that the workshop's containers `pivot_root` into.
//!
//! Thin on purpose: parse the flags, turn them into [`Options`], call
//! [`rootfs_fetcher::fetch`], and print one line on failure. The one thing
//! only the binary does is Ctrl-C: SIGINT, SIGTERM and SIGHUP are blocked in
//! every thread and taken by a thread of their own with `sigwait(2)`, which
//! removes whatever the fetch had half-made and exits 128 + N. A handler
//! thread, not a signal handler, because removing a directory tree is far
//! from async-signal-safe, and because the main thread may be blocked in a
//! network read for up to `--timeout` seconds.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use nix::sys::signal::{SigSet, Signal};
use rootfs_fetcher::{
    Checksum, DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, Options, Outcome, Progress, Source,
};

/// Exit status of a failed fetch.
const FAILED: i32 = 1;
/// Exit status of a bad command line (including flags that do not fit
/// together, and a host with no pinned archive and no --url).
const USAGE: i32 = 2;

/// Downloads the pinned Alpine minirootfs for this machine, verifies its
/// SHA-512, and unpacks it safely into --dest.
#[derive(Parser, Debug)]
#[command(
    name = "rootfs-fetcher",
    version,
    after_help = "Exit status: 0 when the rootfs is in place (fetched now or already there), \
1 when the fetch failed (one line on stderr says why), 2 for a bad command line, \
128+N when interrupted by signal N. Nothing half-done is ever left behind."
)]
struct Args {
    /// Where the rootfs goes.
    #[arg(long, value_name = "DIR", env = "WORKSHOP_ROOTFS", default_value = rootfs_fetcher::DEFAULT_DEST)]
    dest: PathBuf,

    /// Fetch this archive instead of the pinned one (needs --sha512 or --sha256).
    #[arg(long, value_name = "URL", conflicts_with_all = ["from_file", "arch"])]
    url: Option<String>,

    /// The SHA-512 the archive must have, in hex.
    #[arg(long, value_name = "HEX", conflicts_with = "sha256")]
    sha512: Option<String>,

    /// The SHA-256 the archive must have, in hex.
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,

    /// Unpack a local copy of the archive (offline classrooms), after checking it
    /// against the pinned checksum or the one given.
    #[arg(long, value_name = "PATH")]
    from_file: Option<PathBuf>,

    /// Replace whatever is at --dest, even a verified rootfs.
    #[arg(long)]
    force: bool,

    /// The architecture of the pinned archive [default: this machine's].
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,

    /// Give up when connecting, or when the download stalls, for this long.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,

    /// Refuse archives that unpack to more than this (K, M, G suffixes).
    #[arg(long, value_name = "SIZE", default_value_t = DEFAULT_MAX_BYTES,
          value_parser = rootfs_fetcher::parse_size)]
    max_bytes: u64,

    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

fn main() {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            e.exit()
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad command line");
            eprintln!(
                "rootfs-fetcher: {} (see --help)",
                first.trim_start_matches("error: ")
            );
            std::process::exit(USAGE);
        }
    };
    if let Err(e) = handle_signals() {
        eprintln!("rootfs-fetcher: {e:#}");
        std::process::exit(FAILED);
    }
    let (status, result) = match options(args) {
        Err(e) => (USAGE, Err(e)),
        Ok(opts) => (
            FAILED,
            rootfs_fetcher::fetch(&opts).map_err(anyhow::Error::from),
        ),
    };
    match result {
        Ok(Outcome::Fetched | Outcome::AlreadyPresent) => std::process::exit(0),
        Err(e) => {
            eprintln!("rootfs-fetcher: {}", format!("{e:#}").replace('\n', " "));
            std::process::exit(status);
        }
    }
}

/// Turns the flags into [`Options`], refusing combinations that would fetch
/// something unverified.
fn options(args: Args) -> anyhow::Result<Options> {
    let checksum = match (&args.sha512, &args.sha256) {
        (Some(hex), _) => Some(Checksum::sha512(hex).map_err(anyhow::Error::msg)?),
        (None, Some(hex)) => Some(Checksum::sha256(hex).map_err(anyhow::Error::msg)?),
        (None, None) => None,
    };
    let arch = args.arch.as_deref().unwrap_or(std::env::consts::ARCH);
    let mut opts = match (&args.url, &args.from_file, checksum) {
        (Some(url), _, Some(checksum)) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!(
                    "--url must start with http:// or https://; for a local file use --from-file"
                );
            }
            Options::new(args.dest.clone(), Source::Url(url.clone()), checksum)
        }
        (Some(_), _, None) => bail!(
            "--url needs --sha512 HEX or --sha256 HEX: the fetcher never unpacks an archive it cannot verify"
        ),
        (None, Some(file), Some(checksum)) => {
            Options::new(args.dest.clone(), Source::File(file.clone()), checksum)
        }
        (None, Some(file), None) => Options {
            source: Source::File(file.clone()),
            ..Options::pinned_for_arch(arch, args.dest.clone())?
        },
        (None, None, Some(_)) => bail!(
            "--sha512/--sha256 go with --url or --from-file; the pinned archive has its own checksum"
        ),
        (None, None, None) => Options::pinned_for_arch(arch, args.dest.clone())?,
    };
    opts.force = args.force;
    opts.timeout = Duration::from_secs(args.timeout);
    opts.max_bytes = args.max_bytes;
    opts.progress = if args.quiet {
        Progress::Quiet
    } else {
        Progress::Auto
    };
    Ok(opts)
}

/// Blocks SIGINT, SIGTERM and SIGHUP in this thread (and so in every thread
/// started later, the HTTP client's included), and takes them on a thread
/// that cleans up and exits.
fn handle_signals() -> anyhow::Result<()> {
    let mut set = SigSet::empty();
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(signal);
    }
    set.thread_block()
        .context("sigprocmask(SIG_BLOCK, {SIGINT, SIGTERM, SIGHUP})")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Ok(signal) = set.wait() {
                rootfs_fetcher::cleanup::remove_all_and_freeze();
                // After a progress bar, start on a fresh line.
                let newline = if std::io::stderr().is_terminal() { "\n" } else { "" };
                eprintln!(
                    "{newline}rootfs-fetcher: interrupted by {signal}; the partial download and unpack were removed, nothing else was changed"
                );
                std::process::exit(128 + signal as i32);
            }
        })
        .context("spawn the signal thread")?;
    Ok(())
}
