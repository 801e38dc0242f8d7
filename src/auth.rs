//! Admin authentication. The admin token is accepted wherever a Gumroad client puts its OAuth
//! token (`Authorization: Bearer`, or an `access_token` param in the query, a form body or a
//! JSON body) and is compared in constant time against every configured token.

use std::sync::Arc;

use http::{HeaderMap, header};
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::error::AppError;

/// The configured admin tokens, held as keyed hashes.
#[derive(Clone, Default)]
pub struct AdminTokens(Arc<Tokens>);

#[derive(Default)]
struct Tokens {
    key: [u8; 32],
    digests: Vec<[u8; 32]>,
}

impl AdminTokens {
    pub fn new(tokens: Vec<Secret>) -> Self {
        let key: [u8; 32] = rand::random();
        let digests = tokens
            .iter()
            .map(|t| *blake3::keyed_hash(&key, t.expose().as_bytes()).as_bytes())
            .collect();
        Self(Arc::new(Tokens { key, digests }))
    }

    /// True when no token is configured (nothing is accepted).
    pub fn is_empty(&self) -> bool {
        self.0.digests.is_empty()
    }

    /// True when `presented` equals one of the tokens. The presented token is hashed with a
    /// per-process key and the fixed-size digests are compared in constant time, every one of
    /// them, so timing reveals neither which token matched, nor how much of it, nor its length.
    pub fn accepts(&self, presented: &str) -> bool {
        let digest = blake3::keyed_hash(&self.0.key, presented.as_bytes());
        self.0.digests.iter().fold(false, |matched, d| {
            let eq: bool = d.ct_eq(digest.as_bytes()).into();
            matched | eq
        })
    }

    /// Checks the caller's credential: the `Authorization` header when present (as Doorkeeper
    /// does, it wins over params), else the `access_token` param found in the request.
    pub fn require(&self, headers: &HeaderMap, param_token: Option<&str>) -> Result<(), AppError> {
        let presented = match headers.get(header::AUTHORIZATION) {
            Some(value) => bearer(value.to_str().unwrap_or_default()),
            None => param_token,
        };
        match presented {
            Some(token) if self.accepts(token) => Ok(()),
            _ => Err(AppError::Unauthorized),
        }
    }
}

/// The token of a `Bearer` authorization value (scheme case-insensitive, per RFC 9110).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> AdminTokens {
        AdminTokens::new(vec![
            Secret::new("first-admin-token-0001"),
            Secret::new("second-admin-token-002"),
        ])
    }

    #[test]
    fn header_wins_over_params_and_any_token_opens() {
        let mut h = HeaderMap::new();
        assert!(tokens().require(&h, Some("second-admin-token-002")).is_ok());
        h.insert(
            header::AUTHORIZATION,
            "bearer first-admin-token-0001".parse().unwrap(),
        );
        assert!(tokens().require(&h, Some("wrong")).is_ok());
        h.insert(header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert!(
            tokens()
                .require(&h, Some("first-admin-token-0001"))
                .is_err()
        );
    }

    #[test]
    fn prefixes_and_empty_tokens_are_refused() {
        let t = tokens();
        assert!(!t.accepts("first-admin-token-000"));
        assert!(!t.accepts(""));
        assert!(!AdminTokens::default().accepts(""));
        assert!(t.require(&HeaderMap::new(), None).is_err());
    }
}
