//! The [`Signer`]: holds the keys, signs with the active one and verifies against the published
//! ones, exactly as an app holding the JWKS would.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use super::{Claims, Issued, NewToken, TokenError, keys};
use crate::config::{Secrets, TokenSettings};

/// Clock skew tolerated between the app's machine and ours when checking `exp` and `nbf`.
const LEEWAY_SECS: u64 = 60;

/// Issues and verifies activation tokens; cheap to clone.
#[derive(Clone)]
pub struct Signer {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    active: Option<ActiveKey>,
    published: Vec<PublishedKey>,
}

struct ActiveKey {
    kid: String,
    key: EncodingKey,
}

struct PublishedKey {
    kid: String,
    x: String,
    key: DecodingKey,
}

impl std::fmt::Debug for Signer {
    // By hand so that no key material can ever reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let published: Vec<&str> = self
            .inner
            .published
            .iter()
            .map(|k| k.kid.as_str())
            .collect();
        f.debug_struct("Signer")
            .field("issuer", &self.inner.issuer)
            .field("active_kid", &self.inner.active.as_ref().map(|a| &a.kid))
            .field("published", &published)
            .finish()
    }
}

impl Signer {
    /// Loads every configured key (PEM files); errors name the kid and path. Retired keys are
    /// loaded but not published and never sign. With no keys configured the signer is
    /// [`Signer::disabled`].
    pub fn from_settings(settings: &TokenSettings) -> Result<Self, TokenError> {
        if settings.keys.is_empty() {
            return Ok(Self::disabled(&settings.issuer));
        }
        let mut loaded = Vec::with_capacity(settings.keys.len());
        for (i, k) in settings.keys.iter().enumerate() {
            if settings.keys[..i].iter().any(|o| o.kid == k.kid) {
                return Err(TokenError::Settings(format!(
                    "kid {:?} is listed twice",
                    k.kid
                )));
            }
            let key = keys::load_pem_file(&k.kid, &k.path)?;
            loaded.push((k.kid.clone(), key, k.retired));
        }
        let active = settings.active_kid.as_str();
        if !loaded
            .iter()
            .any(|(kid, _, retired)| kid == active && !retired)
        {
            return Err(TokenError::Settings(format!(
                "tokens.active_kid {active:?} must name a key in tokens.keys that is not retired"
            )));
        }
        Ok(Self::from_keys(&settings.issuer, Some(active), loaded))
    }

    /// The keys `serve` runs with: from `GUMGATE_SIGNING_KEY_FILE` (and the previous one) when
    /// set, else from `[tokens]`. Both at once is refused: which one signs would be a guess.
    pub fn configured(settings: &TokenSettings, secrets: &Secrets) -> Result<Self, TokenError> {
        let Some(active) = &secrets.signing_key_file else {
            return Self::from_settings(settings);
        };
        if !settings.keys.is_empty() {
            return Err(TokenError::Settings(
                "GUMGATE_SIGNING_KEY_FILE and tokens.keys are both set: use one of them".into(),
            ));
        }
        Self::from_files(
            &settings.issuer,
            active,
            secrets.previous_signing_key_file.as_deref(),
        )
    }

    /// Signs with the key at `active`, publishes it and the one at `previous`; each key's kid
    /// is its RFC 7638 thumbprint, so no name has to be kept in step with the file.
    pub fn from_files(
        issuer: &str,
        active: &Path,
        previous: Option<&Path>,
    ) -> Result<Self, TokenError> {
        let active = keys::load_pem_file("GUMGATE_SIGNING_KEY_FILE", active)?;
        let kid = keys::thumbprint(&keys::public_x(&active.verifying_key()));
        let mut loaded = vec![(kid.clone(), active, false)];
        if let Some(path) = previous {
            let key = keys::load_pem_file("GUMGATE_PREVIOUS_SIGNING_KEY_FILE", path)?;
            let previous_kid = keys::thumbprint(&keys::public_x(&key.verifying_key()));
            // The same file twice (a rotation not yet begun) is published once.
            if previous_kid != kid {
                loaded.push((previous_kid, key, false));
            }
        }
        Ok(Self::from_keys(issuer, Some(&kid), loaded))
    }

