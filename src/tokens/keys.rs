//! Ed25519 key material: new PKCS#8 PEM keys, loading them from files, and their public JWK form.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::EncodingKey;
use rand::TryRngCore;
use serde_json::json;

use super::TokenError;

/// A new Ed25519 private key as PKCS#8 PEM.
pub fn generate_pem() -> String {
    to_pem(&random_signing_key())
}

/// Writes a new key to `path` (refusing to overwrite an existing file; file mode 0600 on Unix)
/// and returns its public JWK, for `gumgate keys generate --out PATH`. The JWK has no `kid`:
/// the operator names the key in `[[tokens.keys]]`.
pub fn write_new_key(path: &Path) -> Result<serde_json::Value, TokenError> {
    let key = random_signing_key();
    let failed = |e: std::io::Error| TokenError::KeyWrite {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut options = std::fs::OpenOptions::new();
    // create_new fails if anything exists at the path, so an existing key is never replaced
    // (losing it would break every token it signed).
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(failed)?;
    file.write_all(to_pem(&key).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(failed)?;
    Ok(jwk(&public_x(&key.verifying_key()), None))
}

/// A fresh key straight from the operating system's generator.
pub(super) fn random_signing_key() -> SigningKey {
    // Raw bytes from rand's OsRng rather than `SigningKey::generate`: that needs a rand_core 0.6
    // RNG, and this way no second rand_core is compiled. Any 32 bytes are a valid Ed25519 seed.
    let mut seed = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut seed)
        .expect("the operating system's random number generator failed");
    SigningKey::from_bytes(&seed)
}

/// Reads the PKCS#8 PEM file of key `kid`. Errors name the kid and path but never the contents.
pub(super) fn load_pem_file(kid: &str, path: &Path) -> Result<SigningKey, TokenError> {
    let failed = |reason: String| TokenError::KeyFile {
        kid: kid.to_owned(),
        path: path.to_path_buf(),
        reason,
    };
    let pem =
        zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?);
    SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| failed(format!("not an Ed25519 PKCS#8 PEM private key ({e})")))
}

/// The key in the form jsonwebtoken signs with (PKCS#8 DER).
pub(super) fn encoding_key(key: &SigningKey) -> EncodingKey {
    let der = key
        .to_pkcs8_der()
        .expect("an Ed25519 key always encodes as PKCS#8");
    EncodingKey::from_ed_der(der.as_bytes())
}

/// The RFC 8037 `x` of a public key: its 32 bytes, base64url without padding.
pub(super) fn public_x(key: &VerifyingKey) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// The RFC 7638 thumbprint of the Ed25519 public key whose `x` is given: SHA-256 over the
/// JWK's required members in lexicographic order with no whitespace, base64url without padding.
/// It names a key loaded from `GUMGATE_SIGNING_KEY_FILE`, so the kid follows the key itself.
pub fn thumbprint(x: &str) -> String {
    use sha2::Digest;
    // `x` is base64url, so it needs no JSON escaping.
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
}

/// The RFC 8037 OKP JWK of the public key whose `x` is given.
pub(super) fn jwk(x: &str, kid: Option<&str>) -> serde_json::Value {
    let mut jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": x });
    if let Some(kid) = kid {
        jwk["kid"] = kid.into();
    }
    jwk["alg"] = "EdDSA".into();
    jwk["use"] = "sig".into();
    jwk
}

fn to_pem(key: &SigningKey) -> String {
    key.to_pkcs8_pem(LineEnding::LF)
        .expect("an Ed25519 key always encodes as PKCS#8 PEM")
        .to_string()
}
