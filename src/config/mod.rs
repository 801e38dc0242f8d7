//! Typed, layered configuration: the compiled-in `config/default.toml`, then an optional file,
//! then `GUMGATE__SECTION__KEY` environment variables. Loading only reads; it never writes a
//! file or touches the network, and every failure names the key at fault.

mod secrets;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};
use url::Url;

pub use secrets::{Secret, Secrets};

/// The built-in defaults, every key documented there.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Prefix of configuration environment variables (`GUMGATE__SERVER__LISTEN`).
const ENV_PREFIX: &str = "GUMGATE";

/// Why configuration could not be used; the message always names the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(String),
    #[error("invalid configuration: {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("missing secret: {0} must be set in the environment (or {0}_FILE naming a file)")]
    MissingSecret(&'static str),
}

impl ConfigError {
    fn invalid(key: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key,
            reason: reason.into(),
        }
    }
}

/// All of Gumgate's non-secret settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub upstream: UpstreamSettings,
    pub cache: CacheSettings,
    pub licenses: LicensesSettings,
    pub limits: LimitsSettings,
    pub log: LogSettings,
    pub storage: StorageSettings,
    pub redis: RedisSettings,
    pub tokens: TokenSettings,
    pub policy: Policy,
    /// Per-product policy overrides, by product id.
    pub products: std::collections::BTreeMap<String, PolicyOverride>,
    pub webhooks: WebhookSettings,
    pub reconcile: ReconcileSettings,
    pub audit: AuditSettings,
    /// The file these settings were read from (besides the defaults and the environment), for
    /// the start-up record; not a setting itself.
    #[serde(skip)]
    pub source: Option<std::path::PathBuf>,
}

/// `[audit]`: the audit trail of activation changes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Entries older than this are deleted (hourly); at least a day.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

/// `[reconcile]`: the background re-check of licenses that hold activations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSettings {
    /// How often a round runs.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// A license is re-checked once its last check is older than this.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Licenses re-checked per round at most.
    pub batch: u32,
}

/// `[webhooks]`: processing of Gumroad's pings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// How often the inbox is polled for due pings.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Attempts before a ping is given up.
    pub max_attempts: u32,
    /// How long processed pings are kept.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Pings waiting to be processed at most; above it the receiver answers 503 without
    /// storing, and the reconciler re-checks every license once the inbox is back under it.
    pub max_pending: u32,
    /// The receiver's own body limit (Gumroad's pings are a few hundred bytes to a few KB);
    /// above it, 413.
    pub max_body_bytes: usize,
    /// How long a gateway holds the round of pings it claimed: a gateway that dies (killed,
    /// partitioned) leaves its pings to the others once this passes.
    #[serde(with = "humantime_serde")]
    pub claim_lease: Duration,
}

/// `[storage]`: where activations live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// `sqlite://PATH` (created if missing).
    pub database_url: String,
}

/// `[redis]`: coordination between replicas.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://...` or `rediss://...` (TLS); empty: no Redis.
    pub url: String,
    /// The share of `upstream.rate_limit` a replica uses on its own while Redis is down.
    pub fallback_share: f64,
    /// With `rediss://`: a PEM file of the CA certificates that sign Redis's certificate, trusted
    /// instead of the system's roots (a private CA); empty: the system's roots.
    #[serde(default)]
    pub ca_file: String,
}

impl RedisSettings {
    /// The URL, when one is set.
    pub fn url(&self) -> Option<&str> {
        Some(self.url.as_str()).filter(|u| !u.is_empty())
    }
}

/// `[tokens]`: activation token signing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// `iss` of every token.
    pub issuer: String,
    /// The kid that signs new tokens.
    pub active_kid: String,
    /// Every key still published in the JWKS (and retired ones, marked).
    pub keys: Vec<SigningKeySettings>,
}

/// One signing key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeySettings {
    pub kid: String,
    /// A PKCS#8 PEM file holding the Ed25519 private key.
    pub path: std::path::PathBuf,
    /// Retired keys are no longer published; tokens they signed stop verifying.
    #[serde(default)]
    pub retired: bool,
}

