//! Cluster mode: what replicas share through Redis when `redis.url` is set.
//!
//! Answers are shared ([`SharedAnswers`], Redis as a second level behind each replica's
//! cache). Invalidations reach every replica ([`Invalidations`], a Redis Stream). And the upstream
//! budget ([`SharedBudget`]): one GCRA spacing and one 429 pause per
//! Maton API key across every replica, booked on Redis's clock by a Lua script, with a local
//! fallback at `redis.fallback_share` of the rate while Redis cannot be reached. Each replica
//! keeps its own local budget in front of it (priorities, the circuit breaker, its own view
//! of the pause), so a call first takes its local turn, then books its cluster slot.

mod answers;
mod budget;
mod invalidations;
pub mod redis_conn;

#[cfg(test)]
mod tests;

pub use answers::{Found, Lease, SharedAnswers};
pub use budget::{Booked, SharedBudget};
pub use invalidations::{Invalidation, Invalidations, Streams};
pub use redis_conn::RedisLink;
