//! The Generic Cell Rate Algorithm: one theoretical arrival time (TAT) decides when the next
//! call may go, so the budget needs no window of timestamps and no refill task.

use std::time::Duration;

use tokio::time::Instant;

/// Spacing state for one shared budget.
#[derive(Debug)]
pub(super) struct Gcra {
    /// Emission interval T: the distance between calls once the burst is spent.
    interval: Duration,
    /// How far ahead of the TAT a call may go: (burst - 1) * T.
    tolerance: Duration,
    /// `None` until the first grant, so `new()` never needs a clock (it may run outside tokio).
    tat: Option<Instant>,
}

impl Gcra {
    /// T = 1s / rate + margin; tolerance = (burst - 1) * T. Zeroes are raised to 1 because a
    /// zero rate would divide by zero and a zero burst would never admit anything.
    pub(super) fn new(rate: u32, burst: u32, margin: Duration) -> Self {
        let interval = Duration::from_secs(1) / rate.max(1) + margin;
        Self {
            interval,
            tolerance: interval * (burst.max(1) - 1),
            tat: None,
        }
    }

    pub(super) fn interval(&self) -> Duration {
        self.interval
    }

    /// When the `n`th call from now (0 = the next) could go, given nothing may go before
    /// `not_before` (a 429 pause). After a pause the burst is available again, as after idle.
    pub(super) fn nth_slot(&self, now: Instant, n: u32, not_before: Instant) -> Instant {
        let start = now.max(not_before);
        let tat = self.tat.map_or(start, |t| t.max(start));
        let at = tat + self.interval * n;
        at.checked_sub(self.tolerance).unwrap_or(at).max(start)
    }

    /// Spends one slot at `now`; callers only do so when `nth_slot(now, 0, ..) <= now`.
    pub(super) fn take(&mut self, now: Instant) {
        let tat = self.tat.map_or(now, |t| t.max(now));
        self.tat = Some(tat + self.interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_one_spaces_every_call() {
        let mut g = Gcra::new(10, 1, Duration::from_millis(10));
        let now = Instant::now();
        assert_eq!(g.nth_slot(now, 0, now), now);
        g.take(now);
        assert_eq!(g.nth_slot(now, 0, now), now + Duration::from_millis(110));
        assert_eq!(g.nth_slot(now, 2, now), now + Duration::from_millis(330));
    }

    #[test]
    fn burst_allows_back_to_back_after_idle() {
        let mut g = Gcra::new(10, 3, Duration::ZERO);
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(g.nth_slot(now, 0, now), now);
            g.take(now);
        }
        assert_eq!(g.nth_slot(now, 0, now), now + Duration::from_millis(100));
    }
}
