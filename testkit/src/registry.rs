//! OCI registries on 127.0.0.1 for chapter 8's checks.
//!
//! - [`Registry::open`]: Debian's docker-registry (distribution 2.8) with
//!   filesystem storage in a temp dir, no auth. Images built with
//!   [`crate::oci`] are pushed with `skopeo copy oci:DIR:TAG docker://…`.
//! - [`Registry::token`]: the same registry with `auth: token`, and a token
//!   endpoint on loopback ([`TokenServer`]) that hands out real RS256 JWTs
//!   (signed with the `openssl` CLI, the self-signed certificate in the
//!   header's `x5c` and in the registry's `rootcertbundle`) granting pull and
//!   push on whatever scope is asked. skopeo pushes through the same flow.
//! - [`FakeRegistry`]: faults a real registry never makes, served by
//!   [`crate::server`]: a layer whose bytes do not match its digest, a blob
//!   cut short, an index with no entry for this machine.
//!
//! The registry binary is not installed (Debian's package would start a
//! system service): [`registry_binary`] runs `apt-get download
//! docker-registry` and `dpkg-deb -x` once into `<work_dir>/docker-registry`
//! (see [`crate::rootfs::work_dir`]), cached across test processes. It needs
//! apt's package lists (`apt-get update`, which `.ci/run` does).
//!
//! Dropping a [`Registry`] kills its process, stops its token endpoint and
//! removes its storage, so a failing check leaves nothing running; and the
//! registry dies with the thread that started it (`PR_SET_PDEATHSIG`), so a
//! killed test process leaves none either. Start and drop it in one thread.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::oci::{self, Image};
use crate::server::{Reply, Server};

/// The `service` the token registry names and the tokens are issued for.
pub const SERVICE: &str = "workshop-registry";
/// The tokens' issuer.
pub const ISSUER: &str = "workshop-token-issuer";

/// `<work_dir>/docker-registry/usr/bin/docker-registry`, unpacked from
/// Debian's docker-registry package on first use.
pub fn registry_binary() -> Result<PathBuf> {
    let dir = crate::rootfs::cached("docker-registry", |tmp| {
        std::fs::create_dir_all(tmp)?;
        let dl = Command::new("apt-get")
            .args(["download", "-qq", "docker-registry"])
            .current_dir(tmp)
            .output()
            .context("run apt-get download docker-registry")?;
        if !dl.status.success() {
            bail!(
                "apt-get download docker-registry failed ({}): {} (run apt-get update first)",
                dl.status,
                String::from_utf8_lossy(&dl.stderr).trim()
            );
        }
        let deb = std::fs::read_dir(tmp)?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .context("apt-get download left no .deb")?;
        let x = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(tmp)
            .status()
            .context("run dpkg-deb -x")?;
        if !x.success() {
            bail!("dpkg-deb -x {} failed ({x})", deb.display());
        }
        std::fs::remove_file(&deb)?;
        Ok(())
    })?;
    let bin = dir.join("usr/bin/docker-registry");
    if !bin.exists() {
        bail!("{} is missing from the unpacked package", bin.display());
    }
    Ok(bin)
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
}

/// Waits until the registry on `port` answers `/v2/` (200, or 401 with auth).
fn wait_ready(child: &mut Child, port: u16, dir: &Path) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited ({status}): {}", log_of(dir)));
        }
        if let Ok((code, _, _)) = http_get(addr, "/v2/", None) {
            if code == 200 || code == 401 {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "not answering on /v2/ within 10 s: {}",
        log_of(dir)
    ))
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A running docker-registry; dropping it kills it and removes its storage.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    token: Option<TokenServer>,
}

impl Registry {
    /// A registry without auth.
    pub fn open() -> Result<Registry> {
        Registry::start(false)
    }

    /// A registry that demands a bearer token from its own [`TokenServer`].
    pub fn token() -> Result<Registry> {
        Registry::start(true)
    }

