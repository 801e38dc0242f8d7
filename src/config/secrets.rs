//! Secrets: read only from the environment or from a file the environment names, and never
//! printed (their `Debug` is redacted).

use std::fmt;
use std::path::PathBuf;

use super::ConfigError;

/// A secret string whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send or compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Admin tokens shorter than this are refused: they would be guessable.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// A cache key secret shorter than this is refused (`openssl rand -hex 32` gives 64).
pub const MIN_CACHE_KEY_SECRET_LEN: usize = 32;

/// The secrets Gumgate runs with.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// `MATON_API_KEY`: sent to Maton on every upstream request.
    pub maton_api_key: Option<Secret>,
    /// `GUMGATE_ADMIN_TOKEN`: comma-separated; any one of them opens the admin surface.
    pub admin_tokens: Vec<Secret>,
    /// `GUMGATE_WEBHOOK_SECRET`: the path secrets of the webhook receiver, the current one
    /// first. Two, comma-separated, while a rotation is under way: the receiver accepts both,
    /// and `webhooks register` moves the subscriptions to the first.
    pub webhook_secrets: Vec<Secret>,
    /// `GUMGATE_SIGNING_KEY_FILE`: the Ed25519 PKCS#8 PEM that signs tokens, its kid its
    /// RFC 7638 thumbprint. Refused alongside `tokens.keys` (one source of keys, not two).
    pub signing_key_file: Option<PathBuf>,
    /// `GUMGATE_PREVIOUS_SIGNING_KEY_FILE`: the key that signed before the last rotation,
    /// published in the JWKS so its tokens keep verifying, never signing.
    pub previous_signing_key_file: Option<PathBuf>,
    /// `GUMGATE_CACHE_KEY_SECRET`: the keyed-hash secret of cache keys, the same on every
    /// replica (required with `redis.url`); unset, each process draws its own at random.
    pub cache_key_secret: Option<Secret>,
}

impl Secrets {
    /// Reads `MATON_API_KEY` and `GUMGATE_ADMIN_TOKEN` (or their `_FILE` variants).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Secrets::from_env`] with an explicit lookup, for tests.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let maton_api_key = read("MATON_API_KEY", &lookup)?.map(Secret::new);
        let admin_tokens = match read("GUMGATE_ADMIN_TOKEN", &lookup)? {
            Some(raw) => parse_admin_tokens(&raw)?,
            None => Vec::new(),
        };
        let webhook_secrets = match read("GUMGATE_WEBHOOK_SECRET", &lookup)? {
            Some(raw) => parse_webhook_secrets(&raw)?,
            None => Vec::new(),
        };
        let path = |name: &str| {
            lookup(name)
                .filter(|p| !p.trim().is_empty())
                .map(PathBuf::from)
        };
        let cache_key_secret = read("GUMGATE_CACHE_KEY_SECRET", &lookup)?.map(Secret::new);
        if cache_key_secret
            .as_ref()
            .is_some_and(|s| s.expose().len() < MIN_CACHE_KEY_SECRET_LEN)
        {
            return Err(ConfigError::Invalid {
                key: "GUMGATE_CACHE_KEY_SECRET",
                reason: format!("must be at least {MIN_CACHE_KEY_SECRET_LEN} characters"),
            });
        }
        let signing_key_file = path("GUMGATE_SIGNING_KEY_FILE");
        let previous_signing_key_file = path("GUMGATE_PREVIOUS_SIGNING_KEY_FILE");
        if previous_signing_key_file.is_some() && signing_key_file.is_none() {
            return Err(ConfigError::Invalid {
                key: "GUMGATE_PREVIOUS_SIGNING_KEY_FILE",
                reason: "needs GUMGATE_SIGNING_KEY_FILE: a previous key only verifies".into(),
            });
        }
        Ok(Self {
            maton_api_key,
            admin_tokens,
            webhook_secrets,
            signing_key_file,
            previous_signing_key_file,
            cache_key_secret,
        })
    }

    /// What `serve` needs against the real upstream: both secrets present.
    /// Cluster mode (`redis.url` set) needs the cache key secret every replica shares.
    pub fn require_for_cluster(&self, redis_url: Option<&str>) -> Result<(), ConfigError> {
        if redis_url.is_some() && self.cache_key_secret.is_none() {
            return Err(ConfigError::Invalid {
                key: "GUMGATE_CACHE_KEY_SECRET",
                reason: "required when redis.url is set (the same on every replica)".into(),
            });
        }
        Ok(())
    }

    pub fn require_for_serve(&self) -> Result<(), ConfigError> {
        if self.maton_api_key.is_none() {
            return Err(ConfigError::MissingSecret("MATON_API_KEY"));
        }
        if self.admin_tokens.is_empty() {
            return Err(ConfigError::MissingSecret("GUMGATE_ADMIN_TOKEN"));
        }
        Ok(())
    }
}

