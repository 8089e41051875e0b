//! `cargo xtask kit DIR`: the offline kit an instructor copies to a USB
//! stick for a classroom without (enough) internet.
//!
//! What goes in, each part checked before it is kept:
//!
//! | in DIR | what | how it is checked |
//! |---|---|---|
//! | `vendor/`, `cargo/config.toml` | every crate the workspace uses (`cargo vendor --locked`), and the cargo configuration that builds from them | cargo's own `.cargo-checksum.json` per crate |
//! | `book/` | the built book (`mdbook build`) | mdbook's exit status |
//! | `alpine/` | both pinned Alpine minirootfs tarballs (x86_64, aarch64) | the SHA-512 pinned in `rootfs-fetcher/src/pinned.rs`, by the fetcher's own download code |
//! | `box/` | the Vagrant boxes found in Vagrant's store, or `--box FILE` | none (Vagrant checks it when it is added) |
//! | `README.txt` | how to use each part offline | |
//! | `MANIFEST.txt`, `SHA256SUMS` | size and SHA-256 of every file | `sha256sum -c SHA256SUMS` |
//!
//! Everything is written into `DIR.partial` and renamed to `DIR` only when
//! every part is there; a failure removes `DIR.partial` and prints one line
//! that names the cause and the fix, with exit status 125. A `DIR.partial`
//! left by a run that was killed is removed by the next run.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rootfs_fetcher::{Checksum, Progress, download, pinned, progress::Reporter};
use sha2::{Digest, Sha256};

/// Exit status when the kit could not be built (the workshop's convention).
const FAILED: i32 = 125;

/// Arguments of `cargo xtask kit`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where the kit goes; must not exist yet.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Take the Alpine tarballs from this directory or URL (a mirror, an
    /// earlier kit's `alpine/`), by their own file names, instead of from
    /// Alpine's servers. Either way they are checked against the pins.
    #[arg(long, value_name = "DIR_OR_URL")]
    pub alpine_from: Option<String>,
    /// Put this Vagrant box file in the kit, instead of the boxes found in
    /// Vagrant's store (`$VAGRANT_HOME/boxes`, `~/.vagrant.d/boxes`).
    #[arg(long, value_name = "FILE")]
    pub r#box: Option<PathBuf>,
}

/// Runs `cargo xtask kit`; on failure prints one line and exits 125.
pub fn run(args: Args) -> ! {
    let pins = Pin::pinned();
    match build(&args, &pins, &crate::workspace_root()) {
        Ok(report) => {
            println!("{report}");
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("xtask kit: {e:#}");
            std::process::exit(FAILED)
        }
    }
}

/// One Alpine tarball the kit must hold.
#[derive(Clone, Debug)]
pub struct Pin {
    pub arch: String,
    /// Where Alpine publishes it.
    pub url: String,
    pub sha512: String,
}

impl Pin {
    /// The rootfs fetcher's pins, every architecture.
    fn pinned() -> Vec<Pin> {
        pinned::PINNED
            .iter()
            .map(|p| Pin {
                arch: p.arch.to_owned(),
                url: p.url.to_owned(),
                sha512: p.sha512.to_owned(),
            })
            .collect()
    }

    /// `alpine-minirootfs-3.23.4-x86_64.tar.gz`: the URL's last segment.
    fn file_name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or(&self.url)
    }
}

