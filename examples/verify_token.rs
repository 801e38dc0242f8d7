//! How a desktop app checks its Gumgate activation token offline.
//!
//! The app keeps three things from its last successful `activate`/`validate`: the token, the
//! JWKS (`GET /.well-known/jwks.json`, refreshed whenever it is online) and, as always, its own
//! license key and machine fingerprint. Offline, it trusts the token when:
//! 1. the signature verifies with a JWKS key named by the token's `kid` (EdDSA only);
//! 2. `aud` is its own product id, `iss` the gateway it expects, and `exp` has not passed;
//! 3. `lic` and `fp` are the hashes of its own license key and fingerprint, so a token copied
//!    from another machine or another license is worthless.
//!
//! Run: `cargo run --example verify_token -- TOKEN JWKS_FILE PRODUCT_ID LICENSE_KEY FINGERPRINT`
//! (exit 0 and the claims when valid). The test suite runs `verify_offline` on real tokens.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The claims an app reads.
#[derive(Debug, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub aud: String,
    pub lic: String,
    pub fp: String,
    pub seats: u32,
    pub code: String,
    pub exp: u64,
}

/// Checks `token` offline; `Ok` with its claims when this machine may run the product.
pub fn verify_offline(
    token: &str,
    jwks_json: &str,
    product_id: &str,
    license_key: &str,
    fingerprint: &str,
) -> Result<Claims, String> {
    let header = decode_header(token).map_err(|e| format!("not a token: {e}"))?;
    if header.alg != Algorithm::EdDSA {
        return Err("only EdDSA tokens are accepted".into());
    }
    let kid = header.kid.ok_or("the token names no key")?;
    let jwks: JwkSet = serde_json::from_str(jwks_json).map_err(|e| format!("bad JWKS: {e}"))?;
    let jwk = jwks.find(&kid).ok_or("the token's key is not published")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("bad key: {e}"))?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[product_id]);
    validation.set_issuer(&["gumgate"]);
    let claims = decode::<Claims>(token, &key, &validation)
        .map_err(|e| format!("invalid token: {e}"))?
        .claims;
    if claims.lic
        != hash(&format!(
            "gumgate:license:{}",
            license_key.trim().to_uppercase()
        ))
    {
        return Err("the token is for another license".into());
    }
    if claims.fp != hash(&format!("gumgate:fingerprint:{fingerprint}")) {
        return Err("the token is for another machine".into());
    }
    if claims.code != "VALID" {
        return Err(format!("the license is not valid: {}", claims.code));
    }
    Ok(claims)
}

fn hash(input: &str) -> String {
    Sha256::digest(input.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[allow(dead_code)] // the tests include this file for `verify_offline` alone
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [token, jwks_file, product, license, fingerprint] = args.as_slice() else {
        eprintln!("usage: verify_token TOKEN JWKS_FILE PRODUCT_ID LICENSE_KEY FINGERPRINT");
        std::process::exit(2);
    };
    let jwks = std::fs::read_to_string(jwks_file).unwrap_or_else(|e| {
        eprintln!("cannot read {jwks_file}: {e}");
        std::process::exit(2);
    });
    match verify_offline(token, &jwks, product, license, fingerprint) {
        Ok(c) => println!(
            "valid: activation {} of {}, {} seats, until {}",
            c.sub, c.aud, c.seats, c.exp
        ),
        Err(e) => {
            eprintln!("not valid: {e}");
            std::process::exit(1);
        }
    }
}
