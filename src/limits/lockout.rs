//! A lockout: a keyed limiter of failures (failed verifies, failed admin authentications) and
//! the penalty that follows its exhaustion, during which the key is refused everything the
//! lockout guards, before any work is done (a right license key or admin token included).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, Reference};

use super::limiter::{KeyedLimiter, keyed};
use crate::config::Rate;

/// A penalty that a failure has just started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Started {
    /// Until the limiter admits a failure again.
    pub wait: Duration,
    /// No penalty of this key was remembered (served ones are forgotten at the next prune):
    /// the first of a burst, the one worth a log line. A guesser who keeps going is locked out
    /// again each time a cell comes back, and says so only once.
    pub new_burst: bool,
}

pub(crate) struct Lockout<C: Clock> {
    failures: KeyedLimiter<C>,
    /// Keys whose limiter is exhausted, with when it admits again. Governor has no way to ask
    /// "would you admit?" without spending a cell, so the answer is kept here; served
    /// penalties stay until [`Lockout::prune`].
    penalties: Mutex<HashMap<IpAddr, C::Instant>>,
}

impl<C: Clock> Lockout<C> {
    pub(crate) fn new(rate: Rate, clock: C) -> Self {
        Self {
            failures: keyed(rate, clock),
            penalties: Mutex::default(),
        }
    }

    /// How long `key` is still refused, if it is.
    pub(crate) fn penalty(&self, key: &IpAddr, now: C::Instant) -> Option<Duration> {
        let until = *self.lock().get(key)?;
        (until > now).then(|| until.duration_since(now).into())
    }

    /// Spends a failure cell; when that empties the limiter, the key is refused until the
    /// limiter's own "not until", and the penalty is returned.
    pub(crate) fn record(&self, key: &IpAddr, now: C::Instant) -> Option<Started> {
        let refused = match self.failures.check_key(key) {
            Ok(state) if state.remaining_burst_capacity() > 0 => return None,
            // Empty now: a second check is refused (a refusal changes no state) and tells when
            // the next cell is due. If that instant passed in between, the limiter admitted
            // and there is no penalty to serve.
            Ok(_) => match self.failures.check_key(key) {
                Ok(_) => return None,
                Err(not_until) => not_until,
            },
            Err(not_until) => not_until,
        };
        let until = refused.earliest_possible();
        let new_burst = self.lock().insert(*key, until).is_none();
        Some(Started {
            wait: until.duration_since(now).into(),
            new_burst,
        })
    }

    /// Forgets keys whose limiter state is indistinguishable from a fresh one, and served
    /// penalties.
    pub(crate) fn prune(&self, now: C::Instant) {
        self.failures.retain_recent();
        self.failures.shrink_to_fit();
        let mut penalties = self.lock();
        penalties.retain(|_, until| *until > now);
        penalties.shrink_to_fit();
    }

    /// Keys held by the limiter and the penalty list.
    pub(crate) fn len(&self) -> usize {
        self.failures.len() + self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, C::Instant>> {
        // A panic while holding this lock leaves a plain map behind; keep using it.
        self.penalties.lock().unwrap_or_else(|e| e.into_inner())
    }
}
