//! Identifier and timestamp formats the way Gumroad and Maton print them.

use time::{OffsetDateTime, format_description::BorrowedFormatItem, macros::format_description};

const SECONDS: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
const MICROS: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
const URLSAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Gumroad's timestamp: `2021-01-05T19:38:56Z`, UTC, no fractions.
pub fn gumroad_time(t: OffsetDateTime) -> String {
    t.format(SECONDS).unwrap_or_default()
}

/// Maton's timestamp: `2026-02-08T06:22:48.654579Z`, with microseconds.
pub fn maton_time(t: OffsetDateTime) -> String {
    t.format(MICROS).unwrap_or_default()
}

/// Gumroad's external ids are 16 bytes in url-safe base64 with padding, e.g.
/// `B3K7zHJBfTCgXhEWPJnJcQ==`.
pub fn external_id(bytes: [u8; 16]) -> String {
    let mut out = String::with_capacity(24);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(URLSAFE[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out.push_str("==");
    out
}

/// A fresh random external id, for objects created through the API.
pub fn random_id() -> String {
    external_id(rand::random())
}

/// A deterministic external id for seed objects that need no named constant.
pub fn seeded_id(tag: u64) -> String {
    let hi = splitmix(tag);
    let lo = splitmix(hi);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_be_bytes());
    bytes[8..].copy_from_slice(&lo.to_be_bytes());
    external_id(bytes)
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A new license key in Gumroad's format: `XXXXXXXX-XXXXXXXX-XXXXXXXX-XXXXXXXX`, upper-case hex.
pub fn new_license_key() -> String {
    let hex = format!("{:032X}", rand::random::<u128>());
    [&hex[0..8], &hex[8..16], &hex[16..24], &hex[24..32]].join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_gumroads_shape() {
        let id = seeded_id(7);
        assert_eq!(id.len(), 24);
        assert!(id.ends_with("==") && !id.contains('/') && !id.contains('+'));
        assert_eq!(external_id([0xff; 16]), "_____________________w==");
        let key = new_license_key();
        assert_eq!(key.len(), 35);
        assert!(
            key.chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_lowercase())
        );
    }
}