/// `[policy]`: what a product's licenses allow (every product unless overridden).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Seats per purchased unit.
    pub seats: u32,
    pub allow_test_purchases: bool,
    /// A token's lifetime; unset: [`Policy::token_lifetime`]'s default.
    #[serde(default, with = "humantime_serde")]
    pub token_ttl: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub offline_grace: Duration,
    #[serde(with = "humantime_serde")]
    pub payment_failed_grace: Duration,
    pub max_deactivations_per_day: u32,
    pub mirror_uses_count: bool,
    /// How often a machine should beat; zero: heartbeats off.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// How long past a missed beat a machine keeps its seat.
    #[serde(with = "humantime_serde")]
    pub heartbeat_grace: Duration,
}

/// A token's lifetime when `policy.token_ttl` is unset and heartbeats are off.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);

impl Policy {
    /// Whether machines of this product must beat to keep their seats.
    pub fn heartbeats(&self) -> bool {
        !self.heartbeat_interval.is_zero()
    }

    /// How long past its last sign of life a machine keeps its seat: interval + grace, when
    /// heartbeats are on.
    pub fn heartbeat_window(&self) -> Option<Duration> {
        self.heartbeats()
            .then(|| self.heartbeat_interval.saturating_add(self.heartbeat_grace))
    }

    /// A token's lifetime: with heartbeats, as long as the machine keeps its seat without a
    /// beat (so the offline proof ends with the seat), or `token_ttl` if shorter; else
    /// `token_ttl`, or 24 hours. Short by default: a deactivated machine's token must not run
    /// on for days.
    pub fn token_lifetime(&self) -> Duration {
        match (self.token_ttl, self.heartbeat_window()) {
            (Some(ttl), Some(window)) => ttl.min(window),
            (ttl, window) => window.or(ttl).unwrap_or(DEFAULT_TOKEN_TTL),
        }
    }
}

/// `[products."<id>"]`: any policy key, overriding the default for one product.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyOverride {
    pub seats: Option<u32>,
    pub allow_test_purchases: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    pub token_ttl: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub offline_grace: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub payment_failed_grace: Option<Duration>,
    pub max_deactivations_per_day: Option<u32>,
    pub mirror_uses_count: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    pub heartbeat_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub heartbeat_grace: Option<Duration>,
    /// Variant name (as Gumroad's verify lists it, e.g. `Premium`) -> the feature names it
    /// unlocks, matched exactly. Per product only.
    #[serde(default)]
    pub entitlements: std::collections::BTreeMap<String, Vec<String>>,
}

/// `[server]`: the listeners and limits on inbound requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address of the API listener.
    pub listen: SocketAddr,
    /// Address of the operations listener (`/metrics`, `/livez`, `/readyz`).
    pub metrics_listen: SocketAddr,
    /// Proxies whose `X-Forwarded-For` is believed.
    #[serde(deserialize_with = "ip_nets")]
    pub trusted_proxies: Vec<IpNet>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Longest a whole request may take.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long readiness is off before the listeners close on shutdown.
    #[serde(with = "humantime_serde")]
    pub shutdown_delay: Duration,
    /// How long shutdown waits for requests in progress before dropping their connections.
    #[serde(with = "humantime_serde")]
    pub shutdown_deadline: Duration,
    /// Longest a client may take to send a request head, and to start its next request on an
    /// idle keep-alive connection.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Most bytes a connection buffers while reading a request head (at least 8192).
    pub max_header_bytes: usize,
    /// Open connections allowed on the API listener.
    pub max_connections: usize,
    /// Open connections allowed on the operations listener.
    pub metrics_max_connections: usize,
    /// Browser origins allowed to call the public license API (an Electron or Tauri web view:
    /// `file://`, `app://...`, `tauri://localhost`; `null` for a page a browser opened from a
    /// file). Empty: no CORS headers, preflights refused.
    #[serde(default, deserialize_with = "trimmed_list")]
    pub cors_origins: Vec<String>,
}

