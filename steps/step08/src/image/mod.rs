//! `--image REF`: an image pulled from an OCI distribution registry into a
//! content-addressed store, its layers unpacked once each, read-only.
//!
//! (Skeleton: the pull is being written. The API below is the contract
//! `container.rs` uses.)

use std::path::PathBuf;

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
    /// The manifest's digest, `sha256:...`.
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
    match &opt.image {
        None => Ok(None),
        Some(reference) => anyhow::bail!("--image {reference}: pulling is not written yet"),
    }
}
