//! A tiny HTTP/1.1 server on 127.0.0.1 for the fetcher's black-box tests.
//!
//! No machine that tests this project can reach Alpine's servers, so the
//! tests serve the busybox rootfs (and hostile archives) themselves and drive
//! the fetcher's real download path against them. The server can also
//! misbehave on purpose: a 404, a body cut short of its `Content-Length`, and
//! a stall that sends a few bytes and then nothing until the client gives up.
//!
//! It is deliberately small and bounded: std::net only, one thread per
//! connection, one request per connection (`Connection: close`), at most
//! [`MAX_REQUESTS`] requests and [`LIFETIME`] of life, and dropping the
//! [`Server`] stops and joins every thread it started, so a test that fails
//! half-way leaves nothing running.
//!
//! It stays written on `std::net` rather than on an HTTP server crate
//! because misbehaving is its job: `tiny_http` (which serves the book in
//! `cargo xtask book browser-check`) keeps HTTP/1.1 connections open,
//! drops a `Connection` header from a response and keeps the socket to
//! itself, so it can neither close a connection after a body cut short of
//! its `Content-Length` ([`Reply::Truncated`]) nor notice that a stalled
//! client hung up ([`Reply::Stall`]).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

/// The server stops accepting after this many requests.
pub const MAX_REQUESTS: usize = 64;
/// The server stops (and a stalled reply gives up) after this long.
pub const LIFETIME: Duration = Duration::from_secs(60);

/// What the server answers on one path.
#[derive(Clone, Debug)]
pub enum Reply {
    /// `200 OK` with this body.
    Body(Vec<u8>),
    /// `200 OK` with this `Content-Type` and body (a registry's manifests
    /// and indexes, which a client tells apart by their type).
    Typed(String, Vec<u8>),
    /// `404 Not Found`.
    NotFound,
    /// `200 OK` with the `Content-Length` of the whole `body`, but only its
    /// first `send` bytes, then the connection is closed.
    Truncated { body: Vec<u8>, send: usize },
    /// `200 OK` with the `Content-Length` of the whole `body`, its first
    /// `after` bytes, then nothing until the client closes the connection
    /// (or the server is dropped, or its [`LIFETIME`] is over).
    Stall { body: Vec<u8>, after: usize },
}

/// A running loopback server; dropping it stops it and joins its threads.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds 127.0.0.1 on a free port and serves `routes` (path -> reply);
    /// any other path gets a 404.
    pub fn start(routes: Vec<(String, Reply)>) -> anyhow::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
        // Non-blocking accept, so the loop can notice `stop` and the deadline.
        listener
            .set_nonblocking(true)
            .context("set the listener non-blocking")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let routes: Arc<HashMap<String, Reply>> = Arc::new(routes.into_iter().collect());
        let thread = std::thread::Builder::new()
            .name("testkit-server".into())
            .spawn({
                let stop = stop.clone();
                let hits = hits.clone();
                move || accept_loop(listener, routes, stop, hits)
            })
            .context("spawn the server thread")?;
        Ok(Server {
            addr,
            stop,
            hits,
            thread: Some(thread),
        })
    }

    /// The URL of `path` on this server (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many requests asked for `path` so far.
    pub fn hits(&self, path: &str) -> usize {
        let hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        hits.get(path).copied().unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    routes: Arc<HashMap<String, Reply>>,
    stop: Arc<AtomicBool>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
) {
    let deadline = Instant::now() + LIFETIME;
    let mut handlers: Vec<JoinHandle<()>> = Vec::new();
    let mut served = 0;
    while served < MAX_REQUESTS && !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                served += 1;
                let (routes, stop, hits) = (routes.clone(), stop.clone(), hits.clone());
                let spawned = std::thread::Builder::new()
                    .name("testkit-conn".into())
                    .spawn(move || {
                        let _ = handle(stream, &routes, &stop, &hits, deadline);
                    });
                if let Ok(handler) = spawned {
                    handlers.push(handler);
                }
                handlers.retain(|h| !h.is_finished());
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    // Refuse new connections from here on; finish the ones in flight.
    drop(listener);
    for handler in handlers {
        let _ = handler.join();
    }
}

