//! `cargo xtask book browser-check`: loads the built book in headless
//! Chromium over the DevTools protocol and checks what a reader would see.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::check::mdbook_build;

/// A page to load and what must hold on it.
struct PageCheck {
    /// Path below the built book, with an optional query.
    path: &'static str,
    /// How many SVG diagrams must have rendered, at least.
    diagrams: usize,
    /// A JavaScript expression that must be true once the page has loaded.
    holds: &'static str,
    /// Screenshot file under target/book-check/.
    screenshot: &'static str,
}

const PAGES: &[PageCheck] = &[
    PageCheck {
        path: "index.html",
        diagrams: 1,
        holds: "document.querySelectorAll('#sidebar a, .sidebar a, mdbook-sidebar-scrollbox a').length > 10",
        screenshot: "introduction.png",
    },
    PageCheck {
        path: "how-steps-work.html",
        diagrams: 1,
        holds: "document.body.innerText.includes('close_range')",
        screenshot: "how-steps-work.png",
    },
    PageCheck {
        path: "ch03-mount.html",
        diagrams: 1,
        holds: "document.querySelectorAll('pre code').length > 5 && document.body.innerText.includes('pivot_root')",
        screenshot: "ch03-mount.png",
    },
    PageCheck {
        path: "ch04-net.html",
        diagrams: 1,
        holds: "document.body.innerText.includes('RTM_NEWLINK')",
        screenshot: "ch04-net.png",
    },
    PageCheck {
        path: "ch05-cgroups.html",
        diagrams: 1,
        holds: "document.body.innerText.includes('memory.max')",
        screenshot: "ch05-cgroups.png",
    },
    PageCheck {
        path: "reference.html",
        diagrams: 0,
        holds: "document.querySelectorAll('table tr').length > 40",
        screenshot: "reference.png",
    },
    PageCheck {
        path: "index.html?search=pivot_root",
        diagrams: 0,
        holds: "document.querySelectorAll('#mdbook-searchresults li').length > 0",
        screenshot: "search.png",
    },
];

/// Builds the book, serves it on loopback and loads [`PAGES`] in headless
/// Chromium over the DevTools protocol (`--remote-debugging-pipe`).
pub fn browser_check() -> Result<()> {
    browser_check_at(&crate::workspace_root())
}

/// [`browser_check`] for the workspace at `root`; the screenshots still go
/// to this workspace's target/book-check/.
pub fn browser_check_at(root: &Path) -> Result<()> {
    mdbook_build(&root.join("book"))?;
    let site = root.join("book/book");
    let artefacts = crate::workspace_root().join("target/book-check");
    fs::create_dir_all(&artefacts)?;
    let server = serve(site)?;
    let mut browser = Browser::launch(&artefacts)?;
    let mut failures = Vec::new();
    for page in PAGES {
        let url = format!("http://{server}/{}", page.path);
        let shot = artefacts.join(page.screenshot);
        let mut checked = browser.check_page(&url, page, &shot);
        // Chromium aborts every request with ERR_NETWORK_CHANGED when an
        // interface comes or goes on the host (a container's veth, say):
        // that says nothing of the book, so such a page is loaded once more.
        if checked
            .as_ref()
            .is_err_and(|e| format!("{e:#}").contains("ERR_NETWORK_CHANGED"))
        {
            eprintln!(
                "  … {}: the host's network changed during the load; loading it again",
                page.path
            );
            checked = browser.check_page(&url, page, &shot);
        }
        match checked {
            Ok(summary) => eprintln!("  ✔ {}: {summary}", page.path),
            Err(err) => {
                eprintln!("  ✘ {}: {err:#}", page.path);
                failures.push(page.path);
            }
        }
    }
    browser.close();
    eprintln!("browser check: screenshots in {}", artefacts.display());
    if !failures.is_empty() {
        bail!(
            "browser check: {} page(s) failed: {}",
            failures.len(),
            failures.join(", ")
        );
    }
    Ok(())
}

/// A tiny static file server on 127.0.0.1 for the built book; returns its address.
fn serve(site: PathBuf) -> Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let site = site.clone();
            std::thread::spawn(move || {
                let _ = answer(stream, &site);
            });
        }
    });
    Ok(addr)
}

