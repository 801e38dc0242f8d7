//! The link to Redis: one multiplexed connection that reconnects by itself (redis-rs's
//! `ConnectionManager`, created lazily so a replica starts while Redis is down), with short
//! timeouts so a wedged or absent Redis costs an upstream call a quarter of a second at most,
//! once: after a failure the link is taken as down and not tried again for [`RETRY_AFTER`],
//! and callers use their fallback meanwhile.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;

use crate::metrics::Metrics;

/// Longest one Redis command (or connecting) may take before the link counts as down.
const TIMEOUT: Duration = Duration::from_millis(250);

/// How long a link found down is left alone before the next try.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A cheap-to-clone handle on the Redis connection and what is known of its health.
#[derive(Clone)]
pub struct RedisLink {
    conn: ConnectionManager,
    /// When the link was last found down, until it is found up again.
    down: Arc<Mutex<Option<Instant>>>,
    metrics: Arc<Metrics>,
}

/// A client for `url`; with `ca` (PEM), a `rediss://` server's certificate is verified against
/// those CAs instead of the system's roots. The certificate is always verified. Errors never
/// include the URL (it may carry a password).
pub fn client(url: &str, ca: Option<&[u8]>) -> Result<redis::Client, redis::RedisError> {
    // rustls builds its client config when a TLS connection is made: the process's provider
    // (ring) must be there first, whatever else enabled.
    crate::tls::install_crypto_provider();
    match ca {
        None => redis::Client::open(url),
        Some(pem) => redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.to_vec()),
            },
        ),
    }
}

impl RedisLink {
    /// Prepares the connection of `client`; nothing is sent until the first command.
    pub fn new(client: redis::Client, metrics: Arc<Metrics>) -> Result<Self, redis::RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(TIMEOUT);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        metrics.redis_up.set(1);
        Ok(Self {
            conn,
            down: Arc::new(Mutex::new(None)),
            metrics,
        })
    }

    /// Runs `command` on the connection, or answers `None` at once while the link is down (and
    /// was found so less than [`RETRY_AFTER`] ago). A failure or a timeout marks it down; a
    /// success marks it up.
    pub async fn run<T, F, Fut>(&self, command: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let now = Instant::now();
        if self
            .down_since()
            .is_some_and(|since| now < since + RETRY_AFTER)
        {
            return None;
        }
        match tokio::time::timeout(TIMEOUT, command(self.conn.clone())).await {
            Ok(Ok(value)) => {
                self.mark(None);
                Some(value)
            }
            Ok(Err(e)) => {
                self.mark_down(now, &e.to_string());
                None
            }
            Err(_) => {
                self.mark_down(now, "timed out");
                None
            }
        }
    }

    /// Whether the last command reached Redis.
    pub fn is_up(&self) -> bool {
        self.down_since().is_none()
    }

    fn down_since(&self) -> Option<Instant> {
        *self.down.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mark_down(&self, now: Instant, error: &str) {
        let was_up = self.down_since().is_none();
        self.mark(Some(now));
        if was_up {
            tracing::warn!(
                error,
                "Redis cannot be reached: falling back to this replica's share of the budget"
            );
        }
    }

    fn mark(&self, down: Option<Instant>) {
        let mut slot = self.down.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() && down.is_none() {
            tracing::info!("Redis reached again: the budget is shared again");
        }
        *slot = down;
        self.metrics.redis_up.set(i64::from(down.is_none()));
    }
}
