//! The Alpine minirootfs the workshop pins, per architecture.
//!
//! Pinned by URL *and* SHA-512 in the source, so a learner gets the bytes the
//! book was written against, and a compromised mirror or a truncated download
//! is caught before anything is unpacked. To move to a new Alpine release,
//! change the version, the URLs and the checksums together (the checksums are
//! in the `.sha512` files beside each tarball on the Alpine mirror).

/// The Alpine release the workshop is written against.
pub const ALPINE_VERSION: &str = "3.23.4";

/// One pinned archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pinned {
    /// `x86_64`, `aarch64`: the names Rust's `std::env::consts::ARCH` and
    /// Alpine both use.
    pub arch: &'static str,
    pub url: &'static str,
    pub sha512: &'static str,
}

/// Every architecture the workshop has a pinned rootfs for.
pub const PINNED: &[Pinned] = &[
    Pinned {
        arch: "x86_64",
        url: "https://dl-cdn.alpinelinux.org/alpine/v3.23/releases/x86_64/alpine-minirootfs-3.23.4-x86_64.tar.gz",
        sha512: "b3ff0f964f014033bf23006d6fcb83d7c5d4842cac958c236f064a256658576b41f3a749d48f82791b5ce981c828302fbce01efc9cb7be97eebb53f6ad5cde64",
    },
    Pinned {
        arch: "aarch64",
        url: "https://dl-cdn.alpinelinux.org/alpine/v3.23/releases/aarch64/alpine-minirootfs-3.23.4-aarch64.tar.gz",
        sha512: "5221c92501ca368b5177fbe6a95096a2b7feeaa229b6a3f0ebcc338ea3f192c4ff8a3d8f195d3b8a18043cdaf7ec92bf77d8a50dadd9b924b83812015cd01c36",
    },
];

/// The pinned archive for `arch`, if there is one. Accepts the aliases
/// `amd64` and `arm64` that Debian and Docker use.
pub fn for_arch(arch: &str) -> Option<&'static Pinned> {
    let arch = match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        other => other,
    };
    PINNED.iter().find(|p| p.arch == arch)
}

/// `x86_64, aarch64`, for messages.
pub fn supported() -> String {
    PINNED.iter().map(|p| p.arch).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Checksum;

    #[test]
    fn every_pin_is_well_formed_and_names_its_release_and_arch() {
        for pin in PINNED {
            Checksum::sha512(pin.sha512).unwrap();
            assert!(pin.url.starts_with("https://"), "{}", pin.url);
            assert!(
                pin.url.ends_with(&format!(
                    "alpine-minirootfs-{ALPINE_VERSION}-{}.tar.gz",
                    pin.arch
                )),
                "{}",
                pin.url
            );
        }
    }

    #[test]
    fn aliases_and_unknown_architectures() {
        assert_eq!(for_arch("amd64").unwrap().arch, "x86_64");
        assert_eq!(for_arch("arm64").unwrap().arch, "aarch64");
        assert!(for_arch("riscv64").is_none());
        assert_eq!(supported(), "x86_64, aarch64");
    }
}
