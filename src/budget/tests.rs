//! Tests of the budget as a whole, on a paused tokio clock.
