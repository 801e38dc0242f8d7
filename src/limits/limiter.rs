//! The two keyed GCRA limiters (every verify, failed verifies) and the penalty that follows an
//! exhausted failed-verify limiter, without HTTP so that they can be tested with a fake clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::config::Rate;

type KeyedLimiter<C> =
    RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, C, StateInformationMiddleware>;

/// Which limit refused a request; also the metric label and the RateLimit policy name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    Verify,
    FailedVerify,
    /// Verifies that must spend upstream budget (incrementing or uncacheable ones).
    UpstreamVerify,
}

impl Limit {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::FailedVerify => "failed_verify",
            Self::UpstreamVerify => "upstream_verify",
        }
    }
}

/// A request let through, with what is left of the verify quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admitted {
    pub remaining: u32,
    /// Until the whole verify quota is back.
    pub reset: Duration,
}

/// A request refused, and how long until the refusing limit would admit one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    pub limit: Limit,
    pub wait: Duration,
}

/// Both limiters keyed by client (see `client_ip::limit_key`).
pub(crate) struct Limiters<C: Clock = DefaultClock> {
    verify: KeyedLimiter<C>,
    failed: KeyedLimiter<C>,
    upstream: KeyedLimiter<C>,
    verify_rate: Rate,
    /// Keys whose failed-verify limiter is exhausted, with when it admits again. Governor has
    /// no way to ask "would you admit?" without spending a cell, so the answer is kept here.
    penalties: Mutex<HashMap<IpAddr, C::Instant>>,
    clock: C,
}

impl<C: Clock + Clone> Limiters<C> {
    pub(crate) fn new(verify: Rate, failed: Rate, upstream: Rate, clock: C) -> Self {
        Self {
            verify: keyed(verify, clock.clone()),
            failed: keyed(failed, clock.clone()),
            upstream: keyed(upstream, clock.clone()),
            verify_rate: verify,
            penalties: Mutex::default(),
            clock,
        }
    }

    /// Spends a verify cell for `key`, unless the key is serving a failed-verify penalty.
    pub(crate) fn admit(&self, key: &IpAddr) -> Result<Admitted, Refused> {
        if let Some(wait) = self.penalty(key) {
            return Err(Refused {
                limit: Limit::FailedVerify,
                wait,
            });
        }
        match self.verify.check_key(key) {
            Ok(state) => Ok(self.admitted(state.remaining_burst_capacity())),
            Err(not_until) => Err(Refused {
                limit: Limit::Verify,
                wait: not_until.wait_time_from(self.clock.now()),
            }),
        }
    }

    /// Spends a cell of the upstream-verify limit: one client may not drain the shared upstream
    /// budget with calls the cache cannot answer.
    pub(crate) fn admit_upstream(&self, key: &IpAddr) -> Result<(), Refused> {
        self.upstream
            .check_key(key)
            .map(|_| ())
            .map_err(|not_until| Refused {
                limit: Limit::UpstreamVerify,
                wait: not_until.wait_time_from(self.clock.now()),
            })
    }

    /// Spends a failed-verify cell; when that empties the limiter, the key is refused
    /// everything until the limiter's own "not until".
    pub(crate) fn record_failure(&self, key: &IpAddr) {
        let refused = match self.failed.check_key(key) {
            Ok(state) if state.remaining_burst_capacity() > 0 => return,
            // Empty now: a second check is refused (a refusal changes no state) and tells when
            // the next cell is due. If that instant passed in between, the limiter admitted
            // and there is no penalty to serve.
            Ok(_) => match self.failed.check_key(key) {
                Ok(_) => return,
                Err(not_until) => not_until,
            },
            Err(not_until) => not_until,
        };
        self.lock().insert(*key, refused.earliest_possible());
    }

    /// Forgets keys whose state is indistinguishable from a fresh one, and served penalties.
    pub(crate) fn prune(&self) {
        self.verify.retain_recent();
        self.verify.shrink_to_fit();
        self.failed.retain_recent();
        self.failed.shrink_to_fit();
        self.upstream.retain_recent();
        self.upstream.shrink_to_fit();
        let now = self.clock.now();
        let mut penalties = self.lock();
        penalties.retain(|_, until| *until > now);
        penalties.shrink_to_fit();
    }

    /// Keys held by both limiters and the penalty list (for tests and the prune log).
    pub(crate) fn len(&self) -> usize {
        self.verify.len() + self.failed.len() + self.upstream.len() + self.lock().len()
    }

    fn penalty(&self, key: &IpAddr) -> Option<Duration> {
        let mut penalties = self.lock();
        let until = *penalties.get(key)?;
        let now = self.clock.now();
        if until > now {
            return Some(until.duration_since(now).into());
        }
        penalties.remove(key);
        None
    }

    fn admitted(&self, remaining: u32) -> Admitted {
        let spent = self.verify_rate.count.get().saturating_sub(remaining);
        Admitted {
            remaining,
            reset: emission_interval(self.verify_rate) * spent,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, C::Instant>> {
        // A panic while holding this lock leaves a plain map behind; keep using it.
        self.penalties.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `count` per `period` with a burst of `count`: one cell comes back every `period / count`.
fn keyed<C: Clock>(rate: Rate, clock: C) -> KeyedLimiter<C> {
    let quota = Quota::with_period(emission_interval(rate))
        .expect("the emission interval is at least 1 ns")
        .allow_burst(rate.count);
    RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock)
}

fn emission_interval(rate: Rate) -> Duration {
    (rate.period / rate.count.get()).max(Duration::from_nanos(1))
}
