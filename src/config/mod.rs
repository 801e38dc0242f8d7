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
    pub log: LogSettings,
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
}

/// `[log]`: log format and level.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `json` or `pretty`.
    pub format: LogFormat,
    /// Default `EnvFilter` directive; `RUST_LOG` wins when set.
    pub level: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
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
        let env_map = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
            .collect();
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let settings: Settings = builder
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("server.trusted_proxies")
                    .try_parsing(true)
                    .source(Some(env_map)),
            )
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        settings.validate()?;
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
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(ConfigError::invalid("log.level", "is not a valid filter"));
        }
        Ok(())
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
        ] {
            let err = Settings::load_from(None, env(&[(k, v)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{k}={v}: {err}");
        }
    }
}
