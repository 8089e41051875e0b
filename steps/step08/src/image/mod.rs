//! `--image REF`: an image pulled from an OCI distribution registry into a
//! content-addressed store, its layers unpacked once each, read-only.
//!
//! A pull, in order:
//!
//! 1. [`reference`](mod@reference): `alpine:3.23` is `docker.io/library/alpine:3.23`.
//! 2. [`registry`]: the manifest the tag names, with an anonymous token if
//!    the registry asks for one. An index (one manifest per platform) is
//!    followed to this machine's `linux/amd64` or `linux/arm64` entry.
//! 3. The config blob: the `Env`, `Cmd`, ... a container of the image
//!    starts with, and the uncompressed digests of the layers.
//! 4. [`layer`]: each layer blob downloaded, verified, unpacked into a
//!    directory of its own, whiteouts turned into overlayfs ones.
//! 5. [`store`]: layers, then JSON, then the tag's ref renamed into place.
//!
//! Every byte is checked against a sha256 digest as it arrives: the
//! manifest against the digest it was asked by (or the registry's
//! `Docker-Content-Digest`), the config and layers against the manifest,
//! the unpacked layers against the config. Nothing that fails is stored.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{anyhow, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub mod layer;
pub mod manifest;
pub mod reference;
pub mod registry;
pub mod store;

use manifest::{ConfigFile, Descriptor, Document};
use reference::Reference;
use registry::Registry;
use store::{Store, sha256};
use workshop::explain;

/// Where images are kept unless `--image-store` says otherwise.
pub const DEFAULT_STORE: &str = "/var/lib/contain-rs-workshop/images";

/// When to ask the registry.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Pull {
    /// Only when the store does not have the image (docker run's default).
    #[default]
    Missing,
    /// Resolve the tag again and fetch what changed.
    Always,
    /// Never: an image not in the store is an error.
    Never,
}

/// `--image`, `--pull`, `--image-store`.
#[derive(clap::Args, Debug, Clone)]
pub struct ImageOpt {
    /// Run an image from an OCI registry instead of --rootfs:
    /// `alpine:3.23` (Docker Hub), `HOST[:PORT]/NAME:TAG`, or `NAME@sha256:...`.
    /// Plain HTTP only for localhost and 127.0.0.0/8.
    #[arg(long, value_name = "REF", conflicts_with = "rootfs")]
    pub image: Option<String>,
    /// When to pull the image: missing (only when not in the store), always,
    /// never.
    #[arg(long, value_enum, default_value_t = Pull::Missing, value_name = "WHEN")]
    pub pull: Pull,
    /// The content-addressed store of manifests, configs and unpacked layers.
    #[arg(long, env = "WORKSHOP_IMAGE_STORE", value_name = "DIR", default_value = DEFAULT_STORE)]
    pub image_store: PathBuf,
}

/// What the image's config asks of a container (the OCI image config's
/// `config` object); empty fields were not set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `KEY=value` entries.
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: String,
    /// `user`, `uid`, `user:group`, `uid:gid`.
    pub user: String,
}

/// An image ready to run.
#[derive(Clone, Debug)]
pub struct Image {
    /// The reference as pulled, in full: `registry/repository:tag` or `@digest`.
    pub reference: String,
    /// The digest the reference resolved to, `sha256:...`: the manifest's,
    /// or the index's when the tag names an index of platforms (as `docker
    /// images --digests` shows it). `refs/` records the same.
    pub digest: String,
    /// The unpacked layers, the base first: each a directory in the store,
    /// OCI whiteouts already turned into overlayfs whiteouts.
    pub layers: Vec<PathBuf>,
    pub config: ImageConfig,
}

/// The image `opt.image` names, pulled into the store as `opt.pull` says;
/// `None` without `--image`. Runs before anything is created: every error is
/// one line, and the store is as it was.
pub fn resolve(opt: &ImageOpt) -> anyhow::Result<Option<Image>> {
    resolve_with(opt, crate::whiteout::convert)
}

/// [`resolve`], turning whiteouts into overlayfs's form with `convert`
/// (exercise 8 passes its own).
pub fn resolve_with(
    opt: &ImageOpt,
    convert: crate::whiteout::Convert,
) -> anyhow::Result<Option<Image>> {
    let Some(text) = &opt.image else {
        return Ok(None);
    };
    let reference = Reference::parse(text).map_err(|e| anyhow!(e))?;
    let store = Store::new(&opt.image_store);
    if opt.pull != Pull::Always {
        if let Some(image) = from_store(&store, &reference, text)? {
            explain::say(format_args!(
                "{reference}: in the store ({}), not pulled",
                image.digest
            ));
            return Ok(Some(image));
        }
        if opt.pull == Pull::Never {
            bail!(
                "--image {text}: not in the image store {} and --pull never; pull it first (--pull missing)",
                store.root.display()
            );
        }
    }
    pull(&store, &reference, text, convert).map(Some)
}

