//! Invalidations that reach every replica: a Redis Stream every replica appends its own to
//! (license edits, admin purges, re-checks by webhook pings and the reconciler) and reads the
//! others' from, resuming after the last entry it applied when its connection comes back.
//!
//! - Publishing never waits on Redis: an invalidation is queued (bounded) for a task of its own
//!   that appends it, and keeps what it could not append for the next try. A queue that
//!   overflowed is replaced by one "everything may be stale" entry.
//! - Reading: `XREAD BLOCK` on a connection of its own (a blocked read would hold up every
//!   command queued behind it on a shared one), from the last entry applied. A replica's own
//!   entries are skipped: it applied them when it made them.
//! - A gap (the reader lost Redis, or the stream was trimmed past its last entry) may hide
//!   invalidations, so every cached answer is marked stale ([`AnswerCache::mark_stale`]): kept
//!   for stale-if-error, refreshed before it is served as fresh, and fills asked before the
//!   gap are not stored. It is marked again when the reader is back, since others' appends
//!   failed while Redis was down.
//!
//! [`AnswerCache::mark_stale`]: crate::cache::AnswerCache::mark_stale

use std::collections::VecDeque;
use std::time::Duration;

use redis::AsyncCommands;
use redis::streams::{StreamReadOptions, StreamReadReply};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{RedisLink, SharedAnswers};
use crate::state::Caches;

/// Entries kept in the stream (approximately): far more than replicas append between two reads.
const STREAM_LEN: usize = 100_000;
/// Invalidations queued for appending; past this the queue is replaced by one "stale" entry.
const QUEUE: usize = 10_000;
/// How long one `XREAD` blocks before it asks again.
const BLOCK: Duration = Duration::from_secs(5);
/// Pause after the reader finds Redis out of reach.
const RETRY: Duration = Duration::from_secs(1);

/// What to invalidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    /// One verify answer, by cache key.
    Verify(u128),
    /// Everything (an admin purge).
    All,
    /// Everything may be stale (a publisher lost some of its own invalidations).
    Stale,
}

impl Invalidation {
    fn encode(self) -> String {
        match self {
            Self::Verify(key) => format!("v:{key:032x}"),
            Self::All => "all".to_owned(),
            Self::Stale => "stale".to_owned(),
        }
    }

    fn decode(s: &str) -> Option<Self> {
        match s {
            "all" => Some(Self::All),
            "stale" => Some(Self::Stale),
            _ => s
                .strip_prefix("v:")
                .and_then(|k| u128::from_str_radix(k, 16).ok())
                .map(Self::Verify),
        }
    }

    /// Applies it to this replica's caches.
    pub fn apply(self, caches: &Caches) {
        match self {
            Self::Verify(key) => caches.verify.cache().invalidate(key),
            Self::All => caches.clear(),
            Self::Stale => caches.mark_stale(),
        }
    }
}

/// This replica's end of the stream: a cheap handle to queue invalidations for the others.
#[derive(Clone)]
pub struct Invalidations {
    queue: mpsc::Sender<Invalidation>,
    overflowed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// What the background tasks need; [`Invalidations::new`] hands it out once.
pub struct Streams {
    link: RedisLink,
    /// The shared answers an invalidation also drops, appended in the same pipeline.
    answers: Option<std::sync::Arc<SharedAnswers>>,
    reader: redis::Client,
    stream: String,
    origin: String,
    queue: mpsc::Receiver<Invalidation>,
    overflowed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Invalidations {
    /// The stream of the deployment whose cache keys derive from `key_id` (a hash of the
    /// shared cache key secret, so replicas that name answers alike share it); `reader` is a
    /// client of the same Redis, for the blocking reads' own connection.
    pub fn new(
        link: RedisLink,
        reader: redis::Client,
        key_id: &str,
        answers: Option<std::sync::Arc<SharedAnswers>>,
    ) -> Result<(Self, Streams), redis::RedisError> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let overflowed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let streams = Streams {
            link,
            answers,
            reader,
            stream: format!("gumgate:invalidations:{{{key_id}}}"),
            origin: uuid::Uuid::new_v4().simple().to_string(),
            queue: rx,
            overflowed: overflowed.clone(),
        };
        Ok((
            Self {
                queue: tx,
                overflowed,
            },
            streams,
        ))
    }