/// `NAME` from the environment, else the contents of the file `NAME_FILE` names (trimmed, so a
/// trailing newline in a mounted secret file does not become part of the key).
fn read(
    name: &'static str,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    if let Some(v) = lookup(name).filter(|v| !v.trim().is_empty()) {
        return Ok(Some(v.trim().to_owned()));
    }
    let Some(path) = lookup(&format!("{name}_FILE")).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let contents = std::fs::read_to_string(&path).map_err(|e| ConfigError::Invalid {
        key: name,
        reason: format!("{name}_FILE could not be read: {}", e.kind()),
    })?;
    Ok(Some(contents.trim().to_owned()).filter(|v| !v.is_empty()))
}

/// One secret, or two during a rotation (the new one first), each long and URL-safe enough to
/// stand in a path.
fn parse_webhook_secrets(raw: &str) -> Result<Vec<Secret>, ConfigError> {
    let secrets: Vec<&str> = raw.split(',').map(str::trim).collect();
    let invalid = |reason: String| ConfigError::Invalid {
        key: "GUMGATE_WEBHOOK_SECRET",
        reason,
    };
    if secrets.len() > 2 {
        return Err(invalid(
            "at most two secrets, comma-separated: the new one, then the one being retired".into(),
        ));
    }
    for s in &secrets {
        if s.len() < MIN_ADMIN_TOKEN_LEN {
            return Err(invalid(format!(
                "each secret must be at least {MIN_ADMIN_TOKEN_LEN} characters"
            )));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
        {
            return Err(invalid(
                "a secret may hold only letters, digits and - _ . ~ (it is part of a URL path)"
                    .into(),
            ));
        }
    }
    Ok(secrets.into_iter().map(Secret::new).collect())
}

fn parse_admin_tokens(raw: &str) -> Result<Vec<Secret>, ConfigError> {
    let tokens: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() {
        return Err(ConfigError::MissingSecret("GUMGATE_ADMIN_TOKEN"));
    }
    for (i, entry) in tokens.iter().enumerate() {
        // `name:token` names a token for logs and audit rows; the length rule is the token's.
        let (_, t) = crate::auth::split_named(entry, i + 1);
        if t.len() < MIN_ADMIN_TOKEN_LEN || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::Invalid {
                key: "GUMGATE_ADMIN_TOKEN",
                reason: format!(
                    "each token must be at least {MIN_ADMIN_TOKEN_LEN} characters with no spaces"
                ),
            });
        }
    }
    Ok(tokens.into_iter().map(Secret::new).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn tokens_split_on_commas_and_never_debug_print() {
        let s = Secrets::from_lookup(lookup(&[
            ("MATON_API_KEY", "mk"),
            ("GUMGATE_ADMIN_TOKEN", "aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb"),
        ]))
        .unwrap();
        assert_eq!(s.admin_tokens.len(), 2);
        assert!(!format!("{s:?}").contains("aaaa"));
        s.require_for_serve().unwrap();
    }

    #[test]
    fn short_tokens_and_missing_secrets_are_refused_by_name() {
        let err = Secrets::from_lookup(lookup(&[("GUMGATE_ADMIN_TOKEN", "short")])).unwrap_err();
        assert!(err.to_string().contains("GUMGATE_ADMIN_TOKEN"));
        let err = Secrets::default().require_for_serve().unwrap_err();
        assert!(err.to_string().contains("MATON_API_KEY"));
    }

    #[test]
    fn file_variant_is_read_and_trimmed() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("maton-api-key");
        std::fs::write(&file, "from-a-file\n").unwrap();
        let path: &'static str = Box::leak(file.to_string_lossy().into_owned().into_boxed_str());
        let pairs: &'static [(&str, &str)] = Box::leak(Box::new([("MATON_API_KEY_FILE", path)]));
        let s = Secrets::from_lookup(lookup(pairs)).unwrap();
        assert_eq!(s.maton_api_key.unwrap().expose(), "from-a-file");
    }

    #[test]
    fn two_webhook_secrets_during_a_rotation_and_no_more() {
        let lookup = |v: &'static str| {
            move |name: &str| (name == "GUMGATE_WEBHOOK_SECRET").then(|| v.to_owned())
        };
        let s =
            Secrets::from_lookup(lookup("new-secret-0123456789, old-secret-0123456789")).unwrap();
        let got: Vec<_> = s.webhook_secrets.iter().map(Secret::expose).collect();
        assert_eq!(got, ["new-secret-0123456789", "old-secret-0123456789"]);
        for bad in [
            "a-0123456789abcdef,b-0123456789abcdef,c-0123456789abcdef",
            "short",
            "has/slash-0123456789",
            "new-secret-0123456789,",
        ] {
            assert!(Secrets::from_lookup(lookup(bad)).is_err(), "{bad}");
        }
    }
}