/// Builds the kit into `args.dir` (through `DIR.partial`); returns the
/// summary to print.
pub fn build(args: &Args, pins: &[Pin], root: &Path) -> Result<String> {
    let started = Instant::now();
    let dir = absolute(&args.dir)?;
    if dir.exists() {
        bail!(
            "{} exists already; remove it, or give another directory",
            dir.display()
        );
    }
    let parent = dir.parent().context("the kit directory has no parent")?;
    if !parent.is_dir() {
        bail!(
            "{} does not exist; create it first (mkdir -p {})",
            parent.display(),
            parent.display()
        );
    }
    let partial = PathBuf::from(format!("{}.partial", dir.display()));
    if partial.exists() {
        eprintln!(
            "kit: removing {} (left by a run that did not finish)",
            partial.display()
        );
        fs::remove_dir_all(&partial)
            .with_context(|| format!("cannot remove {}", partial.display()))?;
    }
    fs::create_dir(&partial).with_context(|| {
        format!(
            "cannot create {} (is {} writable?)",
            partial.display(),
            parent.display()
        )
    })?;
    let guard = Partial(Some(partial.clone()));

    // Cheapest and likeliest to fail first: the tarballs, then the box.
    let mut timings = Vec::new();
    let t = Instant::now();
    fetch_alpine(args.alpine_from.as_deref(), pins, &partial.join("alpine"))?;
    timings.push(("alpine", t.elapsed()));
    let t = Instant::now();
    let boxes = add_boxes(args.r#box.as_deref(), root, &partial.join("box"))?;
    timings.push(("box", t.elapsed()));
    let t = Instant::now();
    vendor(root, &partial)?;
    timings.push(("vendor", t.elapsed()));
    let t = Instant::now();
    build_book(root, &partial.join("book"))?;
    timings.push(("book", t.elapsed()));

    fs::write(partial.join("README.txt"), readme(pins, &boxes))
        .context("cannot write README.txt")?;
    let sizes = manifest(&partial)?;

    fs::rename(&partial, &dir)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), dir.display()))?;
    guard.disarm();

    let mut report = format!("kit: {} is ready\n", dir.display());
    for (part, bytes) in &sizes.parts {
        let _ = writeln!(report, "  {part:<12} {:>10}", human(*bytes));
    }
    let _ = writeln!(report, "  {:<12} {:>10}", "total", human(sizes.total));
    let _ = writeln!(
        report,
        "  time: {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        timings
            .iter()
            .map(|(p, d)| format!("{p} {:.1} s", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    match &boxes {
        Boxes::None(why) => {
            let _ = writeln!(report, "  NO VAGRANT BOX: {why}");
        }
        Boxes::Found(files) => {
            for f in files {
                let _ = writeln!(report, "  box: {}", f.file);
            }
        }
    }
    let _ = write!(
        report,
        "  how to use it: {}",
        dir.join("README.txt").display()
    );
    Ok(report)
}

/// Removes `DIR.partial` when dropped, unless disarmed.
struct Partial(Option<PathBuf>);

impl Partial {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_dir_all(path);
        }
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    let path = std::path::absolute(path)
        .with_context(|| format!("cannot make {} absolute", path.display()))?;
    // `DIR/` and `DIR/.` name DIR: drop what `file_name` would not see.
    let mut clean = PathBuf::new();
    for c in path.components() {
        clean.push(c);
    }
    if clean.file_name().is_none() {
        bail!(
            "{} cannot be the kit directory; give a new directory's name",
            path.display()
        );
    }
    Ok(clean)
}

// --- Alpine -----------------------------------------------------------------

/// Gets every pinned tarball into `dest`, each checked against its SHA-512
/// while it streams in (the fetcher's own code), from `from` (a directory
/// or an `http(s)://` base URL) or, without it, from Alpine's servers.
pub fn fetch_alpine(from: Option<&str>, pins: &[Pin], dest: &Path) -> Result<()> {
    fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let reporter = Reporter::new(Progress::Plain);
    for pin in pins {
        let name = pin.file_name();
        let checksum = Checksum::sha512(&pin.sha512)
            .map_err(|e| anyhow::anyhow!("the pin for {}: {e}", pin.arch))?;
        let target = dest.join(name);
        let mut out =
            File::create(&target).with_context(|| format!("cannot create {}", target.display()))?;
        // A local directory is read; otherwise the tarball comes over HTTP,
        // from the mirror given or from Alpine itself, and a failure says
        // what to try next.
        let local = from.filter(|f| !f.starts_with("http://") && !f.starts_with("https://"));
        let (shown, received) = if let Some(dir) = local {
            let path = Path::new(dir).join(name);
            if !path.is_file() {
                bail!(
                    "{} is missing: --alpine-from {dir} must hold both tarballs by their own names; \
                     copy it from {} (SHA-512 {})",
                    path.display(),
                    pin.url,
                    rootfs_fetcher::checksum::abbrev(&pin.sha512)
                );
            }
            let got = download::from_file(
                &path,
                &mut out,
                checksum.hasher(),
                rootfs_fetcher::DEFAULT_MAX_BYTES,
                &reporter,
            )
            .map_err(anyhow::Error::from);
            (path.display().to_string(), got)
        } else {
            let (url, hint) = match from {
                Some(base) => (
                    format!("{}/{name}", base.trim_end_matches('/')),
                    format!("is {base} the mirror with both tarballs?"),
                ),
                None => (
                    pin.url.clone(),
                    "without Alpine's servers, pass --alpine-from DIR_OR_URL (a mirror, or a directory with both tarballs)".to_owned(),
                ),
            };
            let got = download::from_url(
                &url,
                &mut out,
                checksum.hasher(),
                rootfs_fetcher::DEFAULT_TIMEOUT,
                rootfs_fetcher::DEFAULT_MAX_BYTES,
                &reporter,
            )
            .map_err(|e| anyhow::anyhow!("{}; {hint}", unhinted(&e)));
            (url, got)
        };
        let received = received?;
        if received.digest != checksum.hex() {
            bail!(
                "{shown} is not the pinned {name}: its SHA-512 is {}, the pin (rootfs-fetcher/src/pinned.rs) is {}; \
                 get the file Alpine publishes at {}",
                rootfs_fetcher::checksum::abbrev(&received.digest),
                rootfs_fetcher::checksum::abbrev(checksum.hex()),
                pin.url
            );
        }
        out.sync_all()
            .with_context(|| format!("cannot write {}", target.display()))?;
        eprintln!(
            "kit: alpine/{name}: {} bytes, SHA-512 as pinned",
            received.bytes
        );
    }
    Ok(())
}

/// The fetcher's message without its own hint (`--from-file` is the
/// fetcher's flag; the kit's is `--alpine-from`).
fn unhinted(e: &rootfs_fetcher::FetchError) -> String {
    e.to_string().replace(
        " (offline? copy the archive over and pass --from-file PATH)",
        "",
    )
}

// --- the Vagrant box ----------------------------------------------------------

/// One box file in the kit.
#[derive(Debug)]
pub struct BoxFile {
    /// Under `box/`.
    pub file: String,
    /// The name the Vagrantfile asks for (`bento/ubuntu-24.04`), if known.
    pub name: Option<String>,
    /// The provider it was built for, if known.
    pub provider: Option<String>,
}

/// What the kit has of the Vagrant box.
#[derive(Debug)]
pub enum Boxes {
    Found(Vec<BoxFile>),
    /// None, and why, with how to get one.
    None(String),
}

/// The boxes the Vagrantfile names (`VIRTUALBOX_BOX = "…"`, `LIBVIRT_BOX = "…"`).
pub fn vagrantfile_boxes(root: &Path) -> Result<Vec<(String, String)>> {
    let text =
        fs::read_to_string(root.join("Vagrantfile")).context("cannot read the Vagrantfile")?;
    let mut boxes = Vec::new();
    for (var, provider) in [("VIRTUALBOX_BOX", "virtualbox"), ("LIBVIRT_BOX", "libvirt")] {
        let name = text
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(var)?
                    .trim()
                    .strip_prefix('=')?
                    .trim()
                    .strip_prefix('"')?
                    .split('"')
                    .next()
            })
            .with_context(|| format!("the Vagrantfile has no `{var} = \"…\"` line"))?;
        boxes.push((name.to_owned(), provider.to_owned()));
    }
    Ok(boxes)
}

