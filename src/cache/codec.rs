//! Compact storage of cached bodies. Gumroad's verify answers are ~1 KB of JSON, mostly the
//! same field names; zstd with a raw-content dictionary of typical answers stores one in about
//! 200 bytes, which is what lets a million answers fit in a few hundred megabytes. Bodies too
//! small to gain are kept as they are.

use std::cell::RefCell;

use bytes::Bytes;

/// Typical Gumroad answers (field names and common values, no real data).
const DICTIONARY: &[u8] = include_bytes!("dictionary.txt");
/// Fast level: compression happens once per upstream answer, at most a few per second, but
/// benchmarks fill the cache much faster; level 3 costs little more than 1 and packs tighter.
const LEVEL: i32 = 3;
/// Below this a body is stored raw: the frame overhead would eat the gain.
const MIN_COMPRESS: usize = 128;

thread_local! {
    // zstd contexts are not Sync; one per worker thread, each with the dictionary loaded once.
    static COMPRESSOR: RefCell<zstd::bulk::Compressor<'static>> = RefCell::new(
        zstd::bulk::Compressor::with_dictionary(LEVEL, DICTIONARY).expect("zstd compressor"),
    );
    static DECOMPRESSOR: RefCell<zstd::bulk::Decompressor<'static>> = RefCell::new(
        zstd::bulk::Decompressor::with_dictionary(DICTIONARY).expect("zstd decompressor"),
    );
}

/// How a stored body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    Raw = 0,
    Zstd = 1,
}

impl From<u8> for Encoding {
    fn from(b: u8) -> Self {
        if b == 1 { Self::Zstd } else { Self::Raw }
    }
}

/// Encodes a body for storage, compressed when that makes it smaller.
pub fn pack(body: &[u8]) -> (Encoding, Vec<u8>) {
    if body.len() >= MIN_COMPRESS
        && let Ok(data) = COMPRESSOR.with(|c| c.borrow_mut().compress(body))
        && data.len() < body.len()
    {
        return (Encoding::Zstd, data);
    }
    (Encoding::Raw, body.to_vec())
}

/// Decodes a stored body of original length `len`.
pub fn unpack(encoding: Encoding, data: &[u8], len: usize) -> Bytes {
    match encoding {
        Encoding::Raw => Bytes::copy_from_slice(data),
        Encoding::Zstd => DECOMPRESSOR
            .with(|d| d.borrow_mut().decompress(data, len))
            .map(Bytes::from)
            // Only data we compressed ourselves is ever here; failing to read it back would
            // be a bug, and an empty body is a safer answer than a panic.
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_shrinks_typical_answers() {
        let body = &DICTIONARY[..1000];
        let (enc, data) = pack(body);
        assert_eq!(enc, Encoding::Zstd);
        assert!(data.len() < 300, "{}", data.len());
        assert_eq!(&unpack(enc, &data, body.len())[..], body);
        let small = br#"{"success":false}"#;
        let (enc, data) = pack(small);
        assert_eq!(enc, Encoding::Raw);
        assert_eq!(&unpack(enc, &data, small.len())[..], small);
    }
}