fn handle(
    mut stream: TcpStream,
    routes: &HashMap<String, Reply>,
    stop: &AtomicBool,
    hits: &Mutex<HashMap<String, usize>>,
    deadline: Instant,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let path = match read_request_path(&mut stream)? {
        Some(path) => path,
        None => return Ok(()),
    };
    *hits
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(path.clone())
        .or_default() += 1;

    match routes.get(&path).unwrap_or(&Reply::NotFound) {
        Reply::Body(body) => {
            stream.write_all(&ok_head(body.len()))?;
            stream.write_all(body)?;
        }
        Reply::Typed(content_type, body) => {
            // What a registry adds to a manifest: its digest and the API version.
            use sha2::Digest;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: {content_type}\r\n\
                 Docker-Content-Digest: sha256:{}\r\n\
                 Docker-Distribution-API-Version: registry/2.0\r\nConnection: close\r\n\r\n",
                body.len(),
                hex::encode(sha2::Sha256::digest(body))
            );
            stream.write_all(head.as_bytes())?;
            stream.write_all(body)?;
        }
        Reply::NotFound => {
            let body = b"not found\n";
            let head = format!(
                "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes())?;
            stream.write_all(body)?;
        }
        Reply::Truncated { body, send } => {
            stream.write_all(&ok_head(body.len()))?;
            stream.write_all(&body[..(*send).min(body.len())])?;
        }
        Reply::Stall { body, after } => {
            stream.write_all(&ok_head(body.len()))?;
            stream.write_all(&body[..(*after).min(body.len())])?;
            stream.flush()?;
            // Say nothing more; wait for the client to hang up.
            stream.set_read_timeout(Some(Duration::from_millis(50)))?;
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => break,
                }
            }
        }
    }
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Both);
    Ok(())
}

fn ok_head(len: usize) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nContent-Type: application/gzip\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// Reads the request head and returns the path of its request line, or
/// `None` if the client hung up first.
fn read_request_path(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Ok(None);
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let request_line = head.lines().next().unwrap_or_default();
    // "GET /path HTTP/1.1"
    Ok(request_line.split_whitespace().nth(1).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(server: &Server, path: &str) -> (TcpStream, Vec<u8>) {
        let mut s = TcpStream::connect(server.addr()).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        (s, Vec::new())
    }

    fn split(raw: &[u8]) -> (String, Vec<u8>) {
        let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (
            String::from_utf8_lossy(&raw[..at]).into_owned(),
            raw[at + 4..].to_vec(),
        )
    }

    #[test]
    fn serves_bodies_404s_and_truncations() {
        let server = Server::start(vec![
            ("/a".into(), Reply::Body(b"hello".to_vec())),
            (
                "/t".into(),
                Reply::Truncated {
                    body: vec![7; 100],
                    send: 10,
                },
            ),
        ])
        .unwrap();

        let (mut s, mut raw) = get(&server, "/a");
        s.read_to_end(&mut raw).unwrap();
        let (head, body) = split(&raw);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("Content-Length: 5"), "{head}");
        assert_eq!(body, b"hello");

        let (mut s, mut raw) = get(&server, "/nope");
        s.read_to_end(&mut raw).unwrap();
        assert!(split(&raw).0.starts_with("HTTP/1.1 404"));

        let (mut s, mut raw) = get(&server, "/t");
        s.read_to_end(&mut raw).unwrap();
        let (head, body) = split(&raw);
        assert!(head.contains("Content-Length: 100"), "{head}");
        assert_eq!(body.len(), 10);

        assert_eq!(server.hits("/a"), 1);
        assert_eq!(server.hits("/nope"), 1);
        assert_eq!(server.hits("/never"), 0);
    }

    #[test]
    fn stalls_until_the_client_gives_up_and_drop_does_not_hang() {
        let server = Server::start(vec![(
            "/s".into(),
            Reply::Stall {
                body: vec![1; 1000],
                after: 100,
            },
        )])
        .unwrap();
        let (mut s, mut raw) = get(&server, "/s");
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => panic!("the server closed a stalled connection"),
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) => panic!("{e}"),
            }
        }
        let (head, body) = split(&raw);
        assert!(head.contains("Content-Length: 1000"), "{head}");
        assert_eq!(body.len(), 100);

        // The client is still connected: dropping must still return promptly.
        let started = Instant::now();
        drop(server);
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(s);
    }
}
