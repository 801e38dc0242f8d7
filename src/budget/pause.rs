//! The 429 pause: after upstream says "too many requests", nothing is granted until the time
//! it named, or, when it named none, until a capped exponential backoff has passed. No pause
//! is ever longer than `max_pause`, whatever upstream names: one `Retry-After: 999999999` once
//! stopped all upstream traffic for 31.7 years (issue 9). An operator can end a pause early
//! ([`Pause::clear`], `DELETE /admin/upstream/pause`).

use std::time::Duration;

use prometheus::{Counter, IntCounter};
use rand::Rng;
use tokio::time::Instant;

/// The first backoff after a 429 without `Retry-After`; it doubles with each 429 in a row.
const BACKOFF_BASE: Duration = Duration::from_secs(1);

/// Jitter of ±20% around the nominal backoff. Not full jitter: all callers share one pause,
/// so there is no herd of clients to spread out, and a pause near its nominal length keeps
/// the backoff meaningful; the spread still keeps replicas from retrying in lockstep.
const JITTER: f64 = 0.2;

/// Pause state; it lives inside the budget's lock.
#[derive(Debug)]
pub(super) struct Pause {
    until: Option<Instant>,
    /// 429s since the last success: the backoff exponent.
    streak: u32,
    /// Cap of the backoff without `Retry-After`.
    cap: Duration,
    /// Cap of any pause, a `Retry-After` included.
    max_pause: Duration,
    throttled: IntCounter,
    blocked_seconds: Counter,
}

impl Pause {
    pub(super) fn new(
        cap: Duration,
        max_pause: Duration,
        throttled: IntCounter,
        blocked_seconds: Counter,
    ) -> Self {
        Self {
            until: None,
            streak: 0,
            cap,
            max_pause,
            throttled,
            blocked_seconds,
        }
    }

    /// The instant grants may resume; `now` when there is no pause.
    pub(super) fn resume_at(&self, now: Instant) -> Instant {
        self.until.map_or(now, |u| u.max(now))
    }

    /// Time left of the pause, if any.
    pub(super) fn left(&self, now: Instant) -> Option<Duration> {
        self.until.filter(|u| *u > now).map(|u| u - now)
    }

    /// A 429 arrived: pause until `now + retry_after`, or back off; never past `max_pause`.
    pub(super) fn throttled(&mut self, now: Instant, retry_after: Option<Duration>) {
        self.throttled.inc();
        self.streak = self.streak.saturating_add(1);
        let wait = retry_after
            .unwrap_or_else(|| self.backoff())
            .min(self.max_pause);
        // With a huge max_pause, an absurd Retry-After must still not panic on overflow; it
        // pauses "forever" instead.
        let until = now
            .checked_add(wait)
            .unwrap_or_else(|| now + super::FOREVER);
        let before = self.resume_at(now);
        if until > before {
            // A shorter or overlapping pause adds only the time it extends.
            self.blocked_seconds.inc_by((until - before).as_secs_f64());
            self.until = Some(until);
        }
        match retry_after {
            // One warning per 429, this one instead of the usual. The header's value is
            // upstream's and only about timing: nothing secret.
            Some(asked) if asked > wait => tracing::warn!(
                retry_after = ?asked,
                pause = ?wait,
                streak = self.streak,
                "upstream answered 429 with a Retry-After past upstream.max_pause; pausing for max_pause"
            ),
            _ => {
                tracing::warn!(pause = ?wait, streak = self.streak, "upstream answered 429; pausing")
            }
        }
    }

    /// Ends the pause now (an operator's call); returns what was left of it. The backoff starts
    /// from the beginning again.
    pub(super) fn clear(&mut self, now: Instant) -> Option<Duration> {
        let left = self.left(now);
        self.until = None;
        self.streak = 0;
        left
    }

    /// A call succeeded: the next 429 starts the backoff from the beginning.
    pub(super) fn succeeded(&mut self) {
        self.streak = 0;
    }

    fn backoff(&self) -> Duration {
        let doublings = self.streak.saturating_sub(1).min(31);
        let nominal = BACKOFF_BASE.saturating_mul(1 << doublings).min(self.cap);
        let factor = rand::rng().random_range(1.0 - JITTER..=1.0 + JITTER);
        // The cap is a promise to operators, so jitter never pushes past it.
        nominal.mul_f64(factor).min(self.cap)
    }
}
