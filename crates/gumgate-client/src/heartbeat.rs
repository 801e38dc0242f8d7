//! The heartbeat task: beats every interval the server names (`heartbeat.interval_secs`), retries an
//! unreachable server sooner with a bounded backoff (the seat is kept until the deadline, which
//! is an interval plus a grace away), refreshes the token hourly when the product has no
//! heartbeats, and stops when the machine or license was refused for good.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::{Client, ClientError, Outcome};

/// The first retry after a failed beat; doubled per failure up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(5);
const MAX_RETRY: Duration = Duration::from_secs(300);
/// How often to refresh the token when the product has no heartbeats.
const IDLE_INTERVAL: Duration = Duration::from_secs(3600);

/// The running task; dropping it (or [`HeartbeatTask::stop`]) stops the beats.
#[derive(Debug)]
pub struct HeartbeatTask {
    handle: JoinHandle<()>,
}

impl HeartbeatTask {
    pub fn stop(self) {
        self.handle.abort();
    }

    /// Whether it stopped by itself (a final refusal).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl Drop for HeartbeatTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

pub(crate) fn spawn(
    client: Arc<Client>,
    on_beat: impl Fn(&Result<Outcome, ClientError>) + Send + Sync + 'static,
) -> HeartbeatTask {
    let handle = tokio::spawn(async move {
        let mut failures = 0u32;
        loop {
            let beat = client.heartbeat().await;
            on_beat(&beat);
            let wait = match &beat {
                Ok(Outcome::Granted(granted)) => {
                    failures = 0;
                    match &granted.heartbeat {
                        // The interval, not next_at minus this clock: a clock behind the
                        // server's by more than the grace would otherwise beat late every time.
                        Some(next) => Duration::from_secs(next.interval_secs.max(1)),
                        // No heartbeats for this product: still refresh the token hourly, so a
                        // long-running app never runs on an expiring one (as the TypeScript
                        // client does).
                        None => IDLE_INTERVAL,
                    }
                }
                // A refusal about the license or this machine is final; a limit is not.
                Ok(Outcome::Denied(denial)) if !denial.code.is_transient() => return,
                Ok(Outcome::Denied(denial)) => {
                    failures = failures.saturating_add(1);
                    denial.retry_after.unwrap_or_else(|| retry(failures))
                }
                // Offline or an error: try again sooner than an interval.
                Ok(Outcome::Offline(_)) | Err(_) => {
                    failures = failures.saturating_add(1);
                    retry(failures)
                }
            };
            tokio::time::sleep(wait).await;
        }
    });
    HeartbeatTask { handle }
}

/// 5 s, 10 s, 20 s ... up to 5 minutes.
fn retry(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << exp).min(MAX_RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_five_minutes() {
        assert_eq!(retry(1), Duration::from_secs(5));
        assert_eq!(retry(3), Duration::from_secs(20));
        assert_eq!(retry(30), MAX_RETRY);
    }
}