fn answer(mut stream: TcpStream, site: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let rel = Path::new(path.trim_start_matches('/'));
    let safe = rel.components().all(|c| matches!(c, Component::Normal(_)));
    let mut file = site.join(rel);
    if file.is_dir() {
        file = file.join("index.html");
    }
    let (status, body, kind) = match fs::read(&file) {
        Ok(body) if safe => ("200 OK", body, content_type(&file)),
        _ => ("404 Not Found", b"not found".to_vec(), "text/plain"),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css",
        "js" => "text/javascript",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// Headless Chromium driven over `--remote-debugging-pipe`: commands go in
/// on its fd 3, answers and events come out of its fd 4, each a JSON
/// message ended by a NUL byte.
struct Browser {
    child: Child,
    to_browser: fs::File,
    from_browser: mpsc::Receiver<Value>,
    next_id: u64,
    /// Events that arrived while waiting for an answer.
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch(artefacts: &Path) -> Result<Browser> {
        let chromium = ["chromium", "chromium-browser", "google-chrome"]
            .into_iter()
            .find(|name| {
                Command::new(name)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .context("no chromium on $PATH: apt-get install chromium")?;
        let profile = tempfile::Builder::new()
            .prefix("book-check-profile-")
            .tempdir()?;
        // Pipes well above 4, so that dup2 onto 3 and 4 always copies.
        let (cmd_read, cmd_write) = high_pipe()?;
        let (ev_read, ev_write) = high_pipe()?;
        let (cmd_fd, ev_fd) = (cmd_read.as_raw_fd(), ev_write.as_raw_fd());
        let log = fs::File::create(artefacts.join("chromium.log"))?;
        let mut command = Command::new(chromium);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-pipe",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // SAFETY: dup2 is async-signal-safe and touches only the child's fd
        // table; the source descriptors are open (we hold them) and not 3 or 4.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(cmd_fd, 3) < 0 || libc::dup2(ev_fd, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().context("start chromium")?;
        drop(cmd_read);
        drop(ev_write);
        let (tx, rx) = mpsc::channel();
        let mut reader = BufReader::new(fs::File::from(ev_read));
        std::thread::spawn(move || {
            loop {
                let mut message = Vec::new();
                match reader.read_until(0, &mut message) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        message.pop();
                        if let Ok(v) = serde_json::from_slice::<Value>(&message) {
                            if tx.send(v).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        });
        Ok(Browser {
            child,
            to_browser: fs::File::from(cmd_write),
            from_browser: rx,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        })
    }

    /// Sends a command (to a page's session if given) and waits for its answer.
    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message)?;
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .context("write to chromium")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from_browser
                .recv_timeout(left)
                .with_context(|| format!("no answer from chromium to {method}"))?;
            if v["id"].as_u64() == Some(id) {
                if let Some(err) = v.get("error") {
                    bail!("{method}: {err}");
                }
                return Ok(v["result"].clone());
            }
            self.events.push(v);
        }
    }

    /// Waits until an event `method` of `session` arrives.
    fn wait_event(&mut self, session: &str, method: &str, limit: Duration) -> Result<()> {
        let seen = |v: &Value| v["method"] == method && v["sessionId"] == session;
        if self.events.iter().any(seen) {
            return Ok(());
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from_browser
                .recv_timeout(left)
                .with_context(|| format!("no {method} within {} s", limit.as_secs()))?;
            let found = seen(&v);
            self.events.push(v);
            if found {
                return Ok(());
            }
        }
    }

    /// Collects whatever arrives during `d`.
    fn settle(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while let Ok(v) = self
            .from_browser
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.events.push(v);
        }
    }

    fn eval(&mut self, session: &str, expression: &str) -> Result<Value> {
        let r = self.send(
            Some(session),
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        )?;
        if let Some(ex) = r.get("exceptionDetails") {
            bail!("evaluating `{expression}`: {ex}");
        }
        Ok(r["result"]["value"].clone())
    }

    fn check_page(&mut self, url: &str, page: &PageCheck, screenshot: &Path) -> Result<String> {
        let target = self.send(None, "Target.createTarget", json!({"url": "about:blank"}))?;
        let target_id = target["targetId"]
            .as_str()
            .context("no targetId")?
            .to_owned();
        let attached = self.send(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        )?;
        let session = attached["sessionId"]
            .as_str()
            .context("no sessionId")?
            .to_owned();
        let s = Some(session.as_str());
        self.events.clear();
        for domain in [
            "Page.enable",
            "Runtime.enable",
            "Log.enable",
            "Network.enable",
        ] {
            self.send(s, domain, json!({}))?;
        }
        self.send(
            s,
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        )?;
        self.send(s, "Page.navigate", json!({"url": url}))?;
        self.wait_event(&session, "Page.loadEventFired", Duration::from_secs(30))?;
        // Search runs after load; diagrams decode asynchronously.
        self.settle(Duration::from_millis(1500));

        let mut problems = Vec::new();
        for v in self
            .events
            .iter()
            .filter(|v| v["sessionId"] == session.as_str())
        {
            let p = &v["params"];
            match v["method"].as_str().unwrap_or("") {
                "Runtime.exceptionThrown" => problems.push(format!(
                    "uncaught exception: {}",
                    p["exceptionDetails"]["exception"]["description"]
                        .as_str()
                        .or(p["exceptionDetails"]["text"].as_str())
                        .unwrap_or("?")
                )),
                "Runtime.consoleAPICalled"
                    if matches!(p["type"].as_str(), Some("error" | "assert")) =>
                {
                    problems.push(format!("console.{}: {}", p["type"], p["args"]))
                }
                "Log.entryAdded" if p["entry"]["level"] == "error" => problems.push(format!(
                    "console error: {} {}",
                    p["entry"]["text"].as_str().unwrap_or(""),
                    p["entry"]["url"].as_str().unwrap_or("")
                )),
                "Network.loadingFailed" => problems.push(format!(
                    "request failed: {} ({})",
                    p["requestId"],
                    p["errorText"].as_str().unwrap_or("")
                )),
                "Network.responseReceived"
                    if p["response"]["status"].as_u64().unwrap_or(200) >= 400 =>
                {
                    problems.push(format!(
                        "{} {}",
                        p["response"]["status"],
                        p["response"]["url"].as_str().unwrap_or("")
                    ))
                }
                _ => {}
            }
        }
        let images = self.eval(
            &session,
            "Array.from(document.images).filter(i => i.src.endsWith('.svg')).map(i => \
             ({src: i.src, ok: i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0}))",
        )?;
        let images = images.as_array().cloned().unwrap_or_default();
        for bad in images.iter().filter(|i| i["ok"] != true) {
            problems.push(format!("diagram did not render: {}", bad["src"]));
        }
        if images.len() < page.diagrams {
            problems.push(format!(
                "{} SVG diagram(s) on the page, expected at least {}",
                images.len(),
                page.diagrams
            ));
        }
        if self.eval(&session, page.holds)? != true {
            problems.push(format!("does not hold: {}", page.holds));
        }
        let shot = self.send(s, "Page.captureScreenshot", json!({"format": "png"}))?;
        let png = base64_decode(shot["data"].as_str().context("no screenshot data")?)?;
        fs::write(screenshot, png)?;
        let _ = self.send(None, "Target.closeTarget", json!({"targetId": target_id}));
        if !problems.is_empty() {
            bail!("{}", problems.join("; "));
        }
        Ok(format!(
            "loaded, no console errors, {} diagram(s) rendered, screenshot {}",
            images.len(),
            screenshot.file_name().unwrap_or_default().to_string_lossy()
        ))
    }

    fn close(mut self) {
        let _ = self.send(None, "Browser.close", json!({}));
        if testkit::run::wait_limited(&mut self.child, Duration::from_secs(10)).is_err() {
            let _ = self.child.kill();
        }
    }
}

/// A close-on-exec pipe whose two ends are numbered 10 or higher.
fn high_pipe() -> Result<(OwnedFd, OwnedFd)> {
    use nix::fcntl::{FcntlArg, fcntl};
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let high = |fd: OwnedFd| -> Result<OwnedFd> {
        let n = fcntl(&fd, FcntlArg::F_DUPFD_CLOEXEC(10))?;
        // SAFETY: fcntl just returned this new descriptor; we own it alone.
        Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(n) })
    };
    Ok((high(r)?, high(w)?))
}

/// Standard base64 (the screenshot DevTools sends).
fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("not base64: {c:?}"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        assert_eq!(base64_decode("aGVsbG8gd29ybGQ=").unwrap(), b"hello world");
        assert_eq!(base64_decode("AAEC/w==").unwrap(), vec![0, 1, 2, 255]);
    }
}
