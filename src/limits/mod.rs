//! Inbound per-client-IP limits on the public license routes: one on every verify, a stricter
//! one on failed (404) verifies against license-key guessing. And one on failed admin
//! authentications against admin-token guessing, which the `Admin` extractor asks before it
//! compares any token. Refusals are 429 in Gumroad's error shape with `Retry-After` and the
//! IETF RateLimit fields.
//!
//! Memory: each limiter holds one small entry (key and a timestamp) per client key seen
//! recently. A background task drops, every [`PRUNE_EVERY`], the entries that are
//! indistinguishable from a fresh client (no cell spent within the limit's period) and the
//! penalties already served, so the tables hold at most the keys active within the last
//! period plus [`PRUNE_EVERY`]. IPv6 is keyed by /64, which keeps a single subscriber from
//! minting keys; a flood from many distinct real addresses still costs tens of bytes each
//! until the next prune.

mod client_ip;
mod headers;
mod limiter;
mod lockout;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{Extensions, HeaderMap, HeaderValue, StatusCode};
use ipnet::IpNet;
use tokio_util::sync::CancellationToken;

use crate::config::LimitsSettings;
use crate::metrics::Metrics;
use limiter::{Limit, Limiters, Refused};

/// How often idle limiter entries are dropped.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The per-IP limits; cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct InboundLimits {
    inner: Arc<Inner>,
}

struct Inner {
    limiters: Limiters,
    /// Refusals since the last summary line.
    refused: AtomicU64,
    trusted_proxies: Vec<IpNet>,
    metrics: Arc<Metrics>,
    /// `RateLimit-Policy`, the same on every answer of the public routes.
    policy: HeaderValue,
    /// `RateLimit-Policy` of the admin-authentication refusals.
    admin_policy: HeaderValue,
}

impl InboundLimits {
    /// Builds the limiters; [`InboundLimits::prune_until`] keeps them small.
    pub fn new(
        settings: &LimitsSettings,
        trusted_proxies: Vec<IpNet>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (verify, failed) = (settings.verify_per_ip, settings.failed_verify_per_ip);
        let upstream = settings.upstream_verify_per_ip;
        let inner = Arc::new(Inner {
            limiters: Limiters::new(settings, Default::default()),
            refused: AtomicU64::new(0),
            trusted_proxies,
            metrics,
            policy: headers::policy(verify, failed, upstream),
            admin_policy: headers::admin_policy(settings.failed_admin_auth_per_ip),
        });
        Self { inner }
    }

    /// Drops idle entries every [`PRUNE_EVERY`] until `stop` (a task `Application::run` owns).
    pub async fn prune_until(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(PRUNE_EVERY);
        // The first tick is immediate and there is nothing to prune yet.
        tick.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            self.inner.limiters.prune();
            tracing::debug!(keys = self.inner.limiters.len(), "pruned inbound limiters");
            let refused = self.take_refused();
            if refused > 0 {
                tracing::warn!(
                    refused,
                    "requests refused by per-IP limits in the last minute"
                );
            }
        }
    }

    /// The client's IP: the socket peer, or — only when the peer is a trusted proxy — the
    /// rightmost X-Forwarded-For entry that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        client_ip::client_ip(&self.inner.trusted_proxies, peer, headers)
    }

    /// Spends the client's share of upstream-bound verifies; `Some(429)` when it is used up (a
    /// request that did not pass `enforce` is not limited here).
    pub fn upstream_refusal(&self, client: Option<ClientKey>) -> Option<Response> {
        let ClientKey(key) = client?;
        let refused = self.inner.limiters.admit_upstream(&key).err()?;
        Some(self.refuse(refused))
    }

    /// Refusals since the last call (the summary line's count).
    pub fn take_refused(&self) -> u64 {
        self.inner.refused.swap(0, Ordering::Relaxed)
    }

    /// The limit key of the client that sent a request with these extensions and headers.
    pub fn client_key(&self, extensions: &Extensions, headers: &HeaderMap) -> ClientKey {
        ClientKey(client_ip::limit_key(
            self.client_ip(peer(extensions), headers),
        ))
    }

    /// `Some(429)` when this client has spent its failed admin authentications; spends
    /// nothing, so the `Admin` extractor asks it before comparing any token.
    pub fn admin_refusal(&self, client: ClientKey) -> Option<Response> {
        let refused = self.inner.limiters.admit_admin(&client.0).err()?;
        Some(self.refuse(refused))
    }

    /// A failed admin authentication by this client. The one that spends its last attempt
    /// locks the client out, said in one log line per burst (a guesser is locked out again
    /// every time an attempt comes back).
    pub fn admin_failed(&self, client: ClientKey) {
        let Some(started) = self.inner.limiters.record_admin_failure(&client.0) else {
            return;
        };
        if started.new_burst {
            // No address, as for every refusal: the metric counts, the log says it began.
            tracing::warn!(
                retry_after_secs = headers::whole_seconds(started.wait),
                "repeated failed admin authentications: that client's admin calls are refused"
            );
        }
    }

    fn refuse(&self, refused: Refused) -> Response {
        let label = refused.limit.label();
        self.inner
            .metrics
            .inbound_limited
            .with_label_values(&[label])
            .inc();
        // No address here: logs are kept longer and read more widely than this decision needs.
        tracing::debug!(
            limit = label,
            retry_after_secs = headers::whole_seconds(refused.wait),
            "inbound request refused by a per-IP limit"
        );
        self.inner.refused.fetch_add(1, Ordering::Relaxed);
        let policy = match refused.limit {
            Limit::AdminAuth => &self.inner.admin_policy,
            _ => &self.inner.policy,
        };
        let mut response = headers::too_many_requests(policy, refused);
        // Counted and summed up once a minute rather than logged one line each.
        response.extensions_mut().insert(LimitedResponse);
        response
    }
}

/// A response extension marking a per-IP refusal, which gets no access log line of its own.
#[derive(Debug, Clone, Copy)]
pub struct LimitedResponse;

/// A request extension naming the client's limit key, set by [`enforce`] for the handlers.
#[derive(Debug, Clone, Copy)]
pub struct ClientKey(IpAddr);

/// A response extension saying "this answer tells a guesser the key is wrong", for routes whose
/// status for that is not 404.
#[derive(Debug, Clone, Copy)]
pub struct FailedAttempt;

/// axum middleware for the public license routes (used as
/// `router.route_layer(axum::middleware::from_fn_with_state(limits, limits::enforce))`).
pub async fn enforce(State(limits): State<InboundLimits>, req: Request, next: Next) -> Response {
    let ClientKey(key) = limits.client_key(req.extensions(), req.headers());
    let admitted = match limits.inner.limiters.admit(&key) {
        Ok(admitted) => admitted,
        Err(refused) => return limits.refuse(refused),
    };
    let mut req = req;
    req.extensions_mut().insert(ClientKey(key));
    let mut response = next.run(req).await;
    // 404 is Gumroad's "does not exist / disabled / revoked": what a key guesser mostly sees;
    // other routes (the activation API answers such denials with 403) mark theirs explicitly.
    if response.status() == StatusCode::NOT_FOUND
        || response.extensions().get::<FailedAttempt>().is_some()
    {
        limits.inner.limiters.record_failure(&key);
    }
    headers::annotate(response.headers_mut(), &limits.inner.policy, admitted);
    response
}

/// The socket peer. Without ConnectInfo (a router driven by `oneshot` in tests) there is no
/// socket; such callers are local, so they count as 127.0.0.1.
fn peer(extensions: &Extensions) -> SocketAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), |c| c.0)
}
