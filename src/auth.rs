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
    /// Each token's name, for logs and audit rows (never the token).
    names: Vec<String>,
}

/// A configured entry's name and token: `name:token` names it (the name being 1 to 32 of
/// `a-z 0-9 _ -` before the first colon); an unnamed token is `admin-<n>`, its place in the
/// list from 1.
pub fn split_named(entry: &str, place: usize) -> (String, &str) {
    if let Some((name, token)) = entry.split_once(':')
        && (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return (name.to_owned(), token);
    }
    (format!("admin-{place}"), entry)
}

impl AdminTokens {
    /// `tokens` as configured: each `token` or `name:token` (see [`split_named`]).
    pub fn new(tokens: Vec<Secret>) -> Self {
        let key: [u8; 32] = rand::random();
        let (mut digests, mut names) = (Vec::new(), Vec::new());
        for (i, t) in tokens.iter().enumerate() {
            let (name, token) = split_named(t.expose(), i + 1);
            digests.push(*blake3::keyed_hash(&key, token.as_bytes()).as_bytes());
            names.push(name);
        }
        Self(Arc::new(Tokens {
            key,
            digests,
            names,
        }))
    }

    /// True when no token is configured (nothing is accepted).
    pub fn is_empty(&self) -> bool {
        self.0.digests.is_empty()
    }

    /// True when `presented` equals one of the tokens. The presented token is hashed with a
    /// per-process key and the fixed-size digests are compared in constant time, every one of
    /// them, so timing reveals neither which token matched, nor how much of it, nor its length.
    pub fn accepts(&self, presented: &str) -> bool {
        self.matching(presented).is_some()
    }

    /// The name of the token `presented` equals, compared as [`AdminTokens::accepts`] says:
    /// every digest, in constant time.
    fn matching(&self, presented: &str) -> Option<&str> {
        let digest = blake3::keyed_hash(&self.0.key, presented.as_bytes());
        let mut found = None;
        for (i, d) in self.0.digests.iter().enumerate() {
            let eq: bool = d.ct_eq(digest.as_bytes()).into();
            if eq {
                found = Some(i);
            }
        }
        found.map(|i| self.0.names[i].as_str())
    }

    /// Checks the caller's credential: the `Authorization` header when present (as Doorkeeper
    /// does, it wins over params), else the `access_token` param found in the request.
    /// Returns the matching token's name.
    pub fn require(
        &self,
        headers: &HeaderMap,
        param_token: Option<&str>,
    ) -> Result<String, AppError> {
        let presented = match headers.get(header::AUTHORIZATION) {
            Some(value) => bearer(value.to_str().unwrap_or_default()),
            None => param_token,
        };
        presented
            .and_then(|token| self.matching(token))
            .map(str::to_owned)
            .ok_or(AppError::Unauthorized)
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

    #[test]
    fn named_tokens_answer_with_their_name_and_unnamed_ones_with_their_place() {
        let t = AdminTokens::new(vec![
            Secret::new("ops:ops-token-0123456789"),
            Secret::new("plain-token-0123456789"),
        ]);
        let header = |tok: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::AUTHORIZATION,
                format!("Bearer {tok}").parse().unwrap(),
            );
            h
        };
        assert_eq!(
            t.require(&header("ops-token-0123456789"), None).unwrap(),
            "ops"
        );
        assert_eq!(
            t.require(&header("plain-token-0123456789"), None).unwrap(),
            "admin-2"
        );
        // The configured entry is not the token: only the part after the name is.
        assert!(
            t.require(&header("ops:ops-token-0123456789"), None)
                .is_err()
        );
        // Something that is no name stays part of the token.
        assert_eq!(
            split_named("Not A Name:xyz", 3),
            ("admin-3".to_owned(), "Not A Name:xyz")
        );
    }
}
