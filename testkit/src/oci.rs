//! OCI images built in Rust, for chapter 8's checks: gzip tar layers (the
//! busybox test rootfs as the base, so an image can run `sh`), a config with
//! Env/Entrypoint/Cmd/WorkingDir/User and the layers' `diff_ids`, and a
//! manifest, all with correct digests and sizes.
//!
//! [`Image::write_layout`] writes an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/`) that `skopeo copy oci:DIR:TAG docker://…`
//! pushes to a registry ([`crate::registry`]); [`Image::blobs`] gives the same
//! bytes to a hand-written fake registry that misbehaves on purpose.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use crate::rootfs::tarball::Entry;

/// Media types of the OCI image spec.
pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The hex part of a `sha256:<hex>` digest.
pub fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// The architecture name of this machine as OCI spells it.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// One compressed layer.
#[derive(Clone, Debug)]
pub struct Layer {
    /// The `.tar.gz` bytes, as pushed.
    pub targz: Vec<u8>,
    /// `sha256:` of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: String,
}

impl Layer {
    /// A layer of exactly these entries (names as given: `../x` stays `../x`).
    pub fn from_entries(entries: &[Entry]) -> Layer {
        Layer::from_targz(crate::rootfs::tarball::targz(entries))
    }

    /// A layer of already-compressed bytes.
    pub fn from_targz(targz: Vec<u8>) -> Layer {
        let mut tar = Vec::new();
        // A tar.gz made here always decompresses; a broken one gets the
        // digest of what could be read, which is what a fake needs anyway.
        let _ = flate2::read::GzDecoder::new(&targz[..]).read_to_end(&mut tar);
        Layer {
            diff_id: digest(&tar),
            targz,
        }
    }

    /// The busybox test rootfs (the cached tarball), so images can run `sh`.
    pub fn busybox() -> Result<Layer> {
        let path = crate::rootfs::busybox_tarball()?;
        let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        Ok(Layer::from_targz(bytes))
    }

    /// `sha256:` of the compressed bytes (the manifest's layer digest).
    pub fn digest(&self) -> String {
        digest(&self.targz)
    }
}

/// The parts of an image config that a runtime honours.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl Config {
    /// `PATH` only, no Entrypoint, `Cmd ["sh"]`: what an Alpine image has.
    pub fn shell() -> Config {
        Config {
            env: vec!["PATH=/usr/sbin:/usr/bin:/sbin:/bin".into()],
            cmd: Some(strings(&["sh"])),
            ..Config::default()
        }
    }
    pub fn env(mut self, var: &str) -> Config {
        self.env.push(var.into());
        self
    }
    pub fn entrypoint(mut self, args: &[&str]) -> Config {
        self.entrypoint = Some(strings(args));
        self
    }
    pub fn cmd(mut self, args: &[&str]) -> Config {
        self.cmd = Some(strings(args));
        self
    }
    pub fn no_cmd(mut self) -> Config {
        self.cmd = None;
        self
    }
    pub fn working_dir(mut self, dir: &str) -> Config {
        self.working_dir = Some(dir.into());
        self
    }
    pub fn user(mut self, user: &str) -> Config {
        self.user = Some(user.into());
        self
    }
}

/// An image: its config and its layers, the base first.
#[derive(Clone, Debug)]
pub struct Image {
    pub config: Config,
    pub layers: Vec<Layer>,
    /// The architecture the config names (default: this machine's).
    pub arch: String,
}

/// The bytes of an image as a registry serves them.
#[derive(Clone, Debug)]
pub struct Blobs {
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    /// `(digest, bytes)` of each layer, the base first.
    pub layers: Vec<(String, Vec<u8>)>,
}

impl Image {
    /// The busybox base layer, then `layers`.
    pub fn on_busybox(config: Config, layers: Vec<Layer>) -> Result<Image> {
        let mut all = vec![Layer::busybox()?];
        all.extend(layers);
        Ok(Image {
            config,
            layers: all,
            arch: host_arch().into(),
        })
    }

    /// The config JSON (canonical enough: serde_json's order is stable).
    pub fn config_json(&self) -> Vec<u8> {
        let mut cfg = serde_json::Map::new();
        cfg.insert("Env".into(), json!(self.config.env));
        if let Some(e) = &self.config.entrypoint {
            cfg.insert("Entrypoint".into(), json!(e));
        }
        if let Some(c) = &self.config.cmd {
            cfg.insert("Cmd".into(), json!(c));
        }
        if let Some(w) = &self.config.working_dir {
            cfg.insert("WorkingDir".into(), json!(w));
        }
        if let Some(u) = &self.config.user {
            cfg.insert("User".into(), json!(u));
        }
        let value = json!({
            "created": "2026-01-01T00:00:00Z",
            "architecture": self.arch,
            "os": "linux",
            "config": Value::Object(cfg),
            "rootfs": {
                "type": "layers",
                "diff_ids": self.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
            },
        });
        serde_json::to_vec(&value).expect("JSON of plain values")
    }