    fn start(with_token: bool) -> Result<Registry> {
        let bin = registry_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("testkit-registry-")
            .tempdir()?;
        std::fs::create_dir(dir.path().join("storage"))?;
        let token = if with_token {
            Some(TokenServer::start(dir.path())?)
        } else {
            None
        };
        let mut last_err = String::new();
        // The free port may be taken by someone else before the registry
        // binds it: try a few.
        for _ in 0..3 {
            let port = free_port()?;
            let mut config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("storage").display()
            );
            if let Some(t) = &token {
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: http://{}/token\n    service: {SERVICE}\n    \
                     issuer: {ISSUER}\n    rootcertbundle: {}\n",
                    t.addr,
                    t.cert.display()
                ));
            }
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config)?;
            let log = std::fs::File::create(dir.path().join("registry.log"))?;
            let mut cmd = Command::new(&bin);
            cmd.arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log);
            // If the test process is killed (a grader's timeout) Drop never
            // runs: the kernel kills the registry when the thread that
            // started it ends. So a Registry lives and dies in one thread.
            // SAFETY: prctl is async-signal-safe and touches no memory of
            // the parent; nothing else runs between fork and exec.
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let child = cmd
                .spawn()
                .with_context(|| format!("start {}", bin.display()))?;
            let mut child = child;
            match wait_ready(&mut child, port, dir.path()) {
                Ok(()) => {
                    return Ok(Registry {
                        child,
                        port,
                        dir,
                        token,
                    });
                }
                Err(e) => {
                    last_err = e;
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        bail!("docker-registry did not start: {last_err}")
    }

    /// The registry's log so far (for messages).
    pub fn log(&self) -> String {
        log_of(self.dir.path())
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `127.0.0.1:PORT/NAME:TAG`, the reference a runtime is given.
    pub fn reference(&self, name: &str, tag: &str) -> String {
        format!("{}/{name}:{tag}", self.host())
    }

    /// How many tokens the token endpoint issued (0 for an open registry).
    pub fn tokens_issued(&self) -> usize {
        self.token
            .as_ref()
            .map_or(0, |t| t.issued.load(Ordering::SeqCst))
    }

    /// Pushes `image` as `NAME:TAG` with skopeo; returns the manifest digest.
    pub fn push(&self, image: &Image, name: &str, tag: &str) -> Result<String> {
        let layout = tempfile::Builder::new()
            .prefix("testkit-layout-")
            .tempdir()?;
        let digest = image.write_layout(layout.path(), tag)?;
        let out = Command::new("skopeo")
            .args([
                "--insecure-policy",
                "copy",
                "--quiet",
                "--preserve-digests",
                "--dest-tls-verify=false",
            ])
            .arg(format!("oci:{}:{tag}", layout.path().display()))
            .arg(format!("docker://{}", self.reference(name, tag)))
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .output()
            .context("run skopeo (apt-get install skopeo)")?;
        if !out.status.success() {
            bail!(
                "skopeo copy to {} failed ({}): {}; registry log: {}",
                self.reference(name, tag),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                self.log()
            );
        }
        Ok(digest)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The TempDir and the TokenServer clean up after themselves.
    }
}

/// `GET path` on `addr` with an optional bearer token: (status, head, body).
pub fn http_get(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {}, {}\r\n{auth}Connection: close\r\n\r\n",
        oci::MANIFEST_TYPE,
        oci::INDEX_TYPE
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP head"))?;
    let head = String::from_utf8_lossy(&raw[..at]).into_owned();
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, head, raw[at + 4..].to_vec()))
}

