//! The budget's public value types: priorities, settings, outcomes and refusals.

use std::time::Duration;

/// Who is asking: the order in which waiting calls get slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// App-facing license calls: first.
    Public,
    /// Admin passthrough: next.
    Admin,
    /// Refresh and reconciliation: only from spare capacity.
    Background,
}

impl Priority {
    /// The metric label: `public`, `admin` or `background`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Admin => "admin",
            Self::Background => "background",
        }
    }

    /// Queue index; lower goes first.
    pub(super) fn rank(self) -> usize {
        match self {
            Self::Public => 0,
            Self::Admin => 1,
            Self::Background => 2,
        }
    }
}

/// The budget's knobs, taken from `[upstream]` (documented in `config/default.toml`).
#[derive(Debug, Clone)]
pub struct BudgetSettings {
    /// Upstream calls per second.
    pub rate_limit: u32,
    /// Calls that may go back to back after an idle spell.
    pub burst: u32,
    /// Added to each spacing interval against arrival jitter.
    pub spacing_margin: Duration,
    /// Consecutive failures that open the circuit.
    pub breaker_failures: u32,
    /// How long the circuit stays open before a probe.
    pub breaker_cooldown: Duration,
    /// Cap of the backoff after a 429 without `Retry-After`.
    pub backoff_max: Duration,
    /// Longest pause one 429 can order, its `Retry-After` included.
    pub max_pause: Duration,
}

impl From<&crate::config::UpstreamSettings> for BudgetSettings {
    fn from(u: &crate::config::UpstreamSettings) -> Self {
        Self {
            rate_limit: u.rate_limit,
            burst: u.burst,
            spacing_margin: u.spacing_margin,
            breaker_failures: u.breaker_failures,
            breaker_cooldown: u.breaker_cooldown,
            backoff_max: u.backoff_max,
            max_pause: u.max_pause,
        }
    }
}

/// How an upstream call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Any answer that is neither a failure nor a 429.
    Success,
    /// Transport error, timeout, 502/503/504.
    Failure,
    /// A 429, with its parsed `Retry-After` if it had one.
    Throttled { retry_after: Option<Duration> },
}

/// A call refused budget, and when asking again could succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no upstream budget: {reason:?}, retry after {retry_after:?}")]
pub struct Denied {
    pub reason: DenyReason,
    pub retry_after: Duration,
}

/// Why a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// No slot within the caller's `max_wait`.
    Budget,
    /// A 429 pause lasts longer than the caller's `max_wait`.
    Paused,
    /// The circuit breaker is open, or its one probe is out.
    CircuitOpen,
    /// A first-time license key found no room in its share of the budget within `max_wait`
    /// (`upstream.known_share`).
    FirstTimeShare,
}

impl DenyReason {
    /// The metric label: `budget`, `paused`, `circuit_open` or `first_time_share`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Budget => "budget",
            Self::Paused => "paused",
            Self::CircuitOpen => "circuit_open",
            Self::FirstTimeShare => "first_time_share",
        }
    }
}

/// The circuit breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    HalfOpen,
    Open,
}

impl CircuitState {
    /// The wire form: `closed`, `half_open` or `open`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half_open",
            Self::Open => "open",
        }
    }
}

/// What [`Budget::resume`](super::Budget::resume) cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resumed {
    /// What was left of a 429 pause, if one was on.
    pub pause_left: Option<Duration>,
    /// The breaker's state before it was closed.
    pub circuit: CircuitState,
}