    /// A random in-memory key (kid "ephemeral-<8 hex>") for the sandbox demo.
    pub fn ephemeral(issuer: &str) -> Self {
        let key = keys::random_signing_key();
        let tag = hex::encode(&key.verifying_key().as_bytes()[..4]);
        let kid = format!("ephemeral-{tag}");
        Self::from_keys(issuer, Some(&kid), vec![(kid.clone(), key, false)])
    }

    /// No keys: can_issue() is false and issue() fails with TokenError::NoSigningKey.
    pub fn disabled(issuer: &str) -> Self {
        Self::from_keys(issuer, None, Vec::new())
    }

    /// `keys` are (kid, key, retired); `active` must name one that is not retired.
    fn from_keys(
        issuer: &str,
        active: Option<&str>,
        keys: Vec<(String, SigningKey, bool)>,
    ) -> Self {
        let mut signing = None;
        let mut published = Vec::new();
        for (kid, key, retired) in keys {
            if retired {
                continue;
            }
            if active == Some(kid.as_str()) {
                signing = Some(ActiveKey {
                    kid: kid.clone(),
                    key: keys::encoding_key(&key),
                });
            }
            let x = keys::public_x(&key.verifying_key());
            let decoding = DecodingKey::from_ed_components(&x).expect("x was just encoded");
            published.push(PublishedKey {
                kid,
                x,
                key: decoding,
            });
        }
        Self {
            inner: Arc::new(Inner {
                issuer: issuer.to_owned(),
                active: signing,
                published,
            }),
        }
    }

    /// Whether tokens can be issued (a signing key is configured).
    pub fn can_issue(&self) -> bool {
        self.inner.active.is_some()
    }

    /// Signs a token for `token`, valid from `now` for `ttl`.
    pub fn issue(&self, token: NewToken) -> Result<Issued, TokenError> {
        let active = self.inner.active.as_ref().ok_or(TokenError::NoSigningKey)?;
        let iat = unix_secs(token.now);
        let mut exp = iat.saturating_add(token.ttl.as_secs());
        if let Some(cap) = token.not_after {
            // Never before its own issue: a cap already passed yields a token that is dead on
            // arrival rather than one dated before it was made.
            exp = exp.min(unix_secs(cap).max(iat));
        }
        let claims = Claims {
            iss: self.inner.issuer.clone(),
            aud: token.product_id,
            sub: token.activation_id,
            lic: token.license_hash,
            fp: token.fingerprint_hash,
            seats: token.seats,
            code: token.code,
            iat,
            nbf: iat,
            exp,
            entitlements: token.entitlements,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(active.kid.clone());
        let jwt = jsonwebtoken::encode(&header, &claims, &active.key)
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(Issued {
            token: jwt,
            expires_at: UNIX_EPOCH + Duration::from_secs(exp),
            kid: active.kid.clone(),
        })
    }

    /// The JWKS document (`{"keys":[...]}`) of every non-retired key.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .inner
            .published
            .iter()
            .map(|k| keys::jwk(&k.x, Some(&k.kid)))
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Verifies a token as an app would (signature by a published key found by `kid`, EdDSA only,
    /// `iss`, `aud` = `audience`, `exp`/`nbf` with no leeway beyond 60 s) and returns its claims.
    pub fn verify(&self, token: &str, audience: &str) -> Result<Claims, TokenError> {
        let invalid = |e: jsonwebtoken::errors::Error| TokenError::Invalid(e.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
        // Checked before any key is chosen so that no other algorithm (HS256 with the public key
        // as its secret, the classic confusion) is ever tried.
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid(format!(
                "alg {:?} is not EdDSA",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| TokenError::Invalid("no kid in the header".into()))?;
        let key = self
            .inner
            .published
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| TokenError::Invalid(format!("kid {kid:?} is not published")))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.set_issuer(&[&self.inner.issuer]);
        validation.set_audience(&[audience]);
        jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(invalid)
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    // A clock before 1970 is a broken clock; 0 gives a token that is already expired.
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