/// `[upstream]`: how Maton is reached.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    /// Maton's base URL; Gumroad path P goes to `{base_url}/gumroad{P}`.
    pub base_url: Url,
    /// Default `Maton-Connection`; empty means none is sent.
    pub connection: String,
    /// Longest wait for a whole upstream answer.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Longest wait for a connection to upstream.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Upstream calls per second, shared by every caller.
    pub rate_limit: u32,
    /// Calls that may go back to back after an idle spell.
    pub burst: u32,
    /// Added to each spacing interval against arrival jitter.
    #[serde(with = "humantime_serde")]
    pub spacing_margin: Duration,
    /// Longest wait for budget.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// Retries of safe calls after a connection error or 502/503/504.
    pub max_retries: u32,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long the breaker stays open before a probe.
    #[serde(with = "humantime_serde")]
    pub breaker_cooldown: Duration,
    /// Cap of the backoff after a 429 without `Retry-After`.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Longest pause one 429 can order, whatever its `Retry-After` says.
    #[serde(with = "humantime_serde")]
    pub max_pause: Duration,
    /// Share of `rate_limit` first-time license keys may never take (0 to below 1).
    pub known_share: f64,
}

/// `[cache]`: how long answers are reused, and the memory they may take.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// Fresh lifetime of a successful non-incrementing verify answer.
    #[serde(with = "humantime_serde")]
    pub verify_ttl: Duration,
    /// Fresh lifetime of a definitive 404.
    #[serde(with = "humantime_serde")]
    pub negative_ttl: Duration,
    /// How long past freshness an answer may serve when upstream fails.
    #[serde(with = "humantime_serde")]
    pub stale_if_error: Duration,
    /// Fresh lifetime of admin sales answers.
    #[serde(with = "humantime_serde")]
    pub sales_ttl: Duration,
    /// Memory bound of all cached answers, in bytes.
    pub max_bytes: u64,
}

/// `[licenses]`: which products the public surface serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicensesSettings {
    /// Product ids public verifies may name; empty allows any.
    #[serde(deserialize_with = "trimmed_list")]
    pub allowed_products: Vec<String>,
    /// Answer Gumroad's "does not exist" locally for a key that is not four groups of eight
    /// hex digits, without spending upstream budget.
    pub require_key_shape: bool,
}

/// `[limits]`: inbound per-client-IP limits on the public surface, and on admin token guessing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSettings {
    /// Public verifies per client IP.
    pub verify_per_ip: Rate,
    /// Failed (404) verifies per client IP before the IP is refused for a while.
    pub failed_verify_per_ip: Rate,
    /// Verifies per client IP that must spend upstream budget (incrementing or uncacheable).
    pub upstream_verify_per_ip: Rate,
    /// Failed admin authentications (a missing or wrong token) per client IP before that IP's
    /// admin calls are refused for a while, right token or not.
    pub failed_admin_auth_per_ip: Rate,
}

/// A rate written `N/s`, `N/min` or `N/h`: `count` events per `period`, with a burst of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: std::num::NonZeroU32,
    pub period: Duration,
}

impl std::str::FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (n, unit) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not of the form N/s, N/min or N/h"))?;
        let count = n
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: {n:?} is not a positive whole number"))?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "min" | "m" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => return Err(format!("{s:?}: unknown unit {other:?} (use s, min or h)")),
        };
        Ok(Self { count, period })
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// `[log]`: log format and level.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `json` or `pretty`.
    pub format: LogFormat,
    /// Default `EnvFilter` directive; `RUST_LOG` wins when set.
    pub level: String,
    /// Log one access line in this many answered requests (1: every one).
    pub access_sample: u64,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// The file holding `storage.database_url` (a mounted secret), when set.
pub const DATABASE_URL_FILE: &str = "GUMGATE_DATABASE_URL_FILE";
/// The file holding `redis.url`, when set.
pub const REDIS_URL_FILE: &str = "GUMGATE_REDIS_URL_FILE";

/// A URL from a secret file, trimmed (a mounted file often ends in a newline). Errors name the
/// variable, never the contents.
fn read_url_file(var: &'static str, path: &str) -> Result<String, ConfigError> {
    let contents = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
        key: var,
        reason: format!("{path} could not be read: {}", e.kind()),
    })?;
    let url = contents.trim();
    if url.is_empty() {
        return Err(ConfigError::Invalid {
            key: var,
            reason: format!("{path} is empty"),
        });
    }
    Ok(url.to_owned())
}

