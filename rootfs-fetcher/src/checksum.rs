//! The expected checksum of an archive, and the hasher that checks it while
//! the bytes stream past (so a download is hashed without reading it twice).

use std::fmt;

use sha2::Digest;

/// An expected digest, lowercase hex. Displayed (and stored in the marker
/// file) as `sha512:<hex>` or `sha256:<hex>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checksum {
    Sha512(String),
    Sha256(String),
}

impl Checksum {
    /// Parses the hex of a SHA-512 (128 hex digits, any case).
    pub fn sha512(hex: &str) -> Result<Checksum, String> {
        parse_hex(hex, 128, "--sha512").map(Checksum::Sha512)
    }

    /// Parses the hex of a SHA-256 (64 hex digits, any case).
    pub fn sha256(hex: &str) -> Result<Checksum, String> {
        parse_hex(hex, 64, "--sha256").map(Checksum::Sha256)
    }

    /// Parses the `sha512:<hex>` / `sha256:<hex>` form that `Display` writes.
    pub fn from_tagged(s: &str) -> Result<Checksum, String> {
        match s.trim().split_once(':') {
            Some(("sha512", hex)) => Checksum::sha512(hex),
            Some(("sha256", hex)) => Checksum::sha256(hex),
            _ => Err(format!("`{s}` is not `sha512:HEX` or `sha256:HEX`")),
        }
    }

    /// `"sha512"` or `"sha256"`.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Checksum::Sha512(_) => "sha512",
            Checksum::Sha256(_) => "sha256",
        }
    }

    /// The lowercase hex digest.
    pub fn hex(&self) -> &str {
        match self {
            Checksum::Sha512(hex) | Checksum::Sha256(hex) => hex,
        }
    }

    /// A hasher of the same algorithm.
    pub fn hasher(&self) -> Hasher {
        match self {
            Checksum::Sha512(_) => Hasher::Sha512(sha2::Sha512::new()),
            Checksum::Sha256(_) => Hasher::Sha256(sha2::Sha256::new()),
        }
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm(), self.hex())
    }
}

fn parse_hex(hex: &str, digits: usize, flag: &str) -> Result<String, String> {
    let hex = hex.trim();
    if hex.len() != digits {
        return Err(format!(
            "{flag} wants {digits} hex digits, got {} (`{}`)",
            hex.len(),
            abbrev(hex)
        ));
    }
    if let Some(bad) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("{flag}: `{bad}` is not a hex digit"));
    }
    Ok(hex.to_ascii_lowercase())
}

/// The first 16 hex digits and an ellipsis, for messages (an `algo:`
/// prefix is kept in front of them).
pub fn abbrev(hex: &str) -> String {
    let (tag, digits) = match hex.split_once(':') {
        Some((tag, digits)) => (&hex[..tag.len() + 1], digits),
        None => ("", hex),
    };
    if digits.len() > 16 && digits.is_ascii() {
        format!("{tag}{}...", &digits[..16])
    } else {
        hex.to_owned()
    }
}

/// A running SHA-512 or SHA-256.
#[derive(Clone)]
pub enum Hasher {
    Sha512(sha2::Sha512),
    Sha256(sha2::Sha256),
}

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha512(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
        }
    }

    /// The digest so far, lowercase hex.
    pub fn finish(self) -> String {
        match self {
            Hasher::Sha512(h) => hex::encode(h.finalize()),
            Hasher::Sha256(h) => hex::encode(h.finalize()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const ABC_SHA512: &str = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

    #[test]
    fn hashes_match_the_fips_vectors() {
        for (sum, want) in [
            (Checksum::sha256(ABC_SHA256).unwrap(), ABC_SHA256),
            (Checksum::sha512(ABC_SHA512).unwrap(), ABC_SHA512),
        ] {
            let mut h = sum.hasher();
            // In pieces, as a stream arrives.
            h.update(b"a");
            h.update(b"bc");
            assert_eq!(h.finish(), want);
        }
    }

    #[test]
    fn parsing_normalises_case_and_rejects_bad_hex() {
        let upper = ABC_SHA256.to_ascii_uppercase();
        assert_eq!(Checksum::sha256(&upper).unwrap().hex(), ABC_SHA256);
        assert!(
            Checksum::sha256(&ABC_SHA256[1..])
                .unwrap_err()
                .contains("64 hex digits")
        );
        assert!(
            Checksum::sha512(ABC_SHA256)
                .unwrap_err()
                .contains("128 hex digits")
        );
        let bad = format!("g{}", &ABC_SHA256[1..]);
        assert!(Checksum::sha256(&bad).unwrap_err().contains("`g`"));
    }

    #[test]
    fn abbreviations_keep_the_tag() {
        assert_eq!(abbrev(ABC_SHA256), "ba7816bf8f01cfea...");
        assert_eq!(
            abbrev(&format!("sha256:{ABC_SHA256}")),
            "sha256:ba7816bf8f01cfea..."
        );
        assert_eq!(abbrev("short"), "short");
    }

    #[test]
    fn tagged_form_round_trips() {
        for sum in [
            Checksum::sha256(ABC_SHA256).unwrap(),
            Checksum::sha512(ABC_SHA512).unwrap(),
        ] {
            assert_eq!(Checksum::from_tagged(&sum.to_string()).unwrap(), sum);
        }
        assert!(Checksum::from_tagged("md5:abc").is_err());
        assert!(Checksum::from_tagged(ABC_SHA256).is_err());
    }
}
