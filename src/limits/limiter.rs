//! The keyed GCRA limiters (every verify, upstream-bound verifies) and the two lockouts
//! (failed verifies, failed admin authentications), without HTTP so that they can be tested
//! with a fake clock.

use std::net::IpAddr;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::lockout::{Lockout, Started};
use crate::config::{LimitsSettings, Rate};

pub(crate) type KeyedLimiter<C> =
    RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, C, StateInformationMiddleware>;

/// Which limit refused a request; also the metric label and the RateLimit policy name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    Verify,
    FailedVerify,
    /// Verifies that must spend upstream budget (incrementing or uncacheable ones).
    UpstreamVerify,
    /// Admin calls from a client that spent its failed admin authentications.
    AdminAuth,
}

impl Limit {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::FailedVerify => "failed_verify",
            Self::UpstreamVerify => "upstream_verify",
            Self::AdminAuth => "admin_auth",
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

/// Every limiter and lockout, keyed by client (see `client_ip::limit_key`).
pub(crate) struct Limiters<C: Clock = DefaultClock> {
    verify: KeyedLimiter<C>,
    failed: Lockout<C>,
    upstream: KeyedLimiter<C>,
    /// The same upstream-verify limit per IPv6 /48: a site holds 65,536 /64s, each of which
    /// would otherwise have a share of its own.
    upstream_site: KeyedLimiter<C>,
    admin: Lockout<C>,
    verify_rate: Rate,
    clock: C,
}

impl<C: Clock + Clone> Limiters<C> {
    pub(crate) fn new(settings: &LimitsSettings, clock: C) -> Self {
        Self {
            verify: keyed(settings.verify_per_ip, clock.clone()),
            failed: Lockout::new(settings.failed_verify_per_ip, clock.clone()),
            upstream: keyed(settings.upstream_verify_per_ip, clock.clone()),
            upstream_site: keyed(settings.upstream_verify_per_ip, clock.clone()),
            admin: Lockout::new(settings.failed_admin_auth_per_ip, clock.clone()),
            verify_rate: settings.verify_per_ip,
            clock,
        }
    }

    /// Spends a verify cell for `key`, unless the key is serving a failed-verify penalty.
    pub(crate) fn admit(&self, key: &IpAddr) -> Result<Admitted, Refused> {
        if let Some(wait) = self.failed.penalty(key, self.clock.now()) {
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
    /// IPv6 clients are counted per /64 (`key`) and per /48 as well.
    pub(crate) fn admit_upstream(&self, key: &IpAddr) -> Result<(), Refused> {
        let refused = |not_until: governor::NotUntil<C::Instant>| Refused {
            limit: Limit::UpstreamVerify,
            wait: not_until.wait_time_from(self.clock.now()),
        };
        if let Some(site) = ipv6_site(key) {
            self.upstream_site.check_key(&site).map_err(refused)?;
        }
        self.upstream.check_key(key).map(|_| ()).map_err(refused)
    }

    /// Spends a failed-verify cell; when that empties the limiter, the key is refused
    /// everything until the limiter's own "not until".
    pub(crate) fn record_failure(&self, key: &IpAddr) {
        self.failed.record(key, self.clock.now());
    }

    /// Refuses admin authentication to a key serving a failed-admin-auth penalty; spends
    /// nothing, so that it can be asked before any token is compared.
    pub(crate) fn admit_admin(&self, key: &IpAddr) -> Result<(), Refused> {
        match self.admin.penalty(key, self.clock.now()) {
            Some(wait) => Err(Refused {
                limit: Limit::AdminAuth,
                wait,
            }),
            None => Ok(()),
        }
    }

    /// Spends a failed-admin-auth cell; `Some` when that starts a penalty.
    pub(crate) fn record_admin_failure(&self, key: &IpAddr) -> Option<Started> {
        self.admin.record(key, self.clock.now())
    }

    /// Forgets keys whose state is indistinguishable from a fresh one, and served penalties.
    pub(crate) fn prune(&self) {
        self.verify.retain_recent();
        self.verify.shrink_to_fit();
        self.upstream.retain_recent();
        self.upstream.shrink_to_fit();
        self.upstream_site.retain_recent();
        self.upstream_site.shrink_to_fit();
        let now = self.clock.now();
        self.failed.prune(now);
        self.admin.prune(now);
    }

    /// Keys held by every limiter and penalty list (for tests and the prune log).
    pub(crate) fn len(&self) -> usize {
        self.verify.len()
            + self.failed.len()
            + self.upstream.len()
            + self.upstream_site.len()
            + self.admin.len()
    }

    fn admitted(&self, remaining: u32) -> Admitted {
        let spent = self.verify_rate.count.get().saturating_sub(remaining);
        Admitted {
            remaining,
            reset: emission_interval(self.verify_rate) * spent,
        }
    }
}

/// `count` per `period` with a burst of `count`: one cell comes back every `period / count`.
pub(crate) fn keyed<C: Clock>(rate: Rate, clock: C) -> KeyedLimiter<C> {
    let quota = Quota::with_period(emission_interval(rate))
        .expect("the emission interval is at least 1 ns")
        .allow_burst(rate.count);
    RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock)
}

fn emission_interval(rate: Rate) -> Duration {
    (rate.period / rate.count.get()).max(Duration::from_nanos(1))
}

/// The /48 an IPv6 key belongs to; `None` for IPv4.
fn ipv6_site(key: &IpAddr) -> Option<IpAddr> {
    match key {
        IpAddr::V6(v6) => {
            let prefix = u128::from(*v6) & (u128::MAX << 80);
            Some(IpAddr::V6(std::net::Ipv6Addr::from(prefix)))
        }
        IpAddr::V4(_) => None,
    }
}
