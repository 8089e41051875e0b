//! Image references: `alpine:3.23`, `user/repo`, `host:5000/name:tag`,
//! `name@sha256:...`, normalised the way Docker does.
//!
//! The first `/`-separated component names a registry only if it looks like
//! a host: it contains a `.` or a `:`, or it is `localhost`. Otherwise the
//! whole name is a repository on Docker Hub, and a one-component name there
//! lives under `library/` (`alpine` is `docker.io/library/alpine`). Without a
//! tag or digest the tag is `latest`.

use std::net::Ipv4Addr;

/// Docker Hub's name in references and in the store.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's registry API actually answers.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed, normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`, [`DOCKER_HUB`] for Docker Hub.
    pub registry: String,
    /// `library/alpine`, `test/app`.
    pub repository: String,
    /// The tag; `latest` when the reference names neither tag nor digest.
    pub tag: Option<String>,
    /// `sha256:<64 hex>`: when present, what is pulled (the tag is then
    /// only a label).
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `text`; the error says what is wrong and what a good one is.
    pub fn parse(text: &str) -> Result<Reference, String> {
        let bad = |why: &str| {
            format!(
                "--image {text}: {why}; write NAME[:TAG], HOST[:PORT]/NAME[:TAG] or NAME@sha256:<64 hex digits>"
            )
        };
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => {
                check_digest(digest).map_err(|why| bad(&why))?;
                (name, Some(digest.to_owned()))
            }
            None => (text, None),
        };
        // A tag is after the last `:` that comes after the last `/`
        // (`host:5000/app` has a port, not a tag).
        let slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[slash..].rfind(':') {
            Some(i) => (&name[..slash + i], Some(&name[slash + i + 1..])),
            None => (name, None),
        };
        if let Some(tag) = tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && !tag.starts_with(['.', '-'])
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if !ok {
                return Err(bad(&format!("`{tag}` is not a valid tag")));
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), rest.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        // The host becomes a directory name under refs/: only a host's
        // characters, and never `.` or `..`.
        let host_ok = registry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            && registry
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'[');
        if !host_ok {
            return Err(bad(&format!("`{registry}` is not a registry host")));
        }
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
            _ => registry,
        };
        for comp in repository.split('/') {
            let ok = !comp.is_empty()
                && comp
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
                && comp
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
            if !ok {
                return Err(bad(&format!(
                    "`{repository}` is not a valid repository name (lowercase letters, digits and . _ - between slashes)"
                )));
            }
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_owned()),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The host the API is asked at: Docker Hub's is not `docker.io`.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// `https://host` or, for a loopback registry only, `http://host`.
    pub fn base_url(&self) -> String {
        let scheme = if is_loopback(self.api_host()) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", self.api_host())
    }

    /// What the manifest is asked for by: the digest if there is one.
    pub fn manifest_key(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl std::fmt::Display for Reference {
    /// In full: `docker.io/library/alpine:3.23`, `host/app@sha256:...`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `sha256:` and 64 lowercase hex digits: the only digest we accept.
pub fn check_digest(digest: &str) -> Result<&str, String> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("`{digest}` is not a sha256 digest"))?;
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "`{digest}` is not a sha256 digest (64 lowercase hex digits)"
        ));
    }
    Ok(hex)
}

/// `host[:port]` is this machine: the only registries spoken to in plain
/// HTTP, as Docker does.
pub fn is_loopback(host_port: &str) -> bool {
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host == "::1"
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalise_as_docker_does() {
        let d = "sha256:".to_owned() + &"ab".repeat(32);
        // (reference, registry, repository, tag)
        type Case<'a> = (&'a str, &'a str, &'a str, &'a str);
        let cases: &[Case] = &[
            ("alpine", "docker.io", "library/alpine", "latest"),
            ("alpine:3.23", "docker.io", "library/alpine", "3.23"),
            ("user/repo", "docker.io", "user/repo", "latest"),
            ("docker.io/alpine:1", "docker.io", "library/alpine", "1"),
            ("index.docker.io/a/b", "docker.io", "a/b", "latest"),
            ("localhost/app", "localhost", "app", "latest"),
            ("localhost:5000/app:v1", "localhost:5000", "app", "v1"),
            (
                "127.0.0.1:5000/test/app:1",
                "127.0.0.1:5000",
                "test/app",
                "1",
            ),
            ("ghcr.io/o/p/q:x", "ghcr.io", "o/p/q", "x"),
            ("[::1]:5000/app", "[::1]:5000", "app", "latest"),
        ];
        for (text, registry, repository, tag) in cases {
            let r = Reference::parse(text).unwrap();
            assert_eq!(
                (
                    r.registry.as_str(),
                    r.repository.as_str(),
                    r.tag.as_deref(),
                    r.digest.as_deref()
                ),
                (*registry, *repository, Some(*tag), None),
                "{text}"
            );
        }
        let r = Reference::parse(&format!("alpine@{d}")).unwrap();
        assert_eq!(
            (r.tag.as_deref(), r.digest.as_deref()),
            (None, Some(d.as_str()))
        );
        assert_eq!(r.manifest_key(), d);
        let r = Reference::parse(&format!("alpine:3@{d}")).unwrap();
        assert_eq!(r.to_string(), format!("docker.io/library/alpine:3@{d}"));
        for bad in [
            "Alpine",
            "alpine:",
            "alpine:-x",
            "alpine@sha256:abc",
            "alpine@md5:00",
            "a//b",
            "host.io/",
            "",
            "../x:1",
            "./x",
            "a.b_c/x",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_loopback_is_plain_http() {
        for (host, loopback) in [
            ("localhost", true),
            ("localhost:5000", true),
            ("127.0.0.1:5000", true),
            ("127.9.9.9", true),
            ("[::1]:5000", true),
            ("10.0.0.1:5000", false),
            ("registry-1.docker.io", false),
            ("localhost.evil.com", false),
            ("127.0.0.1.evil.com", false),
        ] {
            assert_eq!(is_loopback(host), loopback, "{host}");
        }
        let r = Reference::parse("alpine").unwrap();
        assert_eq!(r.base_url(), "https://registry-1.docker.io");
        let r = Reference::parse("127.0.0.1:5000/a").unwrap();
        assert_eq!(r.base_url(), "http://127.0.0.1:5000");
    }
}