impl Settings {
    /// Loads the defaults, `file` when given, and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Like [`Settings::load`] with an explicit environment, so tests never depend on the
    /// variables of the shell that runs them.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let file_of = |var: &str| {
            env.iter()
                .find(|(k, v)| k == var && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        let url_file = file_of(DATABASE_URL_FILE);
        let redis_file = file_of(REDIS_URL_FILE);
        let env_map = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
            .collect::<std::collections::HashMap<_, _>>();
        let url_in_env = env_map.contains_key("GUMGATE__STORAGE__DATABASE_URL");
        let redis_in_env = env_map.contains_key("GUMGATE__REDIS__URL");
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let mut settings: Settings = builder
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("server.trusted_proxies")
                    .with_list_parse_key("licenses.allowed_products")
                    .with_list_parse_key("server.cors_origins")
                    .try_parsing(true)
                    .source(Some(env_map)),
            )
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        // A URL with a password belongs in a secret file rather than in the environment or
        // the TOML; the environment's own value still wins, as for every other setting.
        if let Some(path) = url_file.filter(|_| !url_in_env) {
            settings.storage.database_url = read_url_file(DATABASE_URL_FILE, &path)?;
        }
        if let Some(path) = redis_file.filter(|_| !redis_in_env) {
            settings.redis.url = read_url_file(REDIS_URL_FILE, &path)?;
        }
        settings.validate()?;
        settings.source = file.map(Path::to_path_buf);
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        if s.max_body_bytes == 0 {
            return Err(ConfigError::invalid(
                "server.max_body_bytes",
                "must be above 0",
            ));
        }
        if self.webhooks.max_body_bytes == 0 {
            return Err(ConfigError::invalid(
                "webhooks.max_body_bytes",
                "must be above 0",
            ));
        }
        if self.webhooks.max_pending == 0 {
            return Err(ConfigError::invalid(
                "webhooks.max_pending",
                "must be above 0",
            ));
        }
        if self.webhooks.claim_lease < Duration::from_secs(1) {
            return Err(ConfigError::invalid(
                "webhooks.claim_lease",
                "must be at least 1s",
            ));
        }
        if let Err(e) = crate::cors::layer(&s.cors_origins) {
            return Err(ConfigError::invalid("server.cors_origins", e));
        }
        if s.request_timeout.is_zero() {
            return Err(ConfigError::invalid(
                "server.request_timeout",
                "must be above 0",
            ));
        }
        if s.listen == s.metrics_listen && s.listen.port() != 0 {
            return Err(ConfigError::invalid(
                "server.metrics_listen",
                "must differ from server.listen",
            ));
        }
        let u = &self.upstream;
        if !matches!(u.base_url.scheme(), "http" | "https") || u.base_url.cannot_be_a_base() {
            return Err(ConfigError::invalid(
                "upstream.base_url",
                "must be an http(s) URL",
            ));
        }
        if u.base_url.query().is_some() || u.base_url.fragment().is_some() {
            return Err(ConfigError::invalid(
                "upstream.base_url",
                "must not carry a query or fragment",
            ));
        }
        if http::HeaderValue::from_str(&u.connection).is_err() || u.connection.contains(' ') {
            return Err(ConfigError::invalid(
                "upstream.connection",
                "must be a plain connection id",
            ));
        }
        if u.timeout.is_zero() || u.connect_timeout.is_zero() {
            return Err(ConfigError::invalid("upstream.timeout", "must be above 0"));
        }
        if u.rate_limit == 0 {
            return Err(ConfigError::invalid(
                "upstream.rate_limit",
                "must be above 0",
            ));
        }
        if u.burst == 0 {
            return Err(ConfigError::invalid("upstream.burst", "must be at least 1"));
        }
        if u.max_pause.is_zero() {
            return Err(ConfigError::invalid(
                "upstream.max_pause",
                "must be above 0 (a 429 must pause upstream traffic)",
            ));
        }
        if u.breaker_failures == 0 {
            return Err(ConfigError::invalid(
                "upstream.breaker_failures",
                "must be at least 1",
            ));
        }
        let c = &self.cache;
        if c.verify_ttl.is_zero() || c.negative_ttl.is_zero() || c.sales_ttl.is_zero() {
            return Err(ConfigError::invalid("cache", "TTLs must be above 0"));
        }
        if c.max_bytes == 0 {
            return Err(ConfigError::invalid("cache.max_bytes", "must be above 0"));
        }
        if self.policy.seats == 0 || self.products.values().any(|o| o.seats == Some(0)) {
            return Err(ConfigError::invalid("policy.seats", "must be at least 1"));
        }
        for p in self.policies() {
            if p.token_ttl.is_some_and(|t| t.is_zero()) {
                return Err(ConfigError::invalid("policy.token_ttl", "must be above 0"));
            }
            if p.heartbeats() && p.heartbeat_interval < Duration::from_secs(10) {
                return Err(ConfigError::invalid(
                    "policy.heartbeat_interval",
                    "must be 0 (off) or at least 10s",
                ));
            }
            // A beat sent on time must never race its own deadline.
            if p.heartbeats() && p.heartbeat_grace < Duration::from_secs(30) {
                return Err(ConfigError::invalid(
                    "policy.heartbeat_grace",
                    "must be at least 30s when heartbeats are on",
                ));
            }
        }
        let t = &self.tokens;
        if !t.active_kid.is_empty() && !t.keys.iter().any(|k| k.kid == t.active_kid && !k.retired) {
            return Err(ConfigError::invalid(
                "tokens.active_kid",
                "must name a key in tokens.keys that is not retired",
            ));
        }
        if !t.keys.is_empty() && t.active_kid.is_empty() {
            return Err(ConfigError::invalid(
                "tokens.active_kid",
                "must name the signing key when tokens.keys is set",
            ));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(ConfigError::invalid("log.level", "is not a valid filter"));
        }
        if let Some(url) = self.redis.url() {
            if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                return Err(ConfigError::invalid(
                    "redis.url",
                    "must be a redis:// URL, or rediss:// for TLS",
                ));
            }
            // redis-rs reads `#insecure` as "skip verifying the server's certificate": never.
            if url.contains('#') {
                return Err(ConfigError::invalid(
                    "redis.url",
                    "must not carry a fragment (#insecure would skip verifying Redis's certificate)",
                ));
            }
            if !self.redis.ca_file.is_empty() && !url.starts_with("rediss://") {
                return Err(ConfigError::invalid(
                    "redis.ca_file",
                    "is for TLS only: use a rediss:// URL",
                ));
            }
        }
        if !self.redis.ca_file.is_empty() {
            if self.redis.url().is_none() {
                return Err(ConfigError::invalid(
                    "redis.ca_file",
                    "is set but redis.url is not",
                ));
            }
            check_ca_file(&self.redis.ca_file)?;
        }
        if !(self.redis.fallback_share > 0.0 && self.redis.fallback_share <= 1.0) {
            return Err(ConfigError::invalid(
                "redis.fallback_share",
                "must be above 0 and at most 1",
            ));
        }
        if !(0.0..1.0).contains(&self.upstream.known_share) {
            return Err(ConfigError::invalid(
                "upstream.known_share",
                "must be at least 0 and below 1",
            ));
        }
        if self.log.access_sample == 0 {
            return Err(ConfigError::invalid(
                "log.access_sample",
                "must be at least 1 (1 logs every request)",
            ));
        }
        // A unit slip ("400s" for "400d") would otherwise empty the trail within the hour.
        if self.audit.retention < Duration::from_secs(24 * 60 * 60) {
            return Err(ConfigError::invalid(
                "audit.retention",
                "must be at least 1d",
            ));
        }
        Ok(())
    }

    /// The policy of one product: the defaults with its overrides applied.
    pub fn policy_for(&self, product_id: &str) -> Policy {
        let mut p = self.policy.clone();
        if let Some(o) = self.products.get(product_id) {
            p.seats = o.seats.unwrap_or(p.seats);
            p.allow_test_purchases = o.allow_test_purchases.unwrap_or(p.allow_test_purchases);
            p.token_ttl = o.token_ttl.or(p.token_ttl);
            p.offline_grace = o.offline_grace.unwrap_or(p.offline_grace);
            p.payment_failed_grace = o.payment_failed_grace.unwrap_or(p.payment_failed_grace);
            p.max_deactivations_per_day = o
                .max_deactivations_per_day
                .unwrap_or(p.max_deactivations_per_day);
            p.mirror_uses_count = o.mirror_uses_count.unwrap_or(p.mirror_uses_count);
            p.heartbeat_interval = o.heartbeat_interval.unwrap_or(p.heartbeat_interval);
            p.heartbeat_grace = o.heartbeat_grace.unwrap_or(p.heartbeat_grace);
        }
        p
    }

    /// Every policy in force: the default, and each product's with its overrides applied.
    pub fn policies(&self) -> impl Iterator<Item = Policy> + '_ {
        std::iter::once(self.policy.clone())
            .chain(self.products.keys().map(|id| self.policy_for(id)))
    }

    /// The features a purchase's variants unlock for one product (`products."<id>".
    /// entitlements`), each once, in the order configured.
    pub fn features_for(&self, product_id: &str, variants: &[String]) -> Vec<String> {
        let mut features: Vec<String> = Vec::new();
        let Some(o) = self.products.get(product_id) else {
            return features;
        };
        for variant in variants {
            for feature in o.entitlements.get(variant).into_iter().flatten() {
                if !features.contains(feature) {
                    features.push(feature.clone());
                }
            }
        }
        features
    }

    /// Whether `licenses.allowed_products` lets Gumgate answer for this product (an empty list
    /// allows any).
    pub fn product_allowed(&self, product_id: &str) -> bool {
        let allowed = &self.licenses.allowed_products;
        allowed.is_empty() || allowed.iter().any(|p| p == product_id)
    }

    /// Whether `licenses.require_key_shape` lets this key go upstream.
    pub fn key_shape_ok(&self, license_key: &str) -> bool {
        !self.licenses.require_key_shape
            || gumroad_wire::licenses::has_gumroad_key_shape(license_key)
    }

    /// The default `Maton-Connection`, when one is configured.
    pub fn default_connection(&self) -> Option<&str> {
        Some(self.upstream.connection.trim()).filter(|c| !c.is_empty())
    }
}

