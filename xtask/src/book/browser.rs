//! `cargo xtask book browser-check`: loads the built book in headless
//! Chromium and checks what a reader would see.
//!
//! The book is served on loopback by `tiny_http`; Chromium is driven over
//! the DevTools protocol by `headless_chrome` (a blocking client: this
//! command is a sequence of page loads, so an async runtime would buy
//! nothing). Before the book, a page broken on purpose is loaded: the check
//! must see each of its faults, or it could not be trusted to see the
//! book's.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::{Emulation, Network, Page, Runtime};
use headless_chrome::{LaunchOptions, Tab};
use serde_json::Value;

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

/// Where the server answers with [`BROKEN_PAGE`] (outside the book: mdbook
/// writes no dot-directory).
const BROKEN_PATH: &str = ".browser-check/broken.html";

/// The positive control: a page with one fault of each kind the check
/// looks for.
const BROKEN_PAGE: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
    <title>broken on purpose</title></head><body>\n\
    <p>Broken on purpose: the browser check must see every fault here.</p>\n\
    <img src=\"missing-diagram.svg\" alt=\"a diagram that is not there\">\n\
    <script>console.error('console.error on purpose');\
    throw new Error('thrown on purpose');</script>\n</body></html>\n";

/// The control's expectations, and what each one has to find in the
/// problems reported for [`BROKEN_PAGE`].
const BROKEN: PageCheck = PageCheck {
    path: BROKEN_PATH,
    diagrams: 2,
    holds: "document.title === 'not this page'",
    screenshot: "control-broken.png",
};
const BROKEN_FAULTS: [(&str, &str); 6] = [
    (
        "an uncaught exception",
        "uncaught exception: Error: thrown on purpose",
    ),
    ("a console.error call", "console.error on purpose"),
    ("a 404 response", "404 http://"),
    ("a diagram that did not render", "diagram did not render"),
    ("too few diagrams", "expected at least 2"),
    (
        "an expectation that does not hold",
        "does not hold: document.title",
    ),
];

