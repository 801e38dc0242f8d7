//! Offline checks of a stored token, as the server documents them: an EdDSA signature by a key
//! of the JWKS named by the token's `kid` (no other algorithm is ever tried), the expected issuer
//! and product, the token's `lic` and `fp` against this license key and machine, `code` VALID,
//! and `exp`/`nbf` within a leeway on a clock that was not set back.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::Entitlements;
use crate::codes::OfflineCode;

/// The claims of a Gumgate activation token. Times are unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenClaims {
    pub iss: String,
    /// The product id.
    pub aud: String,
    /// The activation id.
    pub sub: String,
    /// [`license_hash`] of the license key.
    pub lic: String,
    /// [`fingerprint_hash`] of the machine fingerprint.
    pub fp: String,
    pub seats: u32,
    pub code: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    #[serde(default)]
    pub entitlements: Entitlements,
}

/// The outcome of an offline check: its code, and the claims when the signature held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineCheck {
    pub code: OfflineCode,
    pub claims: Option<TokenClaims>,
}

impl OfflineCheck {
    pub fn is_valid(&self) -> bool {
        self.code == OfflineCode::Valid
    }

    pub(crate) fn failed(code: OfflineCode) -> Self {
        Self { code, claims: None }
    }
}

/// What a token must say to be this app's, on this machine.
pub(crate) struct Expected<'a> {
    pub issuer: &'a str,
    pub product_id: &'a str,
    pub license_key: &'a str,
    pub fingerprint: &'a str,
}

/// Checks `token` at `now` (unix seconds) with `leeway` seconds on `exp`/`nbf`, refusing a
/// clock more than the leeway behind `last_seen`.
pub(crate) fn check(
    token: &str,
    jwks: &JwkSet,
    expected: &Expected<'_>,
    now: i64,
    leeway: i64,
    last_seen: i64,
) -> OfflineCheck {
    let Some(claims) = verified_claims(token, jwks, expected) else {
        return OfflineCheck::failed(OfflineCode::TokenInvalid);
    };
    // In the order the TypeScript client checks, so one token gets one code from both.
    let code = if claims.lic != license_hash(expected.license_key) {
        OfflineCode::WrongLicense
    } else if claims.fp != fingerprint_hash(expected.fingerprint) {
        OfflineCode::WrongMachine
    } else if claims.code != "VALID" {
        OfflineCode::TokenInvalid
    } else if now.saturating_add(leeway) < last_seen {
        OfflineCode::ClockSetBack
    } else if now.saturating_add(leeway) < claims.nbf {
        OfflineCode::TokenNotYetValid
    } else if now > claims.exp.saturating_add(leeway) {
        OfflineCode::TokenExpired
    } else {
        OfflineCode::Valid
    };
    OfflineCheck {
        code,
        claims: Some(claims),
    }
}

/// The claims of a token whose signature, algorithm, key, issuer and audience hold; times are
/// checked by the caller on its own clock.
pub(crate) fn verified_claims(
    token: &str,
    jwks: &JwkSet,
    expected: &Expected<'_>,
) -> Option<TokenClaims> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    // Before any key is chosen, so that no other algorithm (HS256 keyed with the public key,
    // the classic confusion) is ever tried.
    if header.alg != Algorithm::EdDSA {
        return None;
    }
    let jwk = jwks.find(header.kid.as_deref()?)?;
    let key = DecodingKey::from_jwk(jwk).ok()?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.set_audience(&[expected.product_id]);
    validation.set_issuer(&[expected.issuer]);
    Some(
        jsonwebtoken::decode::<TokenClaims>(token, &key, &validation)
            .ok()?
            .claims,
    )
}

/// A token's `lic`: hex SHA-256 of `gumgate:license:` + the key with ASCII blanks and NUL
/// trimmed and ASCII letters upper-cased (Gumroad matches keys case-insensitively).
pub fn license_hash(license_key: &str) -> String {
    let blanks: &[char] = &['\0', '\t', '\n', '\u{0B}', '\u{0C}', '\r', ' '];
    let key = license_key.trim_matches(blanks).to_ascii_uppercase();
    hex::encode(Sha256::digest(format!("gumgate:license:{key}").as_bytes()))
}

/// A token's `fp`: hex SHA-256 of `gumgate:fingerprint:` + the fingerprint as sent.
pub fn fingerprint_hash(fingerprint: &str) -> String {
    hex::encode(Sha256::digest(
        format!("gumgate:fingerprint:{fingerprint}").as_bytes(),
    ))
}