    /// Queues `target` for every other replica; never waits.
    pub fn publish(&self, target: Invalidation) {
        if self.queue.try_send(target).is_err() {
            self.overflowed
                .store(true, std::sync::atomic::Ordering::Release);
        }
    }
}

impl Streams {
    /// Appends queued invalidations and applies the others' until `stop`.
    pub async fn run(self, caches: Caches, stop: CancellationToken) {
        let Self {
            link,
            answers,
            reader,
            stream,
            origin,
            queue,
            overflowed,
        } = self;
        let publisher = publish_queued(
            &link,
            answers.as_deref(),
            &stream,
            &origin,
            queue,
            &overflowed,
            &stop,
        );
        let reader = read_others(&reader, &stream, &origin, &caches, &stop);
        tokio::join!(publisher, reader);
    }
}

/// Appends what is queued, in order, keeping what could not be appended for the next try.
async fn publish_queued(
    link: &RedisLink,
    answers: Option<&SharedAnswers>,
    stream: &str,
    origin: &str,
    mut queue: mpsc::Receiver<Invalidation>,
    overflowed: &std::sync::atomic::AtomicBool,
    stop: &CancellationToken,
) {
    let mut pending: VecDeque<Invalidation> = VecDeque::new();
    loop {
        if pending.is_empty() {
            tokio::select! {
                () = stop.cancelled() => return,
                next = queue.recv() => match next {
                    Some(target) => pending.push_back(target),
                    None => return,
                },
            }
        }
        while let Ok(target) = queue.try_recv() {
            pending.push_back(target);
        }
        if overflowed.swap(false, std::sync::atomic::Ordering::AcqRel) || pending.len() > QUEUE {
            // Some were dropped: the others must take everything as possibly stale.
            pending.clear();
            pending.push_back(Invalidation::Stale);
        }
        let batch: Vec<String> = pending.iter().map(|t| t.encode()).collect();
        let mut pipe = redis::pipe();
        // The shared answers first: a replica that reads the entry finds them gone already.
        if let Some(answers) = answers {
            for target in &pending {
                match target {
                    Invalidation::Verify(key) => answers.invalidate_in(&mut pipe, *key),
                    Invalidation::All => answers.clear_in(&mut pipe),
                    Invalidation::Stale => {}
                }
            }
        }
        let appended = link
            .run(|mut conn| async move {
                let mut pipe = pipe;
                for target in &batch {
                    pipe.cmd("XADD")
                        .arg(stream)
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(STREAM_LEN)
                        .arg("*")
                        .arg("o")
                        .arg(origin)
                        .arg("t")
                        .arg(target)
                        .ignore();
                }
                pipe.query_async::<()>(&mut conn).await
            })
            .await;
        if appended.is_some() {
            pending.clear();
        } else {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(RETRY) => {}
            }
        }
    }
}

/// Applies the other replicas' invalidations as they come, marking everything stale after a
/// gap.
async fn read_others(
    client: &redis::Client,
    stream: &str,
    origin: &str,
    caches: &Caches,
    stop: &CancellationToken,
) {
    // "$": only what is appended from now on (a fresh replica has nothing to invalidate).
    let mut last = "$".to_owned();
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut lost = false;
    loop {
        if stop.is_cancelled() {
            return;
        }
        let Some(c) = conn.as_mut() else {
            match connect(client).await {
                Some(c) => {
                    if lost {
                        // Back: whatever the others appended while we were away may be gone
                        // (their appends failed too, if Redis itself was down).
                        caches.mark_stale();
                        if last != "$" && trimmed_past(c.clone(), stream, &last).await {
                            last = "$".to_owned();
                        }
                        tracing::info!("invalidations: reading the stream again");
                    }
                    conn = Some(c);
                }
                None => {
                    if !lost {
                        lost = true;
                        caches.mark_stale();
                        tracing::warn!(
                            "invalidations: Redis out of reach; every cached answer is stale until \
                             it is refreshed"
                        );
                    }
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(RETRY) => {}
                    }
                }
            }
            continue;
        };
        lost = false;
        let options = StreamReadOptions::default()
            .block(BLOCK.as_millis() as usize)
            .count(1_000);
        let (keys, ids) = ([stream], [last.as_str()]);
        let read = tokio::select! {
            () = stop.cancelled() => return,
            read = c.xread_options::<_, _, StreamReadReply>(&keys, &ids, &options) => read,
        };
        match read {
            Ok(reply) => {
                for key in reply.keys {
                    for entry in key.ids {
                        let own = entry.get::<String>("o").as_deref() == Some(origin);
                        if !own
                            && let Some(target) = entry
                                .get::<String>("t")
                                .as_deref()
                                .and_then(Invalidation::decode)
                        {
                            target.apply(caches);
                        }
                        last = entry.id;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "invalidations: the stream could not be read");
                conn = None;
                lost = true;
                caches.mark_stale();
            }
        }
    }
}

/// A connection for blocking reads: its response timeout outlasts the block.
async fn connect(client: &redis::Client) -> Option<redis::aio::MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(BLOCK + Duration::from_secs(2)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .ok()
}

/// Whether the stream's oldest entry is newer than `last`: entries after `last` were trimmed
/// (or the stream is new, Redis having restarted), so resuming from `last` would skip nothing
/// it could still read; the caller starts from now, everything already marked stale.
async fn trimmed_past(
    mut conn: redis::aio::MultiplexedConnection,
    stream: &str,
    last: &str,
) -> bool {
    let first: redis::RedisResult<redis::streams::StreamRangeReply> =
        conn.xrange_count(stream, "-", "+", 1).await;
    match first {
        Ok(range) => range
            .ids
            .first()
            .is_none_or(|entry| stream_id(&entry.id) > stream_id(last)),
        Err(_) => true,
    }
}

/// A stream id (`ms-seq`) as a comparable pair.
fn stream_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}
