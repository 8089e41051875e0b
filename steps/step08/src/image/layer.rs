//! One layer: download its blob, verify it, unpack it into a directory of
//! its own, OCI whiteouts turned into overlayfs ones.
//!
//! Two digests guard a layer. The manifest gives the digest (and size) of
//! the *compressed* blob: it is checked as the bytes arrive, and nothing is
//! unpacked from a blob that fails it. The config's `rootfs.diff_ids` give
//! the digest of the *uncompressed* tar: it is checked as the tar streams
//! into the unpacker, so what is unpacked is exactly what the image's
//! author built.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use super::manifest::{Compression, Descriptor};
use super::registry::Registry;
use super::store::hex_of;

/// The most one layer may unpack to (the tar stream, headers included).
pub const MAX_LAYER_BYTES: u64 = 64 << 30;

/// A reader that hashes and counts what passes through it.
pub struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    pub count: u64,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// `sha256:<hex>` of everything read so far.
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.clone().finalize()))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Downloads the blob of `layer` into `work`, checking its size and digest
/// as it streams; returns the verified file's path.
pub fn download(
    registry: &mut Registry,
    layer: &Descriptor,
    work: &Path,
    bar: &ProgressBar,
    shown: &str,
) -> anyhow::Result<PathBuf> {
    let digest = &layer.digest;
    let what = format!("the layer {digest}");
    let response = registry.blob(digest, &what)?;
    let path = work.join(format!("{}.blob", hex_of(digest)));
    let mut out =
        File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    // One byte more than promised is enough to know it is too long.
    let mut body = Hashing::new(response.take(layer.size + 1));
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => bail!(
                "--image {shown}: the download of {what} broke off after {} of {} bytes ({}); try again",
                body.count,
                layer.size,
                super::one_line(&e)
            ),
        };
        out.write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", path.display()))?;
        bar.inc(n as u64);
    }
    let got = body.digest();
    if body.count != layer.size {
        // A body that ends early on a clean close, or runs past the size:
        // either way these are not the bytes the manifest names.
        let came = if body.count > layer.size {
            format!("more than {} bytes", layer.size)
        } else {
            format!("{} bytes (hashing to {got})", body.count)
        };
        bail!(
            "--image {shown}: {what} came as {came}, its manifest says {} bytes; the download was cut short or the registry sent bad data, nothing was stored",
            layer.size
        );
    }
    if &got != digest {
        bail!(
            "--image {shown}: {what} does not match its digest (the bytes hash to {got}); the registry sent bad data, nothing was stored"
        );
    }
    Ok(path)
}

/// Unpacks the verified blob at `blob` into the new directory `dest`,
/// checking the uncompressed stream against `diff_id`.
pub fn unpack(
    blob: &Path,
    compression: Compression,
    diff_id: &str,
    dest: &Path,
    digest: &str,
    shown: &str,
    convert: crate::whiteout::Convert,
) -> anyhow::Result<()> {
    let file = BufReader::new(
        File::open(blob).with_context(|| format!("cannot open {}", blob.display()))?,
    );
    let tar: Box<dyn Read> =
        match compression {
            Compression::None => Box::new(file),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
            Compression::Zstd => Box::new(zstd(file).map_err(|e| {
                anyhow!("--image {shown}: the layer {digest} is not valid zstd ({e})")
            })?),
        };
    let mut tar = Hashing::new(tar);
    std::fs::create_dir(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    rootfs_fetcher::unpack::unpack_tar(
        &mut tar,
        dest,
        MAX_LAYER_BYTES,
        &mut |dir, name| convert(dir, name),
        &mut |_| {},
    )
    .map_err(|e| anyhow!("--image {shown}: layer {digest}: {}", super::one_line(&e)))?;
    // The tar's end-of-archive blocks and padding are part of the digest.
    io::copy(&mut tar, &mut io::sink()).map_err(|e| {
        anyhow!(
            "--image {shown}: layer {digest} is corrupt ({})",
            super::one_line(&e)
        )
    })?;
    let got = tar.digest();
    if got != diff_id {
        bail!(
            "--image {shown}: layer {digest} unpacks to {got}, but the image config's rootfs.diff_ids says {diff_id}; the image is inconsistent, nothing was stored"
        );
    }
    Ok(())
}

fn zstd(file: impl Read) -> Result<impl Read, String> {
    ruzstd::decoding::StreamingDecoder::new(file).map_err(|e| e.to_string())
}
