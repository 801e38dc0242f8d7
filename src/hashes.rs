//! The hashes under which license keys and machine fingerprints are stored and put in tokens.
//! They are public on purpose: an app computes the same values to check a token's `lic` and `fp`
//! claims against its own license key and fingerprint, offline.
//!
//! `lic` = lowercase hex SHA-256 of `gumgate:license:` + the license key with ASCII blanks and
//! NUL trimmed and ASCII letters upper-cased (`gumroad_wire::licenses::normalize_license_key`;
//! Gumroad matches keys case-insensitively); `fp` = lowercase hex SHA-256 of
//! `gumgate:fingerprint:` + the fingerprint exactly as the app sent it.

use gumroad_wire::licenses::normalize_license_key;
use sha2::{Digest, Sha256};

/// The stored and token form of a license key.
pub fn license_hash(license_key: &str) -> String {
    hex(Sha256::digest(
        format!("gumgate:license:{}", normalize_license_key(license_key)).as_bytes(),
    ))
}

/// The stored and token form of a machine fingerprint.
pub fn fingerprint_hash(fingerprint: &str) -> String {
    hex(Sha256::digest(
        format!("gumgate:fingerprint:{fingerprint}").as_bytes(),
    ))
}

fn hex(bytes: impl AsRef<[u8]>) -> String {
    // One allocation; this runs for every public call that may go upstream.
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn license_hashes_ignore_case_and_blanks_fingerprints_do_not() {
        assert_eq!(license_hash(" abcd-ef "), license_hash("ABCD-EF"));
        assert_ne!(fingerprint_hash("Machine"), fingerprint_hash("machine"));
        // Fixed values, so apps in any language can check their implementation against them.
        assert_eq!(
            license_hash("5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0").len(),
            64
        );
        assert_eq!(
            fingerprint_hash("abc"),
            "f29653553092b979e7ca247f1b6f58abeed9dfaa491e529684ea2838d3ed51dd"
        );
    }
}
