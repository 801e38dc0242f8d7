//! Who gets the next slot. Waiters queue per priority; the head of the highest non-empty
//! queue takes its own slot when the GCRA allows it, so a waiter that is gone (its future
//! dropped) can never be handed a slot, and no dispatcher task is needed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::breaker::Breaker;
use super::gcra::Gcra;
use super::pause::Pause;
use super::{DenyReason, Priority};

/// A queued acquire: its id, and how to wake it when its turn may have come.
#[derive(Debug)]
struct Waiter {
    id: u64,
    notify: Arc<Notify>,
}

/// What an acquire should do next.
#[derive(Debug)]
pub(super) enum Turn {
    /// Go now; `probe` marks the single half-open probe.
    Granted {
        probe: bool,
    },
    Denied(DenyReason, Duration),
    /// Queued with this id; wait on the `Notify`.
    Queued(u64, Arc<Notify>),
    /// Still queued; look again at this instant or when notified.
    Wait(Instant),
}

/// Everything the budget decides from, behind one lock that is never held across `.await`.
#[derive(Debug)]
pub(super) struct State {
    pub(super) gcra: Gcra,
    pub(super) pause: Pause,
    pub(super) breaker: Breaker,
    /// Indexed by `Priority::rank`: public, admin, background.
    queues: [VecDeque<Waiter>; 3],
    next_id: u64,
}

impl State {
    pub(super) fn new(gcra: Gcra, pause: Pause, breaker: Breaker) -> Self {
        Self {
            gcra,
            pause,
            breaker,
            queues: Default::default(),
            next_id: 0,
        }
    }

    /// A new acquire: granted at once (the fast path), denied at once, or queued.
    pub(super) fn arrive(&mut self, now: Instant, priority: Priority, deadline: Instant) -> Turn {
        if let Some((reason, wait)) = self.blocked(now, deadline) {
            return Turn::Denied(reason, wait);
        }
        let ahead = self.queues[..=priority.rank()]
            .iter()
            .map(VecDeque::len)
            .sum();
        let at = self.slot(now, ahead);
        if ahead == 0 && at <= now {
            return self.grant(now);
        }
        if at > deadline {
            // Hopeless already: answer now rather than make the caller wait to be refused.
            return Turn::Denied(DenyReason::Budget, at - now);
        }
        let notify = Arc::new(Notify::new());
        let id = self.next_id;
        self.next_id += 1;
        self.queues[priority.rank()].push_back(Waiter {
            id,
            notify: notify.clone(),
        });
        Turn::Queued(id, notify)
    }

    /// A queued acquire looks again: granted, denied, or told when to look next.
    pub(super) fn poll(
        &mut self,
        now: Instant,
        priority: Priority,
        id: u64,
        deadline: Instant,
    ) -> Turn {
        if let Some((reason, wait)) = self.blocked(now, deadline) {
            self.leave(priority, id);
            return Turn::Denied(reason, wait);
        }
        let Some(position) = self.position(priority, id) else {
            return Turn::Denied(DenyReason::Budget, self.gcra.interval());
        };
        let at = self.slot(now, position);
        if position == 0 && at <= now {
            self.leave(priority, id);
            return self.grant(now);
        }
        if at > deadline || now >= deadline {
            self.leave(priority, id);
            let wait = if at > now {
                at - now
            } else {
                self.gcra.interval()
            };
            return Turn::Denied(DenyReason::Budget, wait);
        }
        Turn::Wait(if position == 0 { at } else { deadline })
    }

    /// Removes a waiter (granted, denied or dropped) and wakes whoever is head now.
    pub(super) fn leave(&mut self, priority: Priority, id: u64) {
        let queue = &mut self.queues[priority.rank()];
        if let Some(i) = queue.iter().position(|w| w.id == id) {
            queue.remove(i);
            if let Some(head) = self.queues.iter().find_map(VecDeque::front) {
                head.notify.notify_one();
            }
        }
    }

    /// How many acquires wait in the queue of `priority`.
    pub(super) fn queued(&self, priority: Priority) -> usize {
        self.queues[priority.rank()].len()
    }

    /// Wakes every waiter to re-check: the pause or the circuit changed under them.
    pub(super) fn notify_all(&self) {
        for waiter in self.queues.iter().flatten() {
            waiter.notify.notify_one();
        }
    }

    /// Refusals that apply whatever the queue: an open circuit, or a pause past the deadline.
    fn blocked(&mut self, now: Instant, deadline: Instant) -> Option<(DenyReason, Duration)> {
        if let Err(wait) = self.breaker.admit(now) {
            return Some((DenyReason::CircuitOpen, wait));
        }
        let resume = self.pause.resume_at(now);
        (resume > deadline).then(|| (DenyReason::Paused, resume - now))
    }

    /// When the call with `ahead` calls before it could go.
    fn slot(&self, now: Instant, ahead: usize) -> Instant {
        let ahead = u32::try_from(ahead).unwrap_or(u32::MAX);
        self.gcra.nth_slot(now, ahead, self.pause.resume_at(now))
    }

    fn position(&self, priority: Priority, id: u64) -> Option<usize> {
        let higher: usize = self.queues[..priority.rank()]
            .iter()
            .map(VecDeque::len)
            .sum();
        let own = self.queues[priority.rank()]
            .iter()
            .position(|w| w.id == id)?;
        Some(higher + own)
    }

    fn grant(&mut self, now: Instant) -> Turn {
        self.gcra.take(now);
        let probe = self.breaker.grant();
        if probe {
            // Everyone else queued in half-open is refused now, not at their deadline.
            self.notify_all();
        }
        Turn::Granted { probe }
    }
}
