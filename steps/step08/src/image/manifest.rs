//! The JSON documents of an image: an index (a list of manifests, one per
//! platform), a manifest (a config and layers), and the config itself.
//!
//! Two dialects say the same thing: the OCI image spec and Docker's
//! schema 2, which the OCI one was made from. We take both; Docker's older
//! schema 1 (signed, no config blob, no digests of uncompressed layers) is
//! refused.

use serde::Deserialize;

use super::ImageConfig;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// What a manifest request sends as `Accept`: every kind we can read.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// A pointer to content: what it is, its digest, its size in bytes.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(v) => write!(f, "/{v}"),
            None => Ok(()),
        }
    }
}

/// An index or a manifest, as fetched.
#[derive(Debug)]
pub enum Document {
    /// Manifests for several platforms.
    Index(Vec<Descriptor>),
    /// One image: its config and its layers, the base first.
    Manifest {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

/// Reads an index or manifest; `content_type` is the registry's header, used
/// when the document does not say its own `mediaType`.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Document, String> {
    let raw: Raw = serde_json::from_slice(bytes)
        .map_err(|e| format!("the manifest is not valid JSON ({e})"))?;
    if raw.schema_version == Some(1)
        || content_type.is_some_and(|c| c.contains("docker.distribution.manifest.v1"))
    {
        return Err(
            "the image has a Docker schema 1 manifest, which is not supported; push it again with a current docker or skopeo (schema 2 or OCI)".into(),
        );
    }
    let kind = raw
        .media_type
        .as_deref()
        .or(content_type)
        .map(|m| m.split(';').next().unwrap_or("").trim().to_owned());
    let is_index = match kind.as_deref() {
        Some(OCI_INDEX | DOCKER_LIST) => true,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
        _ => raw.manifests.is_some(),
    };
    match (is_index, raw.manifests, raw.config, raw.layers) {
        (true, Some(manifests), _, _) => Ok(Document::Index(manifests)),
        (false, _, Some(config), Some(layers)) => Ok(Document::Manifest { config, layers }),
        _ => Err(format!(
            "the manifest (media type {}) is neither an image index nor an image manifest",
            kind.as_deref().unwrap_or("not given")
        )),
    }
}

/// The architecture as OCI names it: `amd64` on x86_64, `arm64` on aarch64.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// The entry of an index for `linux/<arch>`; the error lists what there is.
pub fn select<'a>(manifests: &'a [Descriptor], arch: &str) -> Result<&'a Descriptor, String> {
    manifests
        .iter()
        .find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == arch)
        })
        .ok_or_else(|| {
            let mut have: Vec<String> = manifests
                .iter()
                .filter_map(|m| m.platform.as_ref())
                // Build attestations are listed as unknown/unknown.
                .filter(|p| p.os != "unknown")
                .map(Platform::to_string)
                .collect();
            have.dedup();
            let have = if have.is_empty() {
                "none".to_owned()
            } else {
                have.join(", ")
            };
            format!("has no image for linux/{arch} (it has: {have}); pick an image built for this machine")
        })
}

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// The compression of a layer of `media_type`; unknown types are refused.
pub fn compression(media_type: &str) -> Result<Compression, String> {
    match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Ok(Compression::None),
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Ok(Compression::Gzip),
        "application/vnd.oci.image.layer.v1.tar+zstd"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Ok(Compression::Zstd),
        other => Err(format!(
            "has a layer of media type `{other}`, which is not a layer this runtime can unpack (tar, tar+gzip, tar+zstd)"
        )),
    }
}

/// The image config blob, what we read of it.
#[derive(Debug, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub config: Option<RunConfig>,
    pub rootfs: RootFs,
}

/// The `config` object: how a container of the image runs.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
}

/// `rootfs.diff_ids`: the digests of the layers *uncompressed*, base first.
#[derive(Debug, Deserialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl ConfigFile {
    pub fn parse(bytes: &[u8]) -> Result<ConfigFile, String> {
        serde_json::from_slice(bytes)
            .map_err(|e| format!("the image config is not valid JSON ({e})"))
    }

    pub fn image_config(&self) -> ImageConfig {
        let c = self.config.as_ref();
        ImageConfig {
            env: c.and_then(|c| c.env.clone()).unwrap_or_default(),
            entrypoint: c.and_then(|c| c.entrypoint.clone()).unwrap_or_default(),
            cmd: c.and_then(|c| c.cmd.clone()).unwrap_or_default(),
            working_dir: c.and_then(|c| c.working_dir.clone()).unwrap_or_default(),
            user: c.and_then(|c| c.user.clone()).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: format!("sha256:{os}{arch}"),
            size: 1,
            platform: Some(Platform {
                architecture: arch.into(),
                os: os.into(),
                variant: variant.map(Into::into),
            }),
        }
    }

    #[test]
    fn the_host_platform_is_selected() {
        let list = [
            desc("linux", "arm", Some("v7")),
            desc("linux", "arm64", Some("v8")),
            desc("linux", "amd64", None),
            desc("unknown", "unknown", None),
        ];
        assert_eq!(select(&list, "amd64").unwrap().digest, "sha256:linuxamd64");
        assert_eq!(select(&list, "arm64").unwrap().digest, "sha256:linuxarm64");
        let e = select(&list[..2], "amd64").unwrap_err();
        assert!(e.contains("linux/amd64"), "{e}");
        assert!(e.contains("linux/arm/v7, linux/arm64/v8"), "{e}");
        assert!(select(&[], "amd64").unwrap_err().contains("none"));
    }

    #[test]
    fn documents_are_told_apart() {
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(matches!(parse(index, None), Ok(Document::Index(_))));
        let manifest = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:a","size":2},"layers":[]}"#;
        assert!(matches!(
            parse(manifest, Some(DOCKER_MANIFEST)),
            Ok(Document::Manifest { .. })
        ));
        let v1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        assert!(parse(v1, None).unwrap_err().contains("schema 1"));
        assert!(parse(b"{}", None).is_err());
    }

    #[test]
    fn config_fields_are_read() {
        let c = ConfigFile::parse(
            br#"{"config":{"Env":["PATH=/bin"],"Cmd":["sh"],"Entrypoint":null,"WorkingDir":"/w","User":"1:2"},"rootfs":{"type":"layers","diff_ids":["sha256:x"]}}"#,
        )
        .unwrap();
        assert_eq!(
            c.image_config(),
            ImageConfig {
                env: vec!["PATH=/bin".into()],
                entrypoint: vec![],
                cmd: vec!["sh".into()],
                working_dir: "/w".into(),
                user: "1:2".into(),
            }
        );
        assert_eq!(c.rootfs.diff_ids, ["sha256:x"]);
        assert_eq!(
            compression("application/vnd.oci.image.layer.v1.tar+zstd"),
            Ok(Compression::Zstd)
        );
        assert!(compression("application/x-foo").is_err());
    }
}
