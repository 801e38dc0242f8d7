//! Offline grace: an activation whose last good decision is recent keeps validating while
//! upstream is unavailable, so a paying user works through a Gumroad or Maton outage. The
//! grace never outlives a revocation Gumgate already knows of (a ping or the reconciler said
//! the license stopped unlocking).

use std::time::Duration;

use super::Code;
use crate::store::Activation;

/// Whether `a` may validate offline at `now` (unix seconds) within `grace`.
pub fn within(a: &Activation, grace: Duration, now: i64) -> bool {
    let revoked = a
        .last_code
        .as_deref()
        .is_some_and(|c| c != Code::Valid.as_str() && c != Code::UpstreamUnavailable.as_str());
    !revoked
        && a.last_good_at
            .is_some_and(|at| now.saturating_sub(at) <= secs(grace))
}

/// When `a`'s grace runs out (unix seconds).
pub fn until(a: &Activation, grace: Duration) -> i64 {
    a.last_good_at
        .unwrap_or_default()
        .saturating_add(secs(grace))
}

/// A duration in whole seconds, as the store's unix times count (saturating).
pub fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
