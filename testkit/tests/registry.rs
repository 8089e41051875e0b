//! Self-tests of the registry fixtures: the real registry starts, skopeo
//! pushes an image built by `testkit::oci`, the registry serves back the
//! manifest digest; the token registry refuses a request without a token and
//! serves it with one from its endpoint; the fake registry's faults are what
//! they say. Needs root (the busybox rootfs), skopeo, openssl and apt lists.

use testkit::oci::{self, Config, Image, Layer};
use testkit::registry::{FakeRegistry, Fault, Registry, http_get};

fn image() -> Image {
    Image::on_busybox(
        Config::shell().env("A=1"),
        vec![Layer::from_entries(&[
            oci::Entry::dir("srv", 0o755),
            oci::Entry::file("srv/x", 0o644, b"x\n".to_vec()),
        ])],
    )
    .unwrap()
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn open_registry_serves_what_skopeo_pushed() {
    let reg = Registry::open().unwrap();
    let img = image();
    let digest = reg.push(&img, "test/app", "1").unwrap();
    let (code, head, body) = http_get(reg.addr(), "/v2/test/app/manifests/1", None).unwrap();
    assert_eq!(code, 200, "{head}");
    assert_eq!(
        header(&head, "Docker-Content-Digest"),
        Some(digest.as_str())
    );
    assert_eq!(oci::digest(&body), digest);
    let b = img.blobs();
    let (code, _, layer) = http_get(
        reg.addr(),
        &format!("/v2/test/app/blobs/{}", b.layers[1].0),
        None,
    )
    .unwrap();
    assert_eq!(code, 200);
    assert_eq!(oci::digest(&layer), b.layers[1].0);
    let (code, _, _) = http_get(reg.addr(), "/v2/test/app/manifests/2", None).unwrap();
    assert_eq!(code, 404);
}

#[test]
fn token_registry_demands_a_token_and_accepts_ours() {
    let reg = Registry::token().unwrap();
    // skopeo pushes through the token flow.
    let digest = reg.push(&image(), "test/app", "1").unwrap();
    assert!(reg.tokens_issued() > 0);
    let path = "/v2/test/app/manifests/1";
    let (code, head, _) = http_get(reg.addr(), path, None).unwrap();
    assert_eq!(code, 401, "{head}");
    let challenge = header(&head, "WWW-Authenticate").unwrap();
    assert!(challenge.starts_with("Bearer realm="), "{challenge}");
    assert!(
        challenge.contains("scope=\"repository:test/app:pull\""),
        "{challenge}"
    );
    // Fetch a token the way a client does.
    let realm = challenge
        .split("realm=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let token_addr = realm
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .unwrap()
        .parse()
        .unwrap();
    let (code, _, body) = http_get(
        token_addr,
        "/token?service=workshop-registry&scope=repository%3Atest%2Fapp%3Apull",
        None,
    )
    .unwrap();
    assert_eq!(code, 200);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let token = json["token"].as_str().unwrap();
    let (code, head, body) = http_get(reg.addr(), path, Some(token)).unwrap();
    assert_eq!(code, 200, "{head} {}", reg.log());
    assert_eq!(oci::digest(&body), digest);
    // A forged token is refused. The signature's last base64 character
    // carries only two bits of a 256-byte RSA signature and a lenient decoder
    // drops the rest, so changing it may forge nothing: change one in the
    // middle of the signature, where all six bits count.
    let sig_at = token.rfind('.').unwrap() + 1;
    let mid = sig_at + (token.len() - sig_at) / 2;
    let swap = if &token[mid..=mid] == "A" { "B" } else { "A" };
    let forged = format!("{}{swap}{}", &token[..mid], &token[mid + 1..]);
    assert_ne!(forged, token);
    let (code, _, _) = http_get(reg.addr(), path, Some(&forged)).unwrap();
    assert_eq!(code, 401);
}

#[test]
fn fake_registry_faults_are_what_they_say() {
    for fault in [Fault::WrongDigest, Fault::Truncated, Fault::NoPlatform] {
        let fake = FakeRegistry::start(fault).unwrap();
        for name in ["good/app", "bad/app"] {
            let (code, head, body) =
                http_get(fake.addr(), &format!("/v2/{name}/manifests/1"), None).unwrap();
            assert_eq!(code, 200);
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            if name == "bad/app" && fault == Fault::NoPlatform {
                assert!(head.contains(oci::INDEX_TYPE), "{head}");
                let arch = json["manifests"][0]["platform"]["architecture"].as_str();
                assert_ne!(arch, Some(oci::host_arch()));
                continue;
            }
            assert!(head.contains(oci::MANIFEST_TYPE), "{head}");
            let top = json["layers"][1]["digest"].as_str().unwrap();
            let size = json["layers"][1]["size"].as_u64().unwrap() as usize;
            let (code, _, blob) =
                http_get(fake.addr(), &format!("/v2/{name}/blobs/{top}"), None).unwrap();
            assert_eq!(code, 200);
            match (name, fault) {
                ("bad/app", Fault::WrongDigest) => assert_ne!(oci::digest(&blob), top),
                ("bad/app", Fault::Truncated) => assert_eq!(blob.len(), size / 2),
                _ => assert_eq!(oci::digest(&blob), top),
            }
        }
    }
}
