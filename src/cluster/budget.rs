//! One upstream budget per Maton API key across every replica: a GCRA whose theoretical
//! arrival time (TAT) lives in Redis, and the 429 pause beside it, both read and written by
//! Lua scripts on Redis's own clock (`TIME`), so replicas whose clocks disagree still space
//! their calls on one timeline.
//!
//! A call books a slot at most its class's horizon ahead (public: what is left of
//! `upstream.max_wait`; admin: half of that; background: only a slot free now), sleeps until
//! it, and, when it had to wait, checks the pause once more just before it sends: a 429 seen
//! by another replica meanwhile holds it too. The slot of a call that does not go is not
//! given back: a wasted slot only spaces the others more, never less.
//!
//! While Redis cannot be reached, calls are booked on a local GCRA at `redis.fallback_share`
//! of the rate (burst 1), so that all replicas together stay under Maton's limit; the next
//! call after [`super::redis_conn::RETRY_AFTER`] tries Redis again, so shared mode resumes by
//! itself.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::Script;
use tokio::time::Instant;

use super::RedisLink;
use crate::budget::{Denied, DenyReason, Priority};
use crate::config::{Secret, UpstreamSettings};
use crate::metrics::Metrics;

/// Books the next slot: `{wait_us, refused, paused}` (`refused` 1 when the slot is past the
/// horizon, and then nothing is booked; `paused` 1 when a 429 pause is what pushes it out).
/// KEYS: TAT, pause-until. ARGV: interval, tolerance, horizon (microseconds).
const BOOK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
local start = math.max(now, pause)
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), start)
local at = math.max(tat - tolerance, start)
local paused = 0
if pause > now then paused = 1 end
if at - now > horizon then
    return {at - now, 1, paused}
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
return {at - now, 0, paused}
";

/// Pauses every replica for ARGV[1] microseconds from now (Redis's now), unless a longer pause
/// is already set. KEYS: pause-until.
const PAUSE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local till = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if till > current then
    redis.call('SET', KEYS[1], string.format('%.0f', till), 'PX', math.ceil(tonumber(ARGV[1]) / 1000) + 1000)
end
return 1
";

/// Microseconds of pause left (0: none). KEYS: pause-until.
const PAUSE_LEFT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause = tonumber(redis.call('GET', KEYS[1]) or '0')
return math.max(0, pause - now)
";

/// What a booking decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Booked {
    /// Through Redis: the slot is the cluster's.
    Shared,
    /// On this replica's fallback share: Redis could not be reached.
    Fallback,
}

/// The cluster-wide budget of one Maton API key.
pub struct SharedBudget {
    link: RedisLink,
    tat_key: String,
    pause_key: String,
    interval: Duration,
    tolerance: Duration,
    max_wait: Duration,
    scripts: Scripts,
    fallback: Mutex<Fallback>,
    metrics: Arc<Metrics>,
}

struct Scripts {
    book: Script,
    pause: Script,
    pause_left: Script,
}

impl SharedBudget {
    /// The budget of `api_key` (named in Redis by a hash of it, never the key) at
    /// `upstream.rate_limit`, `burst` and `spacing_margin`, as the local budget reads them.
    pub fn new(
        link: RedisLink,
        upstream: &UpstreamSettings,
        fallback_share: f64,
        api_key: &Secret,
        metrics: Arc<Metrics>,
    ) -> Self {
        let rate = upstream.rate_limit;
        Self::named(
            link,
            "all",
            rate,
            upstream,
            fallback_share,
            api_key,
            metrics,
        )
    }

    /// The cluster-wide share first-time license keys pass before the budget itself
    /// (`upstream.known_share`): `rate_limit x (1 - known_share)` calls a second, at least one.
    pub fn first_time(
        link: RedisLink,
        upstream: &UpstreamSettings,
        fallback_share: f64,
        api_key: &Secret,
        metrics: Arc<Metrics>,
    ) -> Self {
        let share = upstream.known_share.clamp(0.0, 1.0);
        let rate = (f64::from(upstream.rate_limit) * (1.0 - share)).floor() as u32;
        Self::named(
            link,
            "first-time",
            rate,
            upstream,
            fallback_share,
            api_key,
            metrics,
        )
    }