/// Vagrant's box store: `$VAGRANT_HOME/boxes` or `~/.vagrant.d/boxes`.
fn vagrant_boxes_dir() -> Option<PathBuf> {
    match std::env::var_os("VAGRANT_HOME").filter(|h| !h.is_empty()) {
        Some(home) => Some(PathBuf::from(home).join("boxes")),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".vagrant.d/boxes")),
    }
}

fn add_boxes(given: Option<&Path>, root: &Path, dest: &Path) -> Result<Boxes> {
    let wanted = vagrantfile_boxes(root)?;
    if let Some(file) = given {
        let meta = fs::metadata(file).with_context(|| {
            format!(
                "--box {}: no such file; give the path of a .box file",
                file.display()
            )
        })?;
        if !meta.is_file() || meta.len() == 0 {
            bail!(
                "--box {}: not a box file (a directory or empty); give a .box file (`vagrant box repackage` makes one)",
                file.display()
            );
        }
        fs::create_dir_all(dest)?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "workshop.box".into());
        copy(file, &dest.join(&name))?;
        return Ok(Boxes::Found(vec![BoxFile {
            file: name,
            name: None,
            provider: None,
        }]));
    }
    let store = vagrant_boxes_dir();
    let found = match &store {
        Some(store) => pack_stored_boxes(store, &wanted, dest)?,
        None => Vec::new(),
    };
    if found.is_empty() {
        let names: Vec<String> = wanted.iter().map(|(n, p)| format!("{n} ({p})")).collect();
        return Ok(Boxes::None(format!(
            "none of the Vagrantfile's boxes, {}, is in {}, and no --box FILE was given; \
             on a machine with internet run `vagrant box add {} --provider virtualbox` \
             (or the libvirt one) and build the kit again, or pass --box FILE",
            names.join(", "),
            store
                .as_deref()
                .map(|s| s.display().to_string())
                .unwrap_or_else(|| "Vagrant's box store (no $HOME)".into()),
            wanted[0].0
        )));
    }
    Ok(Boxes::Found(found))
}