/// Reads `trusted_proxies` entries as CIDR ranges or single addresses; empty entries (from an
/// empty environment variable) are skipped.
fn ip_nets<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    raw.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!("{s:?} is not an IP address or CIDR range"))
                })
        })
        .collect()
}

/// A list of strings with blanks trimmed and empty entries (an empty variable) dropped.
/// A CA bundle as redis-rs reads it: every PEM certificate parses and is taken as a trust
/// anchor, and there is at least one (so `check-config` refuses what `serve` would).
fn check_ca_file(path: &str) -> Result<(), ConfigError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let invalid =
        |reason: String| ConfigError::invalid("redis.ca_file", format!("{path}: {reason}"));
    let pem = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| invalid(format!("not a PEM certificate: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| invalid(format!("not a CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(invalid("holds no PEM certificate".into()));
    }
    Ok(())
}

fn trimmed_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<String>::deserialize(d)?
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_and_are_documented_values() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.server.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(s.server.metrics_listen.to_string(), "0.0.0.0:9090");
        assert_eq!(s.server.max_body_bytes, 65536);
        assert_eq!(s.upstream.base_url.as_str(), "https://api.maton.ai/");
        assert_eq!(s.default_connection(), None);
        assert_eq!(s.log.format, LogFormat::Pretty);
        assert_eq!(s.upstream.rate_limit, 10);
        assert_eq!(s.cache.verify_ttl, Duration::from_secs(300));
        assert_eq!(s.upstream.max_pause, Duration::from_secs(300));
        assert_eq!(
            s.limits.failed_verify_per_ip.period,
            Duration::from_secs(60)
        );
        assert_eq!(
            s.limits.failed_admin_auth_per_ip,
            "10/min".parse::<Rate>().unwrap()
        );
        assert!(s.licenses.allowed_products.is_empty());
        assert_eq!(s.audit.retention, Duration::from_secs(400 * 86400));
    }

    #[test]
    fn product_policies_override_the_defaults() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("policy.toml");
        std::fs::write(&file, "[products.\"p1\"]\nseats = 5\ntoken_ttl = \"1h\"\n").unwrap();
        let s = Settings::load_from(Some(&file), env(&[])).unwrap();
        assert_eq!(s.policy_for("p1").seats, 5);
        assert_eq!(
            s.policy_for("p1").token_ttl,
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            s.policy_for("p1").token_lifetime(),
            Duration::from_secs(3600)
        );
        assert_eq!(s.policy_for("p1").max_deactivations_per_day, 3);
        assert_eq!(s.policy_for("other"), s.policy);
        assert_eq!(s.policy.token_ttl, None);
    }

    #[test]
    fn tokens_are_short_by_default_and_last_a_heartbeat_window_with_heartbeats() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("policy.toml");
        let text = "[products.\"hb\"]\nheartbeat_interval = \"1h\"\nheartbeat_grace = \"15m\"\n\
                    [products.\"hb\".entitlements]\nPremium = [\"pro\", \"export\"]\n\
                    Team = [\"pro\", \"seats\"]\n";
        std::fs::write(&file, text).unwrap();
        let s = Settings::load_from(Some(&file), env(&[])).unwrap();
        assert!(!s.policy.heartbeats());
        assert_eq!(s.policy.token_lifetime(), Duration::from_secs(86_400));
        let hb = s.policy_for("hb");
        assert_eq!(hb.heartbeat_window(), Some(Duration::from_secs(4500)));
        assert_eq!(hb.token_lifetime(), Duration::from_secs(4500));
        // A token_ttl longer than the window does not outlive the seat; a shorter one holds.
        let capped = Policy {
            token_ttl: Some(Duration::from_secs(7 * 86_400)),
            ..hb.clone()
        };
        assert_eq!(capped.token_lifetime(), Duration::from_secs(4500));
        let shorter = Policy {
            token_ttl: Some(Duration::from_secs(600)),
            ..hb
        };
        assert_eq!(shorter.token_lifetime(), Duration::from_secs(600));
        // Features are matched exactly, each once, in the order configured.
        let variants = [
            "Team".to_owned(),
            "Premium".to_owned(),
            "premium".to_owned(),
        ];
        assert_eq!(s.features_for("hb", &variants), ["pro", "seats", "export"]);
        assert!(s.features_for("other", &variants).is_empty());
        let env_set = env(&[("GUMGATE__POLICY__HEARTBEAT_INTERVAL", "5s")]);
        let err = Settings::load_from(None, env_set).unwrap_err().to_string();
        assert!(err.contains("policy.heartbeat_interval"), "{err}");
        let origins = env(&[(
            "GUMGATE__SERVER__CORS_ORIGINS",
            "file://, tauri://localhost",
        )]);
        let s = Settings::load_from(None, origins).unwrap();
        assert_eq!(s.server.cors_origins, ["file://", "tauri://localhost"]);
    }

    #[test]
    fn allowed_products_come_from_a_comma_list() {
        let s = Settings::load_from(
            None,
            env(&[("GUMGATE__LICENSES__ALLOWED_PRODUCTS", "a==, b==")]),
        )
        .unwrap();
        assert_eq!(s.licenses.allowed_products, ["a==", "b=="]);
    }

    #[test]
    fn database_and_redis_urls_may_come_from_files_the_environment_winning() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("url");
        std::fs::write(&file, "postgres://app:pw@db/gumgate\n").unwrap();
        let path = file.to_str().unwrap();
        let s = Settings::load_from(None, env(&[(DATABASE_URL_FILE, path)])).unwrap();
        assert_eq!(s.storage.database_url, "postgres://app:pw@db/gumgate");
        let s = Settings::load_from(
            None,
            env(&[
                (DATABASE_URL_FILE, path),
                ("GUMGATE__STORAGE__DATABASE_URL", "sqlite://x.db"),
            ]),
        )
        .unwrap();
        assert_eq!(s.storage.database_url, "sqlite://x.db");
        let missing = dir.path().join("missing");
        let err = Settings::load_from(None, env(&[(DATABASE_URL_FILE, missing.to_str().unwrap())]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(DATABASE_URL_FILE), "{err}");
        std::fs::write(&file, " \n").unwrap();
        let err = Settings::load_from(None, env(&[(DATABASE_URL_FILE, path)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is empty"), "{err}");
        // Redis's URL the same way; redis:// or rediss:// (TLS).
        std::fs::write(&file, "redis://:pw@cache:6379/2\n").unwrap();
        let s = Settings::load_from(None, env(&[(REDIS_URL_FILE, path)])).unwrap();
        assert_eq!(s.redis.url(), Some("redis://:pw@cache:6379/2"));
        assert_eq!(
            Settings::load_from(None, env(&[])).unwrap().redis.url(),
            None
        );
        let refused = |pairs: &[(&str, &str)], key: &str| {
            let err = Settings::load_from(None, env(pairs))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{pairs:?}: {err}");
        };
        refused(&[("GUMGATE__REDIS__URL", "http://cache")], "redis.url");
        // Never a TLS connection that skips verifying the server.
        refused(
            &[("GUMGATE__REDIS__URL", "rediss://cache:6380/#insecure")],
            "redis.url",
        );
        let ca = dir.path().join("ca.pem");
        let ca_path = ca.to_str().unwrap();
        refused(
            &[
                ("GUMGATE__REDIS__URL", "rediss://cache:6380"),
                ("GUMGATE__REDIS__CA_FILE", ca_path),
            ],
            "redis.ca_file",
        );
        std::fs::write(&ca, "not a certificate").unwrap();
        refused(
            &[
                ("GUMGATE__REDIS__URL", "rediss://cache:6380"),
                ("GUMGATE__REDIS__CA_FILE", ca_path),
            ],
            "redis.ca_file",
        );
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let tls_ca = [
            ("GUMGATE__REDIS__URL", "rediss://cache:6380"),
            ("GUMGATE__REDIS__CA_FILE", ca_path),
        ];
        refused(&tls_ca, "redis.ca_file");
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        std::fs::write(&ca, params.self_signed(&key).unwrap().pem()).unwrap();
        refused(
            &[
                ("GUMGATE__REDIS__URL", "redis://cache"),
                ("GUMGATE__REDIS__CA_FILE", ca_path),
            ],
            "redis.ca_file",
        );
        refused(&[("GUMGATE__REDIS__CA_FILE", ca_path)], "redis.ca_file");
        let tls = env(&[
            ("GUMGATE__REDIS__URL", "rediss://cache:6380"),
            ("GUMGATE__REDIS__CA_FILE", ca_path),
        ]);
        let s = Settings::load_from(None, tls).unwrap();
        assert_eq!(s.redis.ca_file, ca_path);
    }

    #[test]
    fn environment_overrides_with_double_underscores() {
        let s = Settings::load_from(
            None,
            env(&[
                ("GUMGATE__SERVER__LISTEN", "127.0.0.1:1234"),
                ("GUMGATE__SERVER__TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1"),
                ("GUMGATE__UPSTREAM__CONNECTION", "conn-1"),
                ("GUMGATE__LOG__FORMAT", "json"),
                ("GUMGATE_ADMIN_TOKEN", "not a config key"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.listen.port(), 1234);
        assert_eq!(s.server.trusted_proxies.len(), 2);
        assert_eq!(s.default_connection(), Some("conn-1"));
        assert_eq!(s.log.format, LogFormat::Json);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (k, v, needle) in [
            ("GUMGATE__SERVER__LISTEN", "nope", "listen"),
            ("GUMGATE__LOG__FORMAT", "xml", "format"),
            (
                "GUMGATE__UPSTREAM__BASE_URL",
                "ftp://x",
                "upstream.base_url",
            ),
            (
                "GUMGATE__SERVER__MAX_BODY_BYTES",
                "0",
                "server.max_body_bytes",
            ),
            (
                "GUMGATE__SERVER__TRUSTED_PROXIES",
                "nonsense",
                "trusted_proxies",
            ),
            ("GUMGATE__SERVER__NO_SUCH_KEY", "1", "no_such_key"),
            ("GUMGATE__LIMITS__VERIFY_PER_IP", "fast", "verify_per_ip"),
            ("GUMGATE__UPSTREAM__RATE_LIMIT", "0", "upstream.rate_limit"),
            ("GUMGATE__UPSTREAM__MAX_PAUSE", "0s", "upstream.max_pause"),
            ("GUMGATE__AUDIT__RETENTION", "400s", "audit.retention"),
            ("GUMGATE__AUDIT__KEEP", "1d", "keep"),
            (
                "GUMGATE__WEBHOOKS__MAX_BODY_BYTES",
                "0",
                "webhooks.max_body_bytes",
            ),
            (
                "GUMGATE__WEBHOOKS__MAX_PENDING",
                "0",
                "webhooks.max_pending",
            ),
            (
                "GUMGATE__WEBHOOKS__CLAIM_LEASE",
                "500ms",
                "webhooks.claim_lease",
            ),
        ] {
            let err = Settings::load_from(None, env(&[(k, v)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{k}={v}: {err}");
        }
    }
}