/// Builds the book, serves it on loopback and loads [`PAGES`] in headless
/// Chromium over the DevTools protocol.
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
    let browser = Browser::launch(&artefacts)?;

    let url = format!("http://{server}/{BROKEN_PATH}");
    match browser.load(&url, &BROKEN, &artefacts.join(BROKEN.screenshot)) {
        Ok(summary) => bail!(
            "browser check: the page broken on purpose passed ({summary}): \
             the check cannot see a broken page"
        ),
        Err(err) => {
            let seen = format!("{err:#}");
            let missed: Vec<&str> = BROKEN_FAULTS
                .iter()
                .filter(|(_, says)| !seen.contains(says))
                .map(|(fault, _)| *fault)
                .collect();
            if !missed.is_empty() {
                bail!(
                    "browser check: on the page broken on purpose it missed {}; it saw: {seen}",
                    missed.join(", ")
                );
            }
            eprintln!(
                "  ✔ the page broken on purpose fails with each of its {} faults",
                BROKEN_FAULTS.len()
            );
        }
    }

    let mut failures = Vec::new();
    for page in PAGES {
        let url = format!("http://{server}/{}", page.path);
        match browser.load(&url, page, &artefacts.join(page.screenshot)) {
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

/// A static file server on 127.0.0.1 for the built book (and the page
/// broken on purpose); returns its address. It serves until the process
/// ends.
fn serve(site: PathBuf) -> Result<std::net::SocketAddr> {
    let server = tiny_http::Server::http("127.0.0.1:0")
        .map_err(|e| anyhow!("serve the book on 127.0.0.1: {e}"))?;
    let addr = server
        .server_addr()
        .to_ip()
        .context("the book's server has no IP address")?;
    let server = Arc::new(server);
    // A few workers: a page asks for its scripts, styles and images at once.
    for _ in 0..4 {
        let (server, site) = (server.clone(), site.clone());
        std::thread::spawn(move || {
            for request in server.incoming_requests() {
                let response = answer(&site, request.url());
                let _ = request.respond(response);
            }
        });
    }
    Ok(addr)
}

/// The response to a request for `url` (a path with an optional query).
fn answer(site: &Path, url: &str) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let path = url.split(['?', '#']).next().unwrap_or("/");
    let rel = path.trim_start_matches('/');
    let (status, body, kind) = if rel == BROKEN_PATH {
        (
            200,
            BROKEN_PAGE.as_bytes().to_vec(),
            content_type(Path::new(rel)),
        )
    } else {
        let rel = Path::new(rel);
        let safe = rel.components().all(|c| matches!(c, Component::Normal(_)));
        let mut file = site.join(rel);
        if file.is_dir() {
            file = file.join("index.html");
        }
        match fs::read(&file) {
            Ok(body) if safe => (200, body, content_type(&file)),
            _ => (404, b"not found".to_vec(), "text/plain"),
        }
    };
    let header = tiny_http::Header::from_bytes("Content-Type", kind)
        .expect("a content type is a valid header");
    tiny_http::Response::from_data(body)
        .with_status_code(status)
        .with_header(header)
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

/// Headless Chromium, one tab per page.
struct Browser {
    browser: headless_chrome::Browser,
    _profile: tempfile::TempDir,
}

/// What a page reported while it loaded: the DevTools events the check
/// reads, as (method, params).
type Seen = Arc<Mutex<Vec<(&'static str, Value)>>>;

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
        // headless_chrome reads Chromium's stderr for the DevTools address;
        // Chromium's own log goes to a file instead.
        let log = format!("--log-file={}", artefacts.join("chromium.log").display());
        let args: Vec<&std::ffi::OsStr> =
            ["--disable-quic", "--disable-component-update", log.as_str()]
                .into_iter()
                .map(std::ffi::OsStr::new)
                .collect();
        let options = LaunchOptions {
            headless: true,
            sandbox: false,
            enable_gpu: false,
            enable_logging: true,
            ignore_certificate_errors: false,
            window_size: Some((1280, 900)),
            path: Some(PathBuf::from(chromium)),
            user_data_dir: Some(profile.path().to_path_buf()),
            args,
            // The client gives up on a browser silent for this long.
            idle_browser_timeout: Duration::from_secs(60),
            ..LaunchOptions::default()
        };
        let browser = headless_chrome::Browser::new(options)
            .map_err(|e| anyhow!("start {chromium}: {e:#}"))?;
        Ok(Browser {
            browser,
            _profile: profile,
        })
    }

    /// [`Browser::check_page`], once more if the host's network changed
    /// during the load, or if no load event came.
    fn load(&self, url: &str, page: &PageCheck, shot: &Path) -> Result<String> {
        let checked = self.check_page(url, page, shot);
        // Chromium aborts every request with ERR_NETWORK_CHANGED when an
        // interface comes or goes on the host (a container's veth, say):
        // that says nothing of the book, so such a page is loaded once more.
        // So is a page whose load event never reached us (seen once in a
        // fresh CI run, for a page that loaded at once every other time):
        // a page that really does not load fails the second time too.
        let again = checked.as_ref().err().and_then(|e| {
            let text = format!("{e:#}");
            if text.contains("ERR_NETWORK_CHANGED") {
                Some("the host's network changed during the load")
            } else if text.contains("no Page.loadEventFired") {
                Some("no load event came")
            } else {
                None
            }
        });
        if let Some(why) = again {
            eprintln!("  … {}: {why}; loading it again", page.path);
            return self.check_page(url, page, shot);
        }
        checked
    }

    fn check_page(&self, url: &str, page: &PageCheck, screenshot: &Path) -> Result<String> {
        let tab = self
            .browser
            .new_tab()
            .map_err(|e| anyhow!("open a tab: {e:#}"))?;
        let checked = self.check_in(&tab, url, page, screenshot);
        let _ = tab.close_target();
        checked
    }

    fn check_in(
        &self,
        tab: &Tab,
        url: &str,
        page: &PageCheck,
        screenshot: &Path,
    ) -> Result<String> {
        let seen: Seen = Arc::default();
        let (loaded_tx, loaded) = mpsc::channel();
        let loaded_tx = Mutex::new(loaded_tx);
        let events = seen.clone();
        tab.add_event_listener(Arc::new(move |event: &Event| {
            let (method, params) = match event {
                Event::PageLoadEventFired(_) => {
                    let _ = loaded_tx.lock().map(|tx| tx.send(()));
                    return;
                }
                Event::RuntimeExceptionThrown(e) => {
                    ("Runtime.exceptionThrown", serde_json::to_value(&e.params))
                }
                Event::RuntimeConsoleAPICalled(e) => {
                    ("Runtime.consoleAPICalled", serde_json::to_value(&e.params))
                }
                Event::LogEntryAdded(e) => ("Log.entryAdded", serde_json::to_value(&e.params)),
                Event::NetworkLoadingFailed(e) => {
                    ("Network.loadingFailed", serde_json::to_value(&e.params))
                }
                Event::NetworkResponseReceived(e) => {
                    ("Network.responseReceived", serde_json::to_value(&e.params))
                }
                _ => return,
            };
            if let (Ok(params), Ok(mut seen)) = (params, events.lock()) {
                seen.push((method, params));
            }
        }))
        .map_err(|e| anyhow!("listen to the tab: {e:#}"))?;
        let devtools = |e: anyhow::Error| anyhow!("{e:#}");
        tab.enable_runtime().map_err(devtools)?;
        tab.enable_log().map_err(devtools)?;
        tab.call_method(Network::Enable {
            max_total_buffer_size: None,
            max_resource_buffer_size: None,
            max_post_data_size: None,
            report_direct_socket_traffic: None,
            enable_durable_messages: None,
        })
        .map_err(devtools)?;
        tab.call_method(Emulation::SetDeviceMetricsOverride {
            width: 1280,
            height: 900,
            device_scale_factor: 1.0,
            mobile: false,
            scale: None,
            screen_width: None,
            screen_height: None,
            position_x: None,
            position_y: None,
            dont_set_visible_size: None,
            screen_orientation: None,
            viewport: None,
            display_feature: None,
            device_posture: None,
        })
        .map_err(devtools)?;
        tab.navigate_to(url)
            .map_err(|e| anyhow!("Page.navigate {url}: {e:#}"))?;
        loaded
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| anyhow!("no Page.loadEventFired within 30 s"))?;
        // Search runs after load; diagrams decode asynchronously.
        std::thread::sleep(Duration::from_millis(1500));

        let mut problems: Vec<String> = {
            let seen = seen
                .lock()
                .map_err(|_| anyhow!("an event listener panicked"))?;
            seen.iter()
                .filter_map(|(method, params)| problem(method, params))
                .collect()
        };
        let images = eval(
            tab,
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
        if eval(tab, page.holds)? != true {
            problems.push(format!("does not hold: {}", page.holds));
        }
        let png = tab
            .capture_screenshot(Page::CaptureScreenshotFormatOption::Png, None, None, true)
            .map_err(|e| anyhow!("Page.captureScreenshot: {e:#}"))?;
        fs::write(screenshot, png)?;
        if !problems.is_empty() {
            bail!("{}", problems.join("; "));
        }
        Ok(format!(
            "loaded, no console errors, {} diagram(s) rendered, screenshot {}",
            images.len(),
            screenshot.file_name().unwrap_or_default().to_string_lossy()
        ))
    }

    /// Closes Chromium (dropping the client ends its process).
    fn close(self) {
        drop(self.browser);
    }
}

/// What a DevTools event says is wrong with the page, if anything.
fn problem(method: &str, p: &Value) -> Option<String> {
    match method {
        "Runtime.exceptionThrown" => Some(format!(
            "uncaught exception: {}",
            p["exceptionDetails"]["exception"]["description"]
                .as_str()
                .or(p["exceptionDetails"]["text"].as_str())
                .unwrap_or("?")
        )),
        "Runtime.consoleAPICalled" if matches!(p["type"].as_str(), Some("error" | "assert")) => {
            Some(format!("console.{}: {}", p["type"], p["args"]))
        }
        "Log.entryAdded" if p["entry"]["level"] == "error" => Some(format!(
            "console error: {} {}",
            p["entry"]["text"].as_str().unwrap_or(""),
            p["entry"]["url"].as_str().unwrap_or("")
        )),
        "Network.loadingFailed" => Some(format!(
            "request failed: {} ({})",
            p["requestId"],
            p["errorText"].as_str().unwrap_or("")
        )),
        "Network.responseReceived" if p["response"]["status"].as_u64().unwrap_or(200) >= 400 => {
            Some(format!(
                "{} {}",
                p["response"]["status"],
                p["response"]["url"].as_str().unwrap_or("")
            ))
        }
        _ => None,
    }
}

/// Evaluates `expression` in the page and returns its value.
fn eval(tab: &Tab, expression: &str) -> Result<Value> {
    let r = tab
        .call_method(Runtime::Evaluate {
            expression: expression.to_owned(),
            return_by_value: Some(true),
            await_promise: Some(true),
            object_group: None,
            include_command_line_api: None,
            silent: None,
            context_id: None,
            generate_preview: None,
            user_gesture: None,
            throw_on_side_effect: None,
            timeout: None,
            disable_breaks: None,
            repl_mode: None,
            allow_unsafe_eval_blocked_by_csp: None,
            unique_context_id: None,
            serialization_options: None,
        })
        .map_err(|e| anyhow!("Runtime.evaluate: {e:#}"))?;
    if let Some(ex) = r.exception_details {
        bail!(
            "evaluating `{expression}`: {}",
            serde_json::to_value(&ex).unwrap_or_default()
        );
    }
    Ok(r.result.value.unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_serves_files_and_refuses_the_rest() {
        let site = tempfile::tempdir().unwrap();
        fs::create_dir(site.path().join("sub")).unwrap();
        fs::write(site.path().join("sub/index.html"), "<p>hi</p>").unwrap();
        fs::write(site.path().join("a.svg"), "<svg/>").unwrap();
        let body = |r: tiny_http::Response<std::io::Cursor<Vec<u8>>>| {
            let code = r.status_code().0;
            let mut text = String::new();
            std::io::Read::read_to_string(&mut r.into_reader(), &mut text).unwrap();
            (code, text)
        };
        assert_eq!(
            body(answer(site.path(), "/sub/")),
            (200, "<p>hi</p>".into())
        );
        assert_eq!(
            body(answer(site.path(), "/a.svg?x=1")),
            (200, "<svg/>".into())
        );
        assert_eq!(body(answer(site.path(), "/nope.html")).0, 404);
        assert_eq!(body(answer(site.path(), "/../a.svg")).0, 404);
        assert_eq!(body(answer(site.path(), "/sub/../a.svg")).0, 404);
        assert_eq!(
            body(answer(site.path(), &format!("/{BROKEN_PATH}"))),
            (200, BROKEN_PAGE.into())
        );
        let r = answer(site.path(), "/a.svg");
        assert!(
            r.headers()
                .iter()
                .any(|h| h.field.equiv("Content-Type") && h.value == "image/svg+xml")
        );
    }

    #[test]
    fn events_that_say_the_page_is_broken_are_problems() {
        let json = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        let found = |m: &str, p: &str| problem(m, &json(p));
        assert_eq!(
            found(
                "Runtime.exceptionThrown",
                r#"{"exceptionDetails": {"text": "Uncaught", "exception": {"description": "Error: x"}}}"#
            )
            .as_deref(),
            Some("uncaught exception: Error: x")
        );
        assert!(
            found(
                "Runtime.consoleAPICalled",
                r#"{"type": "error", "args": []}"#
            )
            .is_some_and(|p| p.starts_with("console.\"error\""))
        );
        assert_eq!(
            found("Runtime.consoleAPICalled", r#"{"type": "log", "args": []}"#),
            None
        );
        assert_eq!(
            found(
                "Log.entryAdded",
                r#"{"entry": {"level": "error", "text": "boom", "url": "u"}}"#
            )
            .as_deref(),
            Some("console error: boom u")
        );
        assert_eq!(
            found(
                "Log.entryAdded",
                r#"{"entry": {"level": "warning", "text": "w"}}"#
            ),
            None
        );
        assert_eq!(
            found(
                "Network.loadingFailed",
                r#"{"requestId": "7", "errorText": "net::ERR_NETWORK_CHANGED"}"#
            )
            .as_deref(),
            Some("request failed: \"7\" (net::ERR_NETWORK_CHANGED)")
        );
        assert_eq!(
            found(
                "Network.responseReceived",
                r#"{"response": {"status": 404, "url": "http://h/x.svg"}}"#
            )
            .as_deref(),
            Some("404 http://h/x.svg")
        );
        assert_eq!(
            found(
                "Network.responseReceived",
                r#"{"response": {"status": 200, "url": "http://h/"}}"#
            ),
            None
        );
    }
}