/// The image, if the store has all of it.
fn from_store(store: &Store, r: &Reference, shown: &str) -> anyhow::Result<Option<Image>> {
    let top = match (&r.digest, store.read_ref(r)) {
        (Some(digest), _) => digest.clone(),
        (None, Some(digest)) => digest,
        (None, None) => return Ok(None),
    };
    let Some(bytes) = store.read_blob(&top) else {
        return Ok(None);
    };
    let document = manifest::parse(&bytes, None).map_err(|e| anyhow!("--image {shown}: {e}"))?;
    let (config, layers) = match document {
        Document::Index(manifests) => {
            let chosen = manifest::select(&manifests, manifest::host_architecture())
                .map_err(|e| anyhow!("--image {shown} {e}"))?;
            let Some(bytes) = store.read_blob(&chosen.digest) else {
                return Ok(None);
            };
            match manifest::parse(&bytes, None).map_err(|e| anyhow!("--image {shown}: {e}"))? {
                Document::Manifest { config, layers } => (config, layers),
                Document::Index(_) => return Ok(None),
            }
        }
        Document::Manifest { config, layers } => (config, layers),
    };
    let Some(config_bytes) = store.read_blob(&config.digest) else {
        return Ok(None);
    };
    if !layers.iter().all(|l| store.has_layer(&l.digest)) {
        return Ok(None);
    }
    let config = ConfigFile::parse(&config_bytes).map_err(|e| anyhow!("--image {shown}: {e}"))?;
    Ok(Some(Image {
        reference: r.to_string(),
        digest: top,
        layers: layers.iter().map(|l| store.layer_path(&l.digest)).collect(),
        config: config.image_config(),
    }))
}

/// Asks the registry, fetches what the store lacks, stores it.
fn pull(
    store: &Store,
    r: &Reference,
    shown: &str,
    convert: crate::whiteout::Convert,
) -> anyhow::Result<Image> {
    // The blocking client runs a thread of its own until it is dropped, at
    // the end of this function: the caller forks after we return.
    let mut registry = Registry::new(r, shown)?;

    // The manifest, or an index of manifests: verified, kept in memory.
    let key = r.manifest_key().to_owned();
    let fetched = registry.manifest(&key)?;
    let top = sha256(&fetched.bytes);
    if let Some(want) = &r.digest {
        if &top != want {
            bail!(
                "--image {shown}: the manifest the registry sent hashes to {top}, not the digest asked for; the registry sent bad data"
            );
        }
    }
    if let Some(header) = fetched.digest_header.as_deref() {
        if header != top {
            bail!(
                "--image {shown}: the manifest hashes to {top} but the registry's Docker-Content-Digest says {header}; the registry sent bad data"
            );
        }
    }
    let mut json: Vec<(String, Vec<u8>)> = Vec::new();
    let document = manifest::parse(&fetched.bytes, fetched.content_type.as_deref())
        .map_err(|e| anyhow!("--image {shown}: {e}"))?;
    json.push((top.clone(), fetched.bytes));
    let (config_desc, layers) = match document {
        Document::Manifest { config, layers } => (config, layers),
        Document::Index(manifests) => {
            let chosen = manifest::select(&manifests, manifest::host_architecture())
                .map_err(|e| anyhow!("--image {shown} {e}"))?;
            reference::check_digest(&chosen.digest).map_err(|e| anyhow!("--image {shown}: {e}"))?;
            let fetched = registry.manifest(&chosen.digest)?;
            let got = sha256(&fetched.bytes);
            if got != chosen.digest {
                bail!(
                    "--image {shown}: the manifest {} hashes to {got}; the registry sent bad data",
                    chosen.digest
                );
            }
            let document = manifest::parse(&fetched.bytes, fetched.content_type.as_deref())
                .map_err(|e| anyhow!("--image {shown}: {e}"))?;
            json.push((got, fetched.bytes));
            match document {
                Document::Manifest { config, layers } => (config, layers),
                Document::Index(_) => {
                    bail!(
                        "--image {shown}: the index for linux/{} points to another index; not supported",
                        manifest::host_architecture()
                    )
                }
            }
        }
    };

    // Every digest is checked for form before it becomes a file name, and
    // every layer's media type before anything is downloaded.
    let mut kinds = Vec::new();
    for d in std::iter::once(&config_desc).chain(&layers) {
        reference::check_digest(&d.digest).map_err(|e| anyhow!("--image {shown}: {e}"))?;
    }
    for l in &layers {
        kinds.push(
            manifest::compression(&l.media_type).map_err(|e| anyhow!("--image {shown} {e}"))?,
        );
    }

    let config_bytes = match store.read_blob(&config_desc.digest) {
        Some(bytes) => bytes,
        None => fetch_json(&mut registry, &config_desc, "the image config", shown)?,
    };
    let config = ConfigFile::parse(&config_bytes).map_err(|e| anyhow!("--image {shown}: {e}"))?;
    json.push((config_desc.digest.clone(), config_bytes));
    if config.rootfs.diff_ids.len() != layers.len() {
        bail!(
            "--image {shown}: the manifest lists {} layers but the config's rootfs.diff_ids {}; the image is inconsistent",
            layers.len(),
            config.rootfs.diff_ids.len()
        );
    }

    // Writing begins: under the lock, in tmp/, renamed when all is verified.
    let mut locked = store.lock()?;
    let bars = Bars::new();
    let mut unpacked = Vec::new();
    for ((l, kind), diff_id) in layers.iter().zip(&kinds).zip(&config.rootfs.diff_ids) {
        // Stored already (shared with another image), or listed twice in
        // this one (empty layers often are): unpacked once.
        if store.has_layer(&l.digest) || unpacked.iter().any(|(_, d)| *d == &l.digest) {
            continue;
        }
        let bar = bars.layer(&l.digest, l.size);
        let blob = layer::download(&mut registry, l, &locked.work, &bar, shown)?;
        let dir = locked.work.join(store::hex_of(&l.digest));
        layer::unpack(&blob, *kind, diff_id, &dir, &l.digest, shown, convert)?;
        let _ = std::fs::remove_file(&blob);
        bar.finish();
        unpacked.push((dir, &l.digest));
    }
    drop(registry);
    for (dir, digest) in &unpacked {
        store.put_layer(dir, digest)?;
    }
    for (digest, bytes) in &json {
        store.write_blob(&locked, digest, bytes)?;
    }
    store.write_ref(&locked, r, &top)?;
    locked.done = true;
    drop(locked);
    drop(bars);

    Ok(Image {
        reference: r.to_string(),
        digest: top,
        layers: layers.iter().map(|l| store.layer_path(&l.digest)).collect(),
        config: config.image_config(),
    })
}