/// Packs every stored version/architecture/provider of the wanted boxes
/// into a `.box` file (a tar of the box's directory, which is what
/// `vagrant box add FILE` takes).
fn pack_stored_boxes(
    store: &Path,
    wanted: &[(String, String)],
    dest: &Path,
) -> Result<Vec<BoxFile>> {
    let mut found = Vec::new();
    for (name, _) in wanted {
        let dir = store.join(name.replace('/', "-VAGRANTSLASH-"));
        if !dir.is_dir() {
            continue;
        }
        // VERSION/PROVIDER (Vagrant before 2.4) or VERSION/ARCH/PROVIDER:
        // a directory holding metadata.json is one box.
        let mut box_dirs = Vec::new();
        find_box_dirs(&dir, 0, &mut box_dirs)?;
        box_dirs.sort();
        for box_dir in box_dirs {
            let rel = box_dir.strip_prefix(&dir).unwrap_or(&box_dir);
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let provider = parts.last().cloned();
            let file = format!("{}_{}.box", name.replace('/', "_"), parts.join("_"));
            fs::create_dir_all(dest)?;
            eprintln!(
                "kit: packing the Vagrant box {} into box/{file}",
                box_dir.display()
            );
            let out = File::create(dest.join(&file))
                .with_context(|| format!("cannot create box/{file}"))?;
            let mut tar = tar::Builder::new(io::BufWriter::new(out));
            tar.follow_symlinks(false);
            tar.append_dir_all(".", &box_dir)
                .with_context(|| format!("cannot pack {}", box_dir.display()))?;
            tar.into_inner()?.flush()?;
            found.push(BoxFile {
                file,
                name: Some(name.clone()),
                provider,
            });
        }
    }
    Ok(found)
}

fn find_box_dirs(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<()> {
    if dir.join("metadata.json").is_file() {
        out.push(dir.to_owned());
        return Ok(());
    }
    if depth >= 3 {
        return Ok(());
    }
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            find_box_dirs(&path, depth + 1, out)?;
        }
    }
    Ok(())
}

// --- crates and the book ------------------------------------------------------

/// The cargo configuration the kit writes to `cargo/config.toml`. Cargo
/// reads a relative `directory` in a `--config FILE` against the directory
/// above the file's own (as for a `.cargo/config.toml`): the kit's root.
pub const CARGO_CONFIG: &str = "\
# Written by `cargo xtask kit`: build the workshop from the crates in this
# kit's vendor/ directory instead of crates.io. Use it with
#   cargo build --offline --config KIT/cargo/config.toml
# or copy the lines below into ~/.cargo/config.toml with the absolute path of
# KIT/vendor as `directory` (README.txt shows both).
[source.crates-io]
replace-with = \"vendored-sources\"

[source.vendored-sources]
directory = \"vendor\"
";

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

