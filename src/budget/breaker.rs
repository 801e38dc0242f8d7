//! The circuit breaker: stop spending budget on an upstream that keeps failing, then let one
//! probe call find out whether it has recovered.

use std::time::Duration;

use prometheus::IntGauge;
use tokio::time::Instant;

use super::{CircuitState, Outcome};

/// How long to tell callers to wait while the probe is out. The probe's own answer is what
/// decides; one second is the smallest wait a `Retry-After` header can express.
const PROBE_RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_out: bool },
}

/// Breaker state; it lives inside the budget's lock, so it needs none of its own.
#[derive(Debug)]
pub(super) struct Breaker {
    phase: Phase,
    threshold: u32,
    cooldown: Duration,
    gauge: IntGauge,
}

impl Breaker {
    pub(super) fn new(threshold: u32, cooldown: Duration, gauge: IntGauge) -> Self {
        gauge.set(0);
        Self {
            phase: Phase::Closed { failures: 0 },
            threshold: threshold.max(1),
            cooldown,
            gauge,
        }
    }

    /// The state at `now`; an expired open period turns half-open here, lazily, because
    /// nothing needs the change before someone asks.
    pub(super) fn state(&mut self, now: Instant) -> CircuitState {
        if let Phase::Open { until } = self.phase
            && now >= until
        {
            self.set(Phase::HalfOpen { probe_out: false });
        }
        match self.phase {
            Phase::Closed { .. } => CircuitState::Closed,
            Phase::HalfOpen { .. } => CircuitState::HalfOpen,
            Phase::Open { .. } => CircuitState::Open,
        }
    }

    /// `Ok` when a call may be granted now, else how long the caller should stay away.
    pub(super) fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        self.state(now);
        match self.phase {
            Phase::Closed { .. } | Phase::HalfOpen { probe_out: false } => Ok(()),
            Phase::Open { until } => Err(until - now),
            Phase::HalfOpen { probe_out: true } => Err(PROBE_RETRY_AFTER),
        }
    }

    /// Records a grant that `admit` allowed; returns whether it is the half-open probe.
    pub(super) fn grant(&mut self) -> bool {
        let probe = self.phase == Phase::HalfOpen { probe_out: false };
        if probe {
            self.phase = Phase::HalfOpen { probe_out: true };
        }
        probe
    }

    /// Applies how a call ended. Outside `Closed`, only the probe counts: calls granted
    /// before the circuit opened say nothing about whether upstream has recovered since.
    pub(super) fn record(&mut self, now: Instant, probe: bool, outcome: Outcome) {
        match (self.phase, probe, outcome) {
            (Phase::Closed { .. }, false, Outcome::Success) => {
                self.phase = Phase::Closed { failures: 0 }
            }
            (Phase::Closed { failures }, false, Outcome::Failure) => self.fail(now, failures + 1),
            (Phase::HalfOpen { probe_out: true }, true, Outcome::Success) => {
                self.set(Phase::Closed { failures: 0 })
            }
            (Phase::HalfOpen { probe_out: true }, true, Outcome::Failure) => self.open(now),
            // A throttled probe proves nothing either way; the 429 pause delays the next one.
            (Phase::HalfOpen { probe_out: true }, true, Outcome::Throttled { .. }) => {
                self.set(Phase::HalfOpen { probe_out: false })
            }
            _ => {}
        }
    }

    /// Closes the circuit now (an operator's call); returns the state it was in. A probe still
    /// out is harmless: outside half-open its outcome is ignored.
    pub(super) fn close(&mut self, now: Instant) -> CircuitState {
        let was = self.state(now);
        if was == CircuitState::Closed {
            self.phase = Phase::Closed { failures: 0 };
        } else {
            self.set(Phase::Closed { failures: 0 });
        }
        was
    }

    /// The probe's permit was dropped without an outcome: let another probe go.
    pub(super) fn abandon_probe(&mut self) {
        if self.phase == (Phase::HalfOpen { probe_out: true }) {
            self.set(Phase::HalfOpen { probe_out: false });
        }
    }

    fn fail(&mut self, now: Instant, failures: u32) {
        if failures >= self.threshold {
            self.open(now);
        } else {
            self.phase = Phase::Closed { failures };
        }
    }

    fn open(&mut self, now: Instant) {
        self.set(Phase::Open {
            until: now + self.cooldown,
        });
    }

    fn set(&mut self, phase: Phase) {
        let was = self.phase;
        self.phase = phase;
        match phase {
            Phase::Open { .. } => {
                self.gauge.set(2);
                tracing::warn!(cooldown = ?self.cooldown, "upstream circuit opened");
            }
            Phase::HalfOpen { .. } if matches!(was, Phase::Open { .. }) => {
                self.gauge.set(1);
                tracing::info!("upstream circuit half-open: one probe call allowed");
            }
            Phase::HalfOpen { .. } => tracing::debug!("upstream probe slot free again"),
            Phase::Closed { .. } => {
                self.gauge.set(0);
                tracing::info!("upstream circuit closed");
            }
        }
    }
}
