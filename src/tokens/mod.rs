//! Activation tokens: short-lived Ed25519-signed JWTs that a desktop app verifies offline with
//! the keys published at `/.well-known/jwks.json`.
//!
//! One key signs (`GUMGATE_SIGNING_KEY_FILE`, kid = its RFC 7638 thumbprint; or
//! `tokens.active_kid`); every key not retired (or `GUMGATE_PREVIOUS_SIGNING_KEY_FILE`) is
//! published, so a token signed before a rotation still verifies after it. jsonwebtoken does the JWT work with its RustCrypto
//! backend only (enabling two backends makes it panic), and key files are read with the same
//! ed25519-dalek it uses, so one copy of the curve code is compiled.

mod keys;
mod signer;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub use keys::{generate_pem, thumbprint, write_new_key};

use crate::decision::Entitlements;
pub use signer::Signer;

/// Why a token could not be issued or verified, or a key not loaded. No variant ever holds key
/// material.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(
        "no token signing key is configured: set GUMGATE_SIGNING_KEY_FILE, or tokens.active_kid \
         and tokens.keys (create a key with `gumgate keys generate --out PATH`), or run \
         `serve --sandbox` for an ephemeral key"
    )]
    NoSigningKey,
    #[error("signing key {kid:?} at {path}: {reason}")]
    KeyFile {
        kid: String,
        path: PathBuf,
        reason: String,
    },
    #[error("could not write a new key to {path}: {reason}")]
    KeyWrite { path: PathBuf, reason: String },
    #[error("invalid token settings: {0}")]
    Settings(String),
    #[error("token could not be signed: {0}")]
    Signing(String),
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// What a new token says; the caller computes the hashes with [`crate::hashes`].
#[derive(Debug, Clone)]
pub struct NewToken {
    pub product_id: String,
    pub activation_id: String,
    pub license_hash: String,
    pub fingerprint_hash: String,
    pub seats: u32,
    pub code: String,
    pub entitlements: Entitlements,
    pub ttl: Duration,
    /// The latest `exp` allowed (a subscription's end, an offline grace's end): the token
    /// expires at `now + ttl` or then, whichever comes first.
    pub not_after: Option<SystemTime>,
    pub now: SystemTime,
}

/// A signed token and what the response needs to say about it.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub expires_at: SystemTime,
    pub kid: String,
}

/// The claims of an activation token. `aud` is the product id, `sub` the activation id, `lic`
/// and `fp` the hashes of the license key and fingerprint; times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub lic: String,
    pub fp: String,
    pub seats: u32,
    pub code: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    /// What the purchase unlocks; empty in tokens issued before entitlements existed.
    #[serde(default)]
    pub entitlements: Entitlements,
}