fn vendor(root: &Path, kit: &Path) -> Result<()> {
    eprintln!("kit: cargo vendor --locked (every crate of Cargo.lock)");
    let out = Command::new(cargo())
        .args(["vendor", "--locked", "--quiet", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .arg(kit.join("vendor"))
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .context("cannot run cargo vendor")?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stderr);
        let last = log
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        bail!(
            "cargo vendor failed ({}): {}; it needs crates.io or the crates in ~/.cargo/registry (run `cargo fetch` with internet first)",
            out.status,
            last.trim()
        );
    }
    fs::create_dir_all(kit.join("cargo"))?;
    fs::write(kit.join("cargo/config.toml"), CARGO_CONFIG)
        .context("cannot write cargo/config.toml")?;
    Ok(())
}

fn build_book(root: &Path, dest: &Path) -> Result<()> {
    let mdbook = crate::book::mdbook()?;
    eprintln!("kit: mdbook build book");
    let out = Command::new(&mdbook)
        .arg("build")
        .arg(root.join("book"))
        .arg("--dest-dir")
        .arg(dest)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", mdbook.display()))?;
    if !out.status.success() || !dest.join("index.html").is_file() {
        let log = String::from_utf8_lossy(&out.stderr);
        let last = log
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        bail!(
            "mdbook build book failed ({}): {}; `cargo xtask book check` says more",
            out.status,
            last.trim()
        );
    }
    Ok(())
}

// --- README and manifest --------------------------------------------------------

fn readme(pins: &[Pin], boxes: &Boxes) -> String {
    let mut r = String::new();
    let x86 = pins.iter().find(|p| p.arch == "x86_64").unwrap_or(&pins[0]);
    let _ = write!(
        r,
        "\
contain-rs-workshop: the offline kit
====================================

Made by `cargo xtask kit` from the workshop's repository. Every file is
listed with its size and SHA-256 in MANIFEST.txt; check a copy with

    sha256sum -c SHA256SUMS          (in this directory)

Below, KIT is where this directory is (the USB stick, or a copy of it),
and the workshop's repository is your current directory.


1. The crates: vendor/ and cargo/config.toml
--------------------------------------------

Every crate the workspace's Cargo.lock names, as `cargo vendor` unpacks
them. With them cargo builds the workshop without crates.io:

    cargo build --offline --config KIT/cargo/config.toml
    cargo run --offline --config KIT/cargo/config.toml -p step01 -- hostname

To make it permanent for your user, add the same lines with the absolute
path to ~/.cargo/config.toml:

    sed \"s|^directory = .*|directory = \\\"$(cd KIT && pwd)/vendor\\\"|\" \\
        KIT/cargo/config.toml >> ~/.cargo/config.toml

In the lab VM, /workshop is your repository: copy the kit into it first
(for example as /workshop/kit; the VM sees it there) and use
/workshop/kit/cargo/config.toml. Note that `vagrant provision` rewrites
~/.cargo/config.toml in the VM; use --config there, or add the lines
again after provisioning. The Rust toolchain itself is not in the kit.


2. The book: book/
------------------

Open book/index.html in a browser. It needs no network (no fonts or
scripts from elsewhere); search works offline too.


3. The Alpine rootfs: alpine/
-----------------------------

Both minirootfs tarballs the rootfs fetcher pins, checked against their
pinned SHA-512 when this kit was made:

"
    );
    for pin in pins {
        let _ = writeln!(r, "    alpine/{}  ({})", pin.file_name(), pin.arch);
    }
    let _ = write!(
        r,
        "
Unpack the one for your machine (`uname -m`) where the steps look for it;
the fetcher checks it against the pin again:

    sudo -E cargo run -p rootfs-fetcher -- --from-file KIT/alpine/{x86}

step09 runs as you and uses a rootfs of its own, owned by you: run the
fetcher's binary without sudo (in the lab VM the target directory is ~/target):

    ~/target/debug/rootfs-fetcher --from-file KIT/alpine/{x86} \\
        --dest ~/.local/share/contain-rs-workshop/rootfs


4. The Vagrant box: box/
------------------------

",
        x86 = x86.file_name()
    );
    match boxes {
        Boxes::Found(files) => {
            for f in files {
                match (&f.name, &f.provider) {
                    (Some(name), Some(provider)) => {
                        let _ = writeln!(
                            r,
                            "    vagrant box add --name {name} KIT/box/{}     (provider {provider})",
                            f.file
                        );
                    }
                    _ => {
                        let _ = writeln!(
                            r,
                            "    vagrant box add --name bento/ubuntu-24.04 KIT/box/{}\n\
                             \x20   (given with --box; use the name the Vagrantfile asks for its provider)",
                            f.file
                        );
                    }
                }
            }
            let _ = write!(
                r,
                "
Then `vagrant up` uses it instead of downloading it. The box is built for
one CPU architecture (the one of the machine that made this kit): an
x86_64 box does not run on an Apple Silicon Mac.
"
            );
        }
        Boxes::None(why) => {
            let _ = writeln!(r, "THIS KIT HAS NO VAGRANT BOX: {why}.");
        }
    }
    let _ = write!(
        r,
        "
`vagrant up` still needs the internet for the rest of its provisioning
(Ubuntu's packages, rustup's toolchain): do it before class, where the
network is good. The book's \"Before class\" page lists every download.
"
    );
    r
}

