//! Answers shared between replicas: Redis as the second level behind each replica's moka
//! cache. A hit never comes here; a miss looks here before it goes upstream, and a fill is
//! written here for the others.
//!
//! - **One upstream call per key across replicas.** A miss that finds nothing takes the key's
//!   fill lease (`SET NX PX`) and goes upstream; a miss on another replica that finds the lease
//!   taken waits for the answer (polling, at most `upstream.max_wait`), then goes upstream itself
//!   only if none came (the first filler failed, or died and its lease ran out).
//! - **Never an answer older than an invalidation.** Invalidating a key here (any replica's
//!   license edit, purge or re-check, sent with the stream entry) deletes the answer and leaves
//!   a marker with Redis's time; a fill that began before the marker is not written. A purge of
//!   everything moves to a new generation of keys.
//! - Answers are kept, zstd-compressed, until their freshness plus the stale-if-error window
//!   runs out, and served from here only while fresh (stale ones are each replica's own).
//! - Redis out of reach: nothing is shared, each replica fills on its own (under its fallback
//!   share of the budget).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use redis::Script;

use super::RedisLink;
use crate::cache::Answer;

/// Looks the key up, or takes its fill lease: `{0, answer, fresh_left_ms}` found fresh;
/// `{1, '', now_ms, gen}` the lease is ours; `{2}` someone else is filling.
/// ARGV: prefix, key (hex), lease token, lease ms.
const FIND: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gen = redis.call('GET', ARGV[1] .. ':gen') or '0'
local k = ARGV[1] .. ':' .. gen .. ':' .. ARGV[2]
local fresh = tonumber(redis.call('HGET', k, 'f') or '0')
if fresh > now then
    return {0, redis.call('HGET', k, 'a'), fresh - now, gen}
end
if redis.call('SET', k .. ':lease', ARGV[3], 'NX', 'PX', ARGV[4]) then
    return {1, '', now, gen}
end
return {2, '', 0, gen}
";

/// Writes a fill, unless the key was invalidated (or everything purged) since it began, and
/// lets go of the lease. ARGV: prefix, key, token, began ms, generation, fresh ms, keep ms,
/// answer.
const PUT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gen = redis.call('GET', ARGV[1] .. ':gen') or '0'
local k = ARGV[1] .. ':' .. gen .. ':' .. ARGV[2]
if redis.call('GET', k .. ':lease') == ARGV[3] then
    redis.call('DEL', k .. ':lease')
end
if gen ~= ARGV[5] then
    return 0
end
if tonumber(redis.call('GET', k .. ':inv') or '0') >= tonumber(ARGV[4]) then
    return 0
end
redis.call('HSET', k, 'f', string.format('%.0f', now + tonumber(ARGV[6])), 'a', ARGV[8])
redis.call('PEXPIRE', k, tonumber(ARGV[6]) + tonumber(ARGV[7]))
return 1
";

/// Lets go of a lease whose fill produced nothing to share. ARGV: prefix, key, token, gen.
const RELEASE: &str = r"
local k = ARGV[1] .. ':' .. ARGV[4] .. ':' .. ARGV[2]
if redis.call('GET', k .. ':lease') == ARGV[3] then
    redis.call('DEL', k .. ':lease')
end
return 1
";

/// Drops a key's shared answer and marks when, for fills in flight. ARGV: prefix, key, ms.
const INVALIDATE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gen = redis.call('GET', ARGV[1] .. ':gen') or '0'
local k = ARGV[1] .. ':' .. gen .. ':' .. ARGV[2]
redis.call('SET', k .. ':inv', string.format('%.0f', now), 'PX', ARGV[3])
redis.call('DEL', k)
return 1
";

/// How often a miss that found another replica filling looks again.
const POLL: Duration = Duration::from_millis(20);
/// How long an invalidation marker outlives it: longer than any fill can take.
const MARKER: Duration = Duration::from_secs(300);

/// What a miss found.
pub enum Found {
    /// Another replica's fresh answer, with the freshness it has left.
    Answer(Answer, Duration),
    /// Nothing: this replica fills, and shares what it gets under this lease.
    Lease(Lease),
    /// Nothing to share (Redis out of reach, or another filler gave nothing in time): fill
    /// alone.
    Nothing,
}

/// The right to write one key's fill.
pub struct Lease {
    key: u128,
    token: String,
    began_ms: i64,
    generation: String,
}

/// The verify answers every replica shares.
pub struct SharedAnswers {
    link: RedisLink,
    prefix: String,
    lease: Duration,
    max_wait: Duration,
    keep: Duration,
    scripts: Arc<Scripts>,
}

struct Scripts {
    find: Script,
    put: Script,
    release: Script,
}

impl SharedAnswers {
    /// `key_id` names the deployment (a hash of its cache key secret); a lease lasts
    /// `lease` (a fill's longest: the upstream budget's wait plus the call's timeout), a miss
    /// waits for another's fill at most `max_wait`, and an answer is kept `keep` past its
    /// freshness (the stale-if-error window).
    pub fn new(
        link: RedisLink,
        key_id: &str,
        lease: Duration,
        max_wait: Duration,
        keep: Duration,
    ) -> Self {
        Self {
            link,
            prefix: format!("gumgate:answers:{{{key_id}}}"),
            lease,
            max_wait,
            keep,
            scripts: Arc::new(Scripts {
                find: Script::new(FIND),
                put: Script::new(PUT),
                release: Script::new(RELEASE),
            }),
        }
    }