/// A config blob: small JSON, read whole, size and digest checked.
fn fetch_json(
    registry: &mut Registry,
    d: &Descriptor,
    what: &str,
    shown: &str,
) -> anyhow::Result<Vec<u8>> {
    let what = format!("{what} {}", d.digest);
    if d.size > registry::MAX_JSON {
        bail!(
            "--image {shown}: {what} claims {} bytes; too large for a config",
            d.size
        );
    }
    let response = registry.blob(&d.digest, &what)?;
    let mut bytes = Vec::new();
    response
        .take(d.size + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            anyhow!(
                "--image {shown}: the download of {what} broke off ({}); try again",
                one_line(&e)
            )
        })?;
    if bytes.len() as u64 != d.size {
        bail!(
            "--image {shown}: {what} is {} bytes, its manifest says {}; the download was cut short or the registry sent bad data",
            bytes.len(),
            d.size
        );
    }
    let got = sha256(&bytes);
    if got != d.digest {
        bail!(
            "--image {shown}: {what} does not match its digest (the bytes hash to {got}); the registry sent bad data"
        );
    }
    Ok(bytes)
}

/// One progress bar per layer, only when stderr is a terminal: a run whose
/// stderr is a file or a pipe prints nothing but its errors. With `-x` the
/// narration has the terminal to itself (a bar would redraw over it).
struct Bars {
    multi: Option<MultiProgress>,
}

impl Bars {
    fn new() -> Bars {
        let multi = (std::io::stderr().is_terminal() && !explain::enabled())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Bars { multi }
    }

    /// A bar for a layer of `size` bytes; hidden when not on a terminal.
    /// No steady tick: a tick is a thread, and the caller forks later.
    fn layer(&self, digest: &str, size: u64) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let bar = multi.add(ProgressBar::new(size));
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        let hex = store::hex_of(digest);
        bar.set_message(hex[..12.min(hex.len())].to_owned());
        bar
    }
}

impl Drop for Bars {
    /// The bars go when the pull ends, well or not: what stays on the
    /// terminal is the run's output, or the one line of its error.
    fn drop(&mut self) {
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
        }
    }
}

/// An error's text on one line.
fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().replace('\n', " ")
}