    fn named(
        link: RedisLink,
        name: &str,
        rate: u32,
        upstream: &UpstreamSettings,
        fallback_share: f64,
        api_key: &Secret,
        metrics: Arc<Metrics>,
    ) -> Self {
        let id = blake3::derive_key(
            "gumgate 2026 shared budget key",
            api_key.expose().as_bytes(),
        );
        let id = hex::encode(&id[..8]);
        let rate = rate.max(1);
        let interval = Duration::from_secs(1) / rate + upstream.spacing_margin;
        let tolerance = interval * (upstream.burst.max(1) - 1);
        // The fallback share of the rate, at least one call a second, never a burst.
        let fallback_rate = (f64::from(rate) * fallback_share).floor().max(1.0);
        let fallback_interval =
            Duration::from_secs_f64(1.0 / fallback_rate) + upstream.spacing_margin;
        Self {
            link,
            tat_key: format!("gumgate:budget:{{{id}}}:{name}:tat"),
            // One pause for every budget of the key: a 429 holds first-time calls too.
            pause_key: format!("gumgate:budget:{{{id}}}:pause"),
            interval,
            tolerance,
            max_wait: upstream.max_wait,
            scripts: Scripts {
                book: Script::new(BOOK),
                pause: Script::new(PAUSE),
                pause_left: Script::new(PAUSE_LEFT),
            },
            fallback: Mutex::new(Fallback {
                interval: fallback_interval,
                tat: None,
            }),
            metrics,
        }
    }

    /// How far ahead a call of `priority` may book, given `left` of its own wait.
    fn horizon(&self, priority: Priority, left: Duration) -> Duration {
        match priority {
            Priority::Public => left.min(self.max_wait),
            Priority::Admin => left.min(self.max_wait / 2),
            Priority::Background => Duration::ZERO,
        }
    }

    /// Books one call's slot and waits for it; `left` is what remains of the call's wait.
    pub async fn book(&self, priority: Priority, left: Duration) -> Result<Booked, Denied> {
        let horizon = self.horizon(priority, left);
        let booked = self
            .link
            .run(|mut conn| async move {
                self.scripts
                    .book
                    .key(&self.tat_key)
                    .key(&self.pause_key)
                    .arg(micros(self.interval))
                    .arg(micros(self.tolerance))
                    .arg(micros(horizon))
                    .invoke_async::<(i64, i64, i64)>(&mut conn)
                    .await
            })
            .await;
        let Some((wait, refused, paused)) = booked else {
            return self.book_fallback(horizon).await;
        };
        let wait = Duration::from_micros(wait.max(0).unsigned_abs());
        tracing::debug!(
            priority = priority.label(),
            ?horizon,
            ?wait,
            refused = refused == 1,
            paused = paused == 1,
            "shared budget booking"
        );
        if refused == 1 {
            let reason = if paused == 1 {
                DenyReason::Paused
            } else {
                DenyReason::Budget
            };
            return Err(Denied {
                reason,
                retry_after: wait,
            });
        }
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
            // Another replica may have been told to pause while this one waited.
            if let Some(left) = self.pause_left().await {
                return Err(Denied {
                    reason: DenyReason::Paused,
                    retry_after: left,
                });
            }
        }
        Ok(Booked::Shared)
    }

    /// Books on the local fallback share, Redis being out of reach.
    async fn book_fallback(&self, horizon: Duration) -> Result<Booked, Denied> {
        let now = Instant::now();
        let wait = self
            .fallback
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .book(now, horizon)
            .map_err(|wait| Denied {
                reason: DenyReason::Budget,
                retry_after: wait,
            })?;
        self.metrics.redis_fallback_bookings.inc();
        tokio::time::sleep(wait).await;
        Ok(Booked::Fallback)
    }

    /// Holds every replica for `pause` from now (a 429 this replica received); a longer pause
    /// already set stays. Best effort: with Redis down, only this replica's own pause holds.
    pub async fn pause(&self, pause: Duration) {
        self.link
            .run(|mut conn| async move {
                self.scripts
                    .pause
                    .key(&self.pause_key)
                    .arg(micros(pause))
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await;
    }

    /// Ends the shared pause (an operator's `DELETE /admin/upstream/pause`).
    pub async fn clear_pause(&self) {
        self.link
            .run(|mut conn| async move {
                redis::cmd("DEL")
                    .arg(&self.pause_key)
                    .query_async::<i64>(&mut conn)
                    .await
            })
            .await;
    }

    /// The shared pause left, if any (`None` too when Redis cannot be reached).
    pub async fn pause_left(&self) -> Option<Duration> {
        let left = self
            .link
            .run(|mut conn| async move {
                self.scripts
                    .pause_left
                    .key(&self.pause_key)
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await?;
        (left > 0).then(|| Duration::from_micros(left.unsigned_abs()))
    }

    /// Whether Redis was reached by the last command.
    pub fn is_shared(&self) -> bool {
        self.link.is_up()
    }
}

/// The local budget while Redis is down: burst 1 at the fallback share.
struct Fallback {
    interval: Duration,
    tat: Option<Instant>,
}

impl Fallback {
    /// The wait before the next slot, booked; or, when it is past `horizon`, the wait unbooked.
    fn book(&mut self, now: Instant, horizon: Duration) -> Result<Duration, Duration> {
        let tat = self.tat.map_or(now, |t| t.max(now));
        let wait = tat - now;
        if wait > horizon {
            return Err(wait);
        }
        self.tat = Some(tat + self.interval);
        Ok(wait)
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