/// What the manifest counted: bytes per top-level part, and in all.
struct Sizes {
    parts: Vec<(String, u64)>,
    total: u64,
}

/// Writes `MANIFEST.txt` (size, SHA-256, path) and `SHA256SUMS` (for
/// `sha256sum -c`) of every file under `kit`.
fn manifest(kit: &Path) -> Result<Sizes> {
    eprintln!("kit: hashing every file for MANIFEST.txt");
    let mut files = Vec::new();
    walk(kit, kit, &mut files)?;
    files.sort();
    let mut lines = String::new();
    let mut sums = String::new();
    let mut parts: Vec<(String, u64)> = Vec::new();
    let mut total = 0u64;
    for rel in &files {
        let path = kit.join(rel);
        let (size, hash) = sha256_file(&path)?;
        let shown = rel.to_string_lossy();
        let _ = writeln!(lines, "{size:>12}  {hash}  {shown}");
        let _ = writeln!(sums, "{hash}  {shown}");
        let part = match rel.components().count() {
            1 => "(top level)".to_owned(),
            _ => rel
                .components()
                .next()
                .map(|c| format!("{}/", c.as_os_str().to_string_lossy()))
                .unwrap_or_default(),
        };
        match parts.iter_mut().find(|(p, _)| *p == part) {
            Some((_, n)) => *n += size,
            None => parts.push((part, size)),
        }
        total += size;
    }
    let header = format!(
        "# contain-rs-workshop offline kit: {} files, {} bytes ({}); size, SHA-256, path\n",
        files.len(),
        total,
        human(total)
    );
    fs::write(kit.join("MANIFEST.txt"), header + &lines).context("cannot write MANIFEST.txt")?;
    fs::write(kit.join("SHA256SUMS"), sums).context("cannot write SHA256SUMS")?;
    Ok(Sizes { parts, total })
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_owned());
        } else {
            bail!(
                "{} is neither a file nor a directory; the kit holds only plain files",
                path.display()
            );
        }
    }
    Ok(())
}