    /// The config, manifest and layers with their digests.
    pub fn blobs(&self) -> Blobs {
        let config = self.config_json();
        let config_digest = digest(&config);
        let layers: Vec<(String, Vec<u8>)> = self
            .layers
            .iter()
            .map(|l| (l.digest(), l.targz.clone()))
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": config.len()},
            "layers": layers.iter().map(|(d, b)| json!({
                "mediaType": LAYER_TYPE, "digest": d, "size": b.len(),
            })).collect::<Vec<_>>(),
        });
        let manifest = serde_json::to_vec(&manifest).expect("JSON of plain values");
        Blobs {
            manifest_digest: digest(&manifest),
            manifest,
            config_digest,
            config,
            layers,
        }
    }

    /// Writes (or adds to) an OCI image layout at `dir` with this image
    /// tagged `tag`; returns the manifest digest.
    pub fn write_layout(&self, dir: &Path, tag: &str) -> Result<String> {
        let blobs_dir = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs_dir)
            .with_context(|| format!("create {}", blobs_dir.display()))?;
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let blobs = self.blobs();
        let mut all = vec![
            (blobs.manifest_digest.clone(), &blobs.manifest),
            (blobs.config_digest.clone(), &blobs.config),
        ];
        all.extend(blobs.layers.iter().map(|(d, b)| (d.clone(), b)));
        for (d, bytes) in all {
            let path = blobs_dir.join(hex_of(&d));
            std::fs::write(&path, bytes).with_context(|| format!("write {}", path.display()))?;
        }
        let index_path = dir.join("index.json");
        let mut manifests: Vec<Value> = match std::fs::read(&index_path) {
            Ok(bytes) => serde_json::from_slice::<Value>(&bytes)?["manifests"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        manifests.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != tag);
        manifests.push(json!({
            "mediaType": MANIFEST_TYPE,
            "digest": blobs.manifest_digest,
            "size": blobs.manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
        let index = json!({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": manifests});
        std::fs::write(&index_path, serde_json::to_vec(&index)?)
            .with_context(|| format!("write {}", index_path.display()))?;
        Ok(blobs.manifest_digest)
    }
}

/// An image index whose one entry is the manifest `(digest, size)` for
/// `arch` (e.g. only `s390x`: no entry for this machine).
pub fn index_json(entries: &[(&str, usize, &str)]) -> Vec<u8> {
    let value = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": entries.iter().map(|(d, size, arch)| json!({
            "mediaType": MANIFEST_TYPE,
            "digest": d,
            "size": size,
            "platform": {"architecture": arch, "os": "linux"},
        })).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&value).expect("JSON of plain values")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_has_consistent_digests_and_sizes() {
        let extra = Layer::from_entries(&[
            Entry::dir("srv", 0o755),
            Entry::file("srv/hello", 0o644, b"hi\n".to_vec()),
        ]);
        let image = Image {
            config: Config::shell().env("A=1").working_dir("/srv").user("2"),
            layers: vec![extra.clone()],
            arch: host_arch().into(),
        };
        let dir = tempfile::tempdir().unwrap();
        let manifest_digest = image.write_layout(dir.path(), "v1").unwrap();
        let blob =
            |d: &str| std::fs::read(dir.path().join("blobs/sha256").join(hex_of(d))).unwrap();
        let manifest: Value = serde_json::from_slice(&blob(&manifest_digest)).unwrap();
        assert_eq!(digest(&blob(&manifest_digest)), manifest_digest);
        let cfg_d = manifest["config"]["digest"].as_str().unwrap();
        let cfg = blob(cfg_d);
        assert_eq!(digest(&cfg), cfg_d);
        assert_eq!(manifest["config"]["size"], cfg.len());
        let cfg: Value = serde_json::from_slice(&cfg).unwrap();
        assert_eq!(cfg["config"]["WorkingDir"], "/srv");
        assert_eq!(cfg["rootfs"]["diff_ids"][0], extra.diff_id);
        let l = &manifest["layers"][0];
        let bytes = blob(l["digest"].as_str().unwrap());
        assert_eq!(l["size"], bytes.len());
        assert_ne!(extra.diff_id, extra.digest());
        // A second tag lands beside the first.
        image.write_layout(dir.path(), "v2").unwrap();
        let index: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    }
}
