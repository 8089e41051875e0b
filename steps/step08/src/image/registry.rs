//! Talking to an OCI distribution registry: `GET /v2/<name>/manifests/<ref>`
//! and `GET /v2/<name>/blobs/<digest>`, with the anonymous token dance.
//!
//! A registry that wants a token answers `401` with a challenge:
//!
//! ```text
//! WWW-Authenticate: Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"
//! ```
//!
//! We ask `realm?service=..&scope=..` (anonymously) for a token, and send it
//! as `Authorization: Bearer <token>` from then on; one token serves the
//! whole pull. With `-x`, every request is narrated with its status.

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use reqwest::blocking::{Client, Response};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url};

use super::reference::{Reference, is_loopback};
use workshop::explain;

/// How long a connection, or a response that stops sending, may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A registry session for one repository: the client and the token.
pub struct Registry {
    client: Client,
    base: String,
    repository: String,
    /// The reference as the user wrote it, for messages.
    shown: String,
    token: Option<String>,
}

/// A fetched manifest: its bytes, the registry's `Content-Type` and
/// `Docker-Content-Digest` headers.
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    pub digest_header: Option<String>,
}

/// The most a manifest, index or config may be: they are small JSON.
pub const MAX_JSON: u64 = 16 << 20;

impl Registry {
    pub fn new(reference: &Reference, shown: &str) -> anyhow::Result<Registry> {
        // Redirects (Docker Hub sends blobs to a CDN) may never downgrade to
        // plain HTTP unless they stay on this machine. reqwest drops the
        // Authorization header when a redirect changes host.
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let url = attempt.url();
            let host = url.host_str().unwrap_or("").to_owned();
            if url.scheme() != "https" && !is_loopback(&host) {
                let e = format!("refusing a redirect to plain HTTP ({url})");
                attempt.error(e)
            } else if attempt.previous().len() > 10 {
                attempt.error("too many redirects")
            } else {
                explain::say(format_args!("  redirected to {url}"));
                attempt.follow()
            }
        });
        let mut builder = Client::builder();
        if is_loopback(reference.api_host()) {
            // A registry on this machine is never reached through an
            // HTTP(S)_PROXY of the environment, which could not reach it.
            builder = builder.no_proxy();
        }
        let client = builder
            .connect_timeout(TIMEOUT)
            .timeout(TIMEOUT)
            .redirect(policy)
            .user_agent(concat!("contain-rs-workshop/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Registry {
            client,
            base: reference.base_url(),
            repository: reference.repository.clone(),
            shown: shown.to_owned(),
            token: None,
        })
    }

    /// The manifest (or index) `key` (a tag or a digest) names.
    pub fn manifest(&mut self, key: &str) -> anyhow::Result<Fetched> {
        let what = if key.starts_with("sha256:") {
            format!("manifest {key}")
        } else {
            format!("tag `{key}`")
        };
        let response = self.get(
            &format!("manifests/{key}"),
            &what,
            Some(super::manifest::ACCEPT),
        )?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(CONTENT_TYPE.as_str());
        let digest_header = header("docker-content-digest");
        let mut bytes = Vec::new();
        response
            .take(MAX_JSON + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("--image {}: reading {what} failed", self.shown))?;
        if bytes.len() as u64 > MAX_JSON {
            bail!(
                "--image {}: {what} is larger than {MAX_JSON} bytes; not a manifest",
                self.shown
            );
        }
        Ok(Fetched {
            bytes,
            content_type,
            digest_header,
        })
    }

    /// The blob `digest`, as a response to read (and verify) as it streams.
    pub fn blob(&mut self, digest: &str, what: &str) -> anyhow::Result<Response> {
        self.get(&format!("blobs/{digest}"), what, None)
    }

    /// GET `/v2/<repository>/<path>`, fetching a token on the first 401.
    fn get(&mut self, path: &str, what: &str, accept: Option<&str>) -> anyhow::Result<Response> {
        let url = format!("{}/v2/{}/{path}", self.base, self.repository);
        let mut tried_token = false;
        loop {
            let mut request = self.client.get(&url);
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            if let Some(token) = &self.token {
                request = request.header(AUTHORIZATION, format!("Bearer {token}"));
            }
            let response = request.send().map_err(|e| self.unreachable(&url, &e))?;
            let status = response.status();
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if explain::enabled() {
                match &challenge {
                    Some(c) if status == StatusCode::UNAUTHORIZED => {
                        explain::say(format_args!("GET {url} → {} ({c})", status.as_u16()))
                    }
                    _ => explain::say(format_args!("GET {url} → {}", status.as_u16())),
                }
            }
            if status.is_success() {
                return Ok(response);
            }
            if status == StatusCode::UNAUTHORIZED && !tried_token {
                if let Some(challenge) = challenge.as_deref() {
                    tried_token = true;
                    self.token = Some(self.fetch_token(challenge)?);
                    continue;
                }
            }
            return Err(self.refused(what, response));
        }
    }

    /// Asks the challenge's realm for an anonymous pull token.
    fn fetch_token(&self, challenge: &str) -> anyhow::Result<String> {
        let shown = &self.shown;
        let (scheme, params) = parse_challenge(challenge);
        if !scheme.eq_ignore_ascii_case("bearer") {
            bail!(
                "--image {shown}: the registry wants `{scheme}` authentication; only anonymous pulls (Bearer tokens) are supported"
            );
        }
        let param = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let realm = param("realm").ok_or_else(|| {
            anyhow!("--image {shown}: the registry's token challenge names no realm ({challenge})")
        })?;
        let mut url = Url::parse(realm).map_err(|e| {
            anyhow!("--image {shown}: the token realm `{realm}` is not a URL ({e})")
        })?;
        let host = url.host_str().unwrap_or("").to_owned();
        if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback(&host)) {
            bail!(
                "--image {shown}: refusing to fetch a token over plain HTTP from {realm}; only registries on this machine may use HTTP"
            );
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = param("service") {
                query.append_pair("service", service);
            }
            let scope = param("scope")
                .map(str::to_owned)
                .unwrap_or_else(|| format!("repository:{}:pull", self.repository));
            query.append_pair("scope", &scope);
        }
        let response = self
            .client
            .get(url.clone())
            .send()
            .map_err(|e| self.unreachable(url.as_str(), &e))?;
        let status = response.status();
        explain::say(format_args!("GET {url} → {}", status.as_u16()));
        if !status.is_success() {
            bail!(
                "--image {shown}: the token service at {realm} answered {status}; is the registry's auth set up for anonymous pulls?"
            );
        }
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let mut body = Vec::new();
        response
            .take(MAX_JSON)
            .read_to_end(&mut body)
            .with_context(|| format!("--image {shown}: reading the token from {realm} failed"))?;
        let token: Token = serde_json::from_slice(&body).map_err(|e| {
            anyhow!("--image {shown}: the token service at {realm} sent no JSON token ({e})")
        })?;
        token
            .token
            .or(token.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| anyhow!("--image {shown}: the token service at {realm} sent no token"))
    }

    /// A request that never got an answer, in one line that names the URL.
    fn unreachable(&self, url: &str, e: &reqwest::Error) -> anyhow::Error {
        explain::say(format_args!("GET {url} → no answer"));
        let shown = &self.shown;
        let mut source: Option<&dyn std::error::Error> = Some(e);
        let mut innermost = e.to_string();
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::ConnectionRefused {
                    return anyhow!(
                        "--image {shown}: cannot reach the registry at {url}: connection refused; is the registry running, and is the host:port right?"
                    );
                }
            }
            innermost = s.to_string();
            source = s.source();
        }
        if e.is_timeout() {
            return anyhow!(
                "--image {shown}: the registry at {url} did not answer within {}s; check the network",
                TIMEOUT.as_secs()
            );
        }
        anyhow!(
            "--image {shown}: cannot reach the registry at {url}: {}; check the host name and the network",
            innermost.replace('\n', " ")
        )
    }

    /// An error answer, with the registry's own error code when it sent one.
    fn refused(&self, what: &str, response: Response) -> anyhow::Error {
        let shown = &self.shown;
        let status = response.status();
        #[derive(serde::Deserialize)]
        struct Errors {
            errors: Vec<Error>,
        }
        #[derive(serde::Deserialize)]
        struct Error {
            code: String,
            #[serde(default)]
            message: String,
        }
        let mut body = Vec::new();
        let _ = response.take(64 << 10).read_to_end(&mut body);
        let first = serde_json::from_slice::<Errors>(&body)
            .ok()
            .and_then(|e| e.errors.into_iter().next());
        let code = first.as_ref().map(|e| e.code.as_str()).unwrap_or("");
        let repo = &self.repository;
        match (status, code) {
            (_, "NAME_UNKNOWN") => anyhow!(
                "--image {shown}: the registry has no repository `{repo}` (NAME_UNKNOWN); check the image name"
            ),
            (_, "MANIFEST_UNKNOWN") => anyhow!(
                "--image {shown}: the registry has no {what} in `{repo}` (MANIFEST_UNKNOWN); check the tag, or the repository name"
            ),
            (_, "BLOB_UNKNOWN") => anyhow!(
                "--image {shown}: the registry does not have {what} (BLOB_UNKNOWN); the image was pushed incompletely"
            ),
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => anyhow!(
                "--image {shown}: the registry refused an anonymous pull of `{repo}` ({status}{}); the repository does not exist or is private",
                if code.is_empty() {
                    String::new()
                } else {
                    format!(", {code}")
                }
            ),
            (StatusCode::NOT_FOUND, _) => anyhow!(
                "--image {shown}: the registry answered 404 Not Found for {what} in `{repo}`; check the image name and tag"
            ),
            _ => {
                let detail = match &first {
                    Some(e) => format!(" ({}: {})", e.code, e.message),
                    None => String::new(),
                };
                anyhow!(
                    "--image {shown}: the registry answered {status} for {what}{}; try again later",
                    detail.replace('\n', " ")
                )
            }
        }
    }
}

/// Splits `Bearer realm="..",service=".."` into the scheme and its
/// parameters. Values may be quoted (with `\` escapes, and commas inside).
pub fn parse_challenge(header: &str) -> (String, Vec<(String, String)>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
            value = value.trim().to_owned();
        }
        params.push((key, value));
    }
    (scheme.to_owned(), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_parsed() {
        let (scheme, params) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#,
        );
        assert_eq!(scheme, "Bearer");
        let want = [
            ("realm", "https://auth.docker.io/token"),
            ("service", "registry.docker.io"),
            ("scope", "repository:library/alpine:pull,push"),
        ];
        let got: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, want);

        let (scheme, params) =
            parse_challenge(r#"Bearer realm=http://127.0.0.1:5001/token, service="a \"b\"""#);
        assert_eq!(scheme, "Bearer");
        assert_eq!(
            params[0],
            ("realm".into(), "http://127.0.0.1:5001/token".into())
        );
        assert_eq!(params[1], ("service".into(), "a \"b\"".into()));

        let (scheme, params) = parse_challenge(r#"Basic realm="Registry""#);
        assert_eq!((scheme.as_str(), params.len()), ("Basic", 1));
    }
}
