//! One cache entry in one allocation. A million entries is the target scale, and per-entry
//! overhead (not the bodies, which compress to ~200 bytes) decides whether they fit, so an
//! entry is a single `Arc<[u8]>`: a fixed 24-byte header, the content type when it is not one
//! of the common ones, then the (usually compressed) body.
//!
//! Layout: status u16 | content type u8 | encoding u8 | stored at ms u64 | fresh for ms u64 |
//! body length u32 | [content type length u8, bytes] | body.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use super::Answer;
use super::codec::{self, Encoding};

const HEADER: usize = 24;
/// Content types stored as a one-byte index; 0 is "none", 255 "inline".
const COMMON_TYPES: &[&str] = &[
    "application/json; charset=utf-8",
    "application/json",
    "text/plain; charset=utf-8",
    "text/html; charset=utf-8",
];
const INLINE: u8 = u8::MAX;

/// A packed cache entry; cloning shares it.
#[derive(Clone)]
pub struct Stored(Arc<[u8]>);

impl Stored {
    /// Packs `answer`, stored `at` (since the cache's epoch), fresh `for`.
    pub fn new(answer: &Answer, at: Duration, fresh_for: Duration) -> Self {
        let (encoding, body) = codec::pack(&answer.body);
        let ct = answer.content_type.as_ref().map(HeaderValue::as_bytes);
        let ct_index = match ct {
            None => 0,
            Some(v) => COMMON_TYPES
                .iter()
                .position(|t| t.as_bytes() == v)
                .map_or(INLINE, |i| i as u8 + 1),
        };
        let inline = match (ct_index, ct) {
            (INLINE, Some(v)) => &v[..v.len().min(255)],
            _ => &[][..],
        };
        let mut buf = Vec::with_capacity(HEADER + inline.len() + 1 + body.len());
        buf.extend_from_slice(&answer.status.as_u16().to_le_bytes());
        buf.push(ct_index);
        buf.push(encoding as u8);
        buf.extend_from_slice(&millis(at).to_le_bytes());
        buf.extend_from_slice(&millis(fresh_for).to_le_bytes());
        let len = u32::try_from(answer.body.len()).unwrap_or(u32::MAX);
        buf.extend_from_slice(&len.to_le_bytes());
        if ct_index == INLINE {
            buf.push(inline.len() as u8);
            buf.extend_from_slice(inline);
        }
        buf.extend_from_slice(&body);
        Self(buf.into())
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn stored_at(&self) -> Duration {
        Duration::from_millis(self.u64_at(4))
    }

    pub fn fresh_for(&self) -> Duration {
        Duration::from_millis(self.u64_at(12))
    }

    /// The answer as it was stored.
    pub fn answer(&self) -> Answer {
        let b = &self.0;
        let status = StatusCode::from_u16(u16::from_le_bytes([b[0], b[1]]))
            .unwrap_or(StatusCode::BAD_GATEWAY);
        let len = u32::from_le_bytes(b[20..24].try_into().expect("4 bytes")) as usize;
        let (content_type, body_at) = match b[2] {
            0 => (None, HEADER),
            INLINE => {
                let n = b[HEADER] as usize;
                let v = HeaderValue::from_bytes(&b[HEADER + 1..HEADER + 1 + n]).ok();
                (v, HEADER + 1 + n)
            }
            i => (
                COMMON_TYPES
                    .get(usize::from(i) - 1)
                    .map(|t| HeaderValue::from_static(t)),
                HEADER,
            ),
        };
        let body: Bytes = codec::unpack(Encoding::from(b[3]), &b[body_at..], len);
        Answer {
            status,
            content_type,
            body,
        }
    }

    /// Whether the body is stored compressed (decoding it costs more than copying).
    pub fn is_compressed(&self) -> bool {
        Encoding::from(self.0[3]) == Encoding::Zstd
    }

    /// Whether `other` is this very entry (not an equal copy): a replaced entry never is.
    pub fn is(&self, other: &Stored) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    fn u64_at(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.0[at..at + 8].try_into().expect("8 bytes"))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_survives_packing() {
        for ct in [
            None,
            Some("application/json; charset=utf-8"),
            Some("application/x-odd"),
        ] {
            let answer = Answer {
                status: StatusCode::NOT_FOUND,
                content_type: ct.map(HeaderValue::from_static),
                body: Bytes::from(format!("{{\"message\":\"{}\"}}", "x".repeat(300))),
            };
            let s = Stored::new(
                &answer,
                Duration::from_millis(1234),
                Duration::from_secs(60),
            );
            let back = s.answer();
            assert_eq!(back.status, StatusCode::NOT_FOUND);
            assert_eq!(back.content_type.as_ref().map(|v| v.to_str().unwrap()), ct);
            assert_eq!(back.body, answer.body);
            assert_eq!(s.stored_at(), Duration::from_millis(1234));
            assert_eq!(s.fresh_for(), Duration::from_secs(60));
            assert!(s.len() < 100, "{}", s.len());
        }
    }
}