/// Base64 of `bytes`, standard (`url == false`, padded) or URL-safe unpadded.
pub fn base64(bytes: &[u8], url: bool) -> String {
    let table: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        if !url {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                if let Some(b) = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A loopback token endpoint (`GET /token?service=…&scope=…`) that signs a
/// JWT granting pull and push on every repository scope asked for.
#[derive(Debug)]
pub struct TokenServer {
    addr: SocketAddr,
    cert: PathBuf,
    issued: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TokenServer {
    /// Makes a key and a self-signed certificate in `dir` and starts serving.
    pub fn start(dir: &Path) -> Result<TokenServer> {
        let key = dir.join("token-key.pem");
        let cert = dir.join("token-cert.pem");
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=workshop-token-issuer", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdin(Stdio::null())
            .output()
            .context("run openssl req (apt-get install openssl)")?;
        if !out.status.success() {
            bail!(
                "openssl req failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .context("run openssl x509")?;
        if !der.status.success() {
            bail!("openssl x509 -outform DER failed");
        }
        let x5c = base64(&der.stdout, false);
        let listener = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let issued = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let signer = Arc::new(Signer { key, x5c });
        let thread = std::thread::Builder::new()
            .name("testkit-token".into())
            .spawn({
                let (issued, stop) = (issued.clone(), stop.clone());
                move || token_loop(listener, signer, issued, stop)
            })?;
        Ok(TokenServer {
            addr,
            cert,
            issued,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Debug)]
struct Signer {
    key: PathBuf,
    x5c: String,
}

impl Signer {
    /// A JWT for `scopes` (`repository:NAME:ACTIONS`), signed RS256.
    fn token(&self, scopes: &[String]) -> Result<String> {
        static JTI: AtomicUsize = AtomicUsize::new(0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .filter_map(|s| {
                let (kind, rest) = s.split_once(':')?;
                let (name, _) = rest.rsplit_once(':')?;
                Some(serde_json::json!({
                    "type": kind, "name": name, "actions": ["pull", "push"],
                }))
            })
            .collect();
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]});
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": "workshop", "aud": SERVICE,
            "exp": now + 600, "nbf": now - 60, "iat": now - 60,
            "jti": format!("{}-{}", std::process::id(), JTI.fetch_add(1, Ordering::SeqCst)),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            base64(&serde_json::to_vec(&header)?, true),
            base64(&serde_json::to_vec(&claims)?, true)
        );
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("run openssl dgst")?;
        child
            .stdin
            .take()
            .context("openssl stdin")?
            .write_all(signing_input.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("openssl dgst -sign failed");
        }
        Ok(format!("{signing_input}.{}", base64(&out.stdout, true)))
    }
}

fn token_loop(
    listener: TcpListener,
    signer: Arc<Signer>,
    issued: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = serve_token(stream, &signer, &issued);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn serve_token(mut stream: TcpStream, signer: &Signer, issued: &AtomicUsize) -> Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let target = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut scopes = Vec::new();
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("scope=") {
            scopes.extend(percent_decode(v).split(' ').map(str::to_owned));
        }
    }
    let (status, body) = if path != "/token" {
        ("404 Not Found", b"{}".to_vec())
    } else {
        match signer.token(&scopes) {
            Ok(t) => {
                issued.fetch_add(1, Ordering::SeqCst);
                (
                    "200 OK",
                    serde_json::to_vec(&serde_json::json!({
                        "token": t, "access_token": t, "expires_in": 600,
                    }))?,
                )
            }
            Err(e) => ("500 Internal Server Error", format!("{e:#}").into_bytes()),
        }
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)?;
    Ok(())
}

/// What a [`FakeRegistry`] does wrong with the image it serves as `bad/app:1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The top layer's bytes are another layer's: they do not hash to
    /// the digest the manifest names.
    WrongDigest,
    /// The top layer's body stops at half its `Content-Length`.
    Truncated,
    /// The tag is an index whose only entry is for `s390x` (or `arm64`
    /// when this machine is s390x).
    NoPlatform,
}

/// A hand-written registry serving `good/app:1` correctly (the positive
/// control) and `bad/app:1` with a [`Fault`]; both images are the busybox
/// base and a top layer with a name unique to this fixture, so no store
/// already holds it. Dropping it stops it.
#[derive(Debug)]
pub struct FakeRegistry {
    server: Server,
}

impl FakeRegistry {
    pub fn start(fault: Fault) -> Result<FakeRegistry> {
        let unique = crate::rootfs::unique();
        let top = |which: &str| {
            oci::Layer::from_entries(&[
                oci::Entry::dir("srv", 0o755),
                oci::Entry::file(
                    &format!("srv/{which}"),
                    0o644,
                    format!("{which} {unique} {:?}\n", SystemTime::now()).into_bytes(),
                ),
            ])
        };
        let good = Image::on_busybox(oci::Config::shell(), vec![top("good")])?;
        let bad = Image::on_busybox(oci::Config::shell(), vec![top("bad")])?;
        let json = "application/json";
        let mut routes = vec![("/v2/".to_owned(), Reply::Typed(json.into(), b"{}".to_vec()))];
        let mut serve = |name: &str, image: &Image, fault: Option<Fault>| {
            let b = image.blobs();
            let base = format!("/v2/{name}");
            let manifest = Reply::Typed(oci::MANIFEST_TYPE.into(), b.manifest.clone());
            routes.push((
                format!("{base}/manifests/{}", b.manifest_digest),
                manifest.clone(),
            ));
            if fault == Some(Fault::NoPlatform) {
                let other = if oci::host_arch() == "s390x" {
                    "arm64"
                } else {
                    "s390x"
                };
                let index = oci::index_json(&[(&b.manifest_digest, b.manifest.len(), other)]);
                routes.push((
                    format!("{base}/manifests/1"),
                    Reply::Typed(oci::INDEX_TYPE.into(), index),
                ));
            } else {
                routes.push((format!("{base}/manifests/1"), manifest));
            }
            routes.push((
                format!("{base}/blobs/{}", b.config_digest),
                Reply::Body(b.config.clone()),
            ));
            let n = b.layers.len();
            for (i, (d, bytes)) in b.layers.iter().enumerate() {
                let reply = match fault {
                    Some(Fault::WrongDigest) if i == n - 1 => Reply::Body(b.layers[0].1.clone()),
                    Some(Fault::Truncated) if i == n - 1 => Reply::Truncated {
                        body: bytes.clone(),
                        send: bytes.len() / 2,
                    },
                    _ => Reply::Body(bytes.clone()),
                };
                routes.push((format!("{base}/blobs/{d}"), reply));
            }
        };
        serve("good/app", &good, None);
        serve("bad/app", &bad, Some(fault));
        Ok(FakeRegistry {
            server: Server::start(routes)?,
        })
    }

    /// `127.0.0.1:PORT/NAME:1`, NAME being `good/app` or `bad/app`.
    pub fn reference(&self, name: &str) -> String {
        format!("{}/{name}:1", self.server.addr())
    }

    /// How many requests asked for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.server.hits(path)
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64(b"", false), "");
        assert_eq!(base64(b"f", false), "Zg==");
        assert_eq!(base64(b"fo", false), "Zm8=");
        assert_eq!(base64(b"foo", false), "Zm9v");
        assert_eq!(base64(b"foob", true), "Zm9vYg");
        assert_eq!(base64(&[0xfb, 0xff], true), "-_8");
        assert_eq!(base64(&[0xfb, 0xff], false), "+/8=");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("repository%3Atest%2Fapp%3Apull%2Cpush"),
            "repository:test/app:pull,push"
        );
        assert_eq!(percent_decode("a+b%"), "a b%");
    }
}