fn sha256_file(path: &Path) -> Result<(u64, String)> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// `291.4 MiB`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::server::{Reply, Server};

    /// A small gzip'd tarball standing in for Alpine's, and its pin.
    fn fake(arch: &str) -> (Vec<u8>, Pin) {
        let mut tar = tar::Builder::new(Vec::new());
        let body = format!("fake alpine for {arch}\n");
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "etc/alpine-release", body.as_bytes())
            .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar.into_inner().unwrap()).unwrap();
        let bytes = gz.finish().unwrap();
        let sha512 = {
            use sha2::Sha512;
            hex::encode(Sha512::digest(&bytes))
        };
        let pin = Pin {
            arch: arch.into(),
            url: format!("https://alpine.invalid/v3/{arch}/alpine-minirootfs-9.9.9-{arch}.tar.gz"),
            sha512,
        };
        (bytes, pin)
    }

    fn serve(files: &[(Vec<u8>, Pin)]) -> Server {
        Server::start(
            files
                .iter()
                .map(|(bytes, pin)| {
                    (
                        format!("/mirror/{}", pin.file_name()),
                        Reply::Body(bytes.clone()),
                    )
                })
                .collect(),
        )
        .unwrap()
    }

    fn leftovers(dir: &Path) -> Vec<PathBuf> {
        let partial = PathBuf::from(format!("{}.partial", dir.display()));
        [dir.to_owned(), partial]
            .into_iter()
            .filter(|p| p.exists())
            .collect()
    }

    /// The whole kit, with the two tarballs served on loopback under pins
    /// of their own: every part is there, the manifest checks, and the
    /// vendored crates plus cargo/config.toml resolve the workspace offline
    /// in a copy, with a CARGO_HOME that has no registry at all.
    #[test]
    fn a_kit_is_complete_and_its_crates_resolve_the_workspace_offline() {
        let files = [fake("x86_64"), fake("aarch64")];
        let server = serve(&files);
        let pins: Vec<Pin> = files.iter().map(|(_, p)| p.clone()).collect();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("kit");
        let empty_box = tmp.path().join("workshop.box");
        fs::write(&empty_box, b"not really a box").unwrap();
        let args = Args {
            dir: dir.clone(),
            alpine_from: Some(server.url("/mirror/")),
            r#box: Some(empty_box),
        };
        let report = build(&args, &pins, &crate::workspace_root()).unwrap();
        eprintln!("{report}");
        assert!(!PathBuf::from(format!("{}.partial", dir.display())).exists());
        for (bytes, pin) in &files {
            assert_eq!(
                &fs::read(dir.join("alpine").join(pin.file_name())).unwrap(),
                bytes
            );
        }
        for part in [
            "README.txt",
            "MANIFEST.txt",
            "SHA256SUMS",
            "cargo/config.toml",
            "book/index.html",
            "box/workshop.box",
        ] {
            assert!(dir.join(part).is_file(), "{part} is missing from the kit");
        }
        let readme = fs::read_to_string(dir.join("README.txt")).unwrap();
        assert!(
            readme.contains("alpine/alpine-minirootfs-9.9.9-aarch64.tar.gz"),
            "{readme}"
        );
        assert!(readme.contains("KIT/box/workshop.box"), "{readme}");
        let manifest = fs::read_to_string(dir.join("MANIFEST.txt")).unwrap();
        assert!(manifest.contains("  alpine/alpine-minirootfs-9.9.9-x86_64.tar.gz\n"));
        assert!(manifest.contains("  vendor/anyhow/Cargo.toml\n"));
        let check = Command::new("sha256sum")
            .args(["--quiet", "-c", "SHA256SUMS"])
            .current_dir(&dir)
            .status()
            .unwrap();
        assert!(check.success(), "sha256sum -c SHA256SUMS failed in the kit");

        // A copy of the workspace (its tracked files), resolved offline
        // from the kit alone.
        let copy = tmp.path().join("checkout");
        let root = crate::workspace_root();
        let listed = Command::new("git")
            .args(["ls-files", "-z"])
            .current_dir(&root)
            .output()
            .unwrap();
        assert!(listed.status.success(), "git ls-files failed");
        for rel in listed.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
            let rel = Path::new(std::str::from_utf8(rel).unwrap());
            if !root.join(rel).is_file() {
                continue;
            }
            fs::create_dir_all(copy.join(rel).parent().unwrap()).unwrap();
            fs::copy(root.join(rel), copy.join(rel)).unwrap();
        }
        let cargo_home = tmp.path().join("cargo-home");
        fs::create_dir(&cargo_home).unwrap();
        let resolve = |config: Option<&Path>| {
            let mut cmd = Command::new(cargo());
            cmd.args(["metadata", "--offline", "--locked", "--format-version", "1"])
                .current_dir(&copy)
                .env("CARGO_HOME", &cargo_home)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Some(config) = config {
                cmd.arg("--config").arg(config);
            }
            cmd.status().unwrap().success()
        };
        assert!(
            !resolve(None),
            "the copy resolved without the kit: the test proves nothing"
        );
        assert!(
            resolve(Some(&dir.join("cargo/config.toml"))),
            "cargo metadata --offline --config KIT/cargo/config.toml failed in a copy of the workspace"
        );
    }

    /// A tarball that is not the pinned one is refused with a line that
    /// names the file and the pin; nothing of the kit is left.
    #[test]
    fn a_wrong_tarball_is_refused_and_nothing_is_left() {
        let files = [fake("x86_64"), fake("aarch64")];
        let (_, mut aarch64) = files[1].clone();
        aarch64.sha512 = files[0].1.sha512.clone();
        let server = serve(&files);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("kit");
        let args = Args {
            dir: dir.clone(),
            alpine_from: Some(server.url("/mirror")),
            r#box: None,
        };
        let err = build(
            &args,
            &[files[0].1.clone(), aarch64],
            &crate::workspace_root(),
        )
        .unwrap_err();
        let line = format!("{err:#}");
        assert!(
            line.contains("is not the pinned alpine-minirootfs-9.9.9-aarch64.tar.gz")
                && !line.contains('\n'),
            "{line}"
        );
        assert_eq!(leftovers(&dir), Vec::<PathBuf>::new());

        // A directory without the files: the line says which and where from.
        let args = Args {
            dir: dir.clone(),
            alpine_from: Some(tmp.path().display().to_string()),
            r#box: None,
        };
        let line = format!(
            "{:#}",
            build(&args, &[files[0].1.clone()], &crate::workspace_root()).unwrap_err()
        );
        assert!(
            line.contains("is missing") && line.contains("https://alpine.invalid/"),
            "{line}"
        );
        assert_eq!(leftovers(&dir), Vec::<PathBuf>::new());

        // An existing directory is never touched.
        fs::create_dir(&dir).unwrap();
        let line = format!(
            "{:#}",
            build(&args, &[], &crate::workspace_root()).unwrap_err()
        );
        assert!(line.contains("exists already"), "{line}");
    }

    /// The real pins: the file names the kit asks a mirror for are
    /// Alpine's, for both architectures.
    #[test]
    fn the_real_pins_give_both_architectures_by_alpines_names() {
        let pins = Pin::pinned();
        let names: Vec<&str> = pins.iter().map(|p| p.file_name()).collect();
        assert_eq!(
            names,
            [
                format!("alpine-minirootfs-{}-x86_64.tar.gz", pinned::ALPINE_VERSION),
                format!(
                    "alpine-minirootfs-{}-aarch64.tar.gz",
                    pinned::ALPINE_VERSION
                )
            ]
        );
    }

    /// Boxes in Vagrant's store (both layouts) are packed, one .box each;
    /// the names come from the Vagrantfile.
    #[test]
    fn stored_boxes_are_packed_and_named_after_the_vagrantfile() {
        let wanted = vagrantfile_boxes(&crate::workspace_root()).unwrap();
        assert_eq!(
            wanted[0],
            ("bento/ubuntu-24.04".into(), "virtualbox".into())
        );
        assert_eq!(wanted[1].1, "libvirt");
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("boxes");
        let old = store.join("bento-VAGRANTSLASH-ubuntu-24.04/202510.26.0/virtualbox");
        let new = store.join("bento-VAGRANTSLASH-ubuntu-24.04/202510.26.0/arm64/virtualbox");
        for d in [&old, &new] {
            fs::create_dir_all(d).unwrap();
            fs::write(d.join("metadata.json"), br#"{"provider":"virtualbox"}"#).unwrap();
            fs::write(d.join("box.ovf"), b"<ovf/>").unwrap();
        }
        let dest = tmp.path().join("out");
        let found = pack_stored_boxes(&store, &wanted, &dest).unwrap();
        let files: Vec<&str> = found.iter().map(|b| b.file.as_str()).collect();
        assert_eq!(
            files,
            [
                "bento_ubuntu-24.04_202510.26.0_arm64_virtualbox.box",
                "bento_ubuntu-24.04_202510.26.0_virtualbox.box"
            ]
        );
        let mut archive = tar::Archive::new(File::open(dest.join(files[0])).unwrap());
        let mut names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .filter(|n| n.ends_with(".json") || n.ends_with(".ovf"))
            .collect();
        names.sort();
        assert_eq!(names, ["box.ovf", "metadata.json"]);
        assert!(
            pack_stored_boxes(&tmp.path().join("none"), &wanted, &dest)
                .unwrap()
                .is_empty()
        );
    }
}