    /// A miss of `key`: another replica's answer, the lease to fill it, or nothing to share.
    pub async fn find(&self, key: u128) -> Found {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let start = tokio::time::Instant::now();
        loop {
            let found = self
                .link
                .run(|mut conn| {
                    let token = &token;
                    async move {
                        self.scripts
                            .find
                            .arg(&self.prefix)
                            .arg(hex(key))
                            .arg(token)
                            .arg(millis(self.lease))
                            .invoke_async::<(i64, Vec<u8>, i64, String)>(&mut conn)
                            .await
                    }
                })
                .await;
            match found {
                None => return Found::Nothing,
                Some((0, packed, fresh_ms, _)) => {
                    let fresh = Duration::from_millis(fresh_ms.max(0).unsigned_abs());
                    return match unpack(&packed) {
                        Some(answer) => Found::Answer(answer, fresh),
                        None => Found::Nothing,
                    };
                }
                Some((1, _, began_ms, generation)) => {
                    return Found::Lease(Lease {
                        key,
                        token,
                        began_ms,
                        generation,
                    });
                }
                Some(_) => {
                    if start.elapsed() + POLL > self.max_wait {
                        return Found::Nothing;
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }

    /// Shares a fill made under `lease`, fresh for `fresh`.
    pub async fn put(&self, lease: Lease, answer: &Answer, fresh: Duration) {
        let packed = pack(answer);
        self.link
            .run(|mut conn| {
                let (lease, packed) = (&lease, &packed);
                async move {
                    self.scripts
                        .put
                        .arg(&self.prefix)
                        .arg(hex(lease.key))
                        .arg(&lease.token)
                        .arg(lease.began_ms)
                        .arg(&lease.generation)
                        .arg(millis(fresh))
                        .arg(millis(self.keep))
                        .arg(packed.as_slice())
                        .invoke_async::<i64>(&mut conn)
                        .await
                }
            })
            .await;
    }

    /// Lets go of a lease whose fill gave nothing to share, so waiters stop waiting for it.
    pub async fn release(&self, lease: Lease) {
        self.link
            .run(|mut conn| {
                let lease = &lease;
                async move {
                    self.scripts
                        .release
                        .arg(&self.prefix)
                        .arg(hex(lease.key))
                        .arg(&lease.token)
                        .arg(&lease.generation)
                        .invoke_async::<i64>(&mut conn)
                        .await
                }
            })
            .await;
    }

    /// The commands that drop `key`'s shared answer, for a pipeline (the invalidation stream's;
    /// EVAL rather than EVALSHA, since a pipeline cannot load a missing script halfway).
    pub fn invalidate_in(&self, pipe: &mut redis::Pipeline, key: u128) {
        pipe.cmd("EVAL")
            .arg(INVALIDATE)
            .arg(0)
            .arg(&self.prefix)
            .arg(hex(key))
            .arg(millis(MARKER))
            .ignore();
    }

    /// The command that drops every shared answer (a purge): a new generation of keys.
    pub fn clear_in(&self, pipe: &mut redis::Pipeline) {
        pipe.cmd("INCR")
            .arg(format!("{}:gen", self.prefix))
            .ignore();
    }
}

fn hex(key: u128) -> String {
    format!("{key:032x}")
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// status (2 bytes), content type length (2) and bytes, body; zstd-compressed.
fn pack(answer: &Answer) -> Vec<u8> {
    let ct = answer
        .content_type
        .as_ref()
        .map_or(&[][..], HeaderValue::as_bytes);
    let ct_len = u16::try_from(ct.len()).unwrap_or(0);
    let mut raw = Vec::with_capacity(4 + ct.len() + answer.body.len());
    raw.extend_from_slice(&answer.status.as_u16().to_be_bytes());
    raw.extend_from_slice(&ct_len.to_be_bytes());
    raw.extend_from_slice(&ct[..usize::from(ct_len)]);
    raw.extend_from_slice(&answer.body);
    zstd::bulk::compress(&raw, 3).unwrap_or_default()
}

/// The answer [`pack`] packed; `None` for anything else (never trusted further than that).
fn unpack(packed: &[u8]) -> Option<Answer> {
    let raw = zstd::stream::decode_all(packed).ok()?;
    let status = StatusCode::from_u16(u16::from_be_bytes(raw.get(0..2)?.try_into().ok()?)).ok()?;
    let ct_len = usize::from(u16::from_be_bytes(raw.get(2..4)?.try_into().ok()?));
    let ct = raw.get(4..4 + ct_len)?;
    let content_type = if ct.is_empty() {
        None
    } else {
        Some(HeaderValue::from_bytes(ct).ok()?)
    };
    Some(Answer {
        status,
        content_type,
        body: Bytes::copy_from_slice(raw.get(4 + ct_len..)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_pack_and_unpack_byte_for_byte_and_garbage_is_refused() {
        let answer = Answer {
            status: StatusCode::NOT_FOUND,
            content_type: Some(HeaderValue::from_static("application/json; charset=utf-8")),
            body: Bytes::from_static(br#"{"success":false,"message":"That license does not exist for the provided product."}"#),
        };
        let back = unpack(&pack(&answer)).unwrap();
        assert_eq!(
            (back.status, back.content_type, back.body),
            (answer.status, answer.content_type, answer.body)
        );
        assert!(unpack(b"not zstd").is_none());
        assert!(unpack(&zstd::bulk::compress(&[0, 200, 0, 9, b'x'], 3).unwrap()).is_none());
    }
}
