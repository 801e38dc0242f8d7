//! Tests of the tokens module, and the helpers they share.

mod keys;
mod signer;

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tempfile::TempDir;

use super::*;
use crate::config::{SigningKeySettings, TokenSettings};

const PRODUCT: &str = "prod-1";

fn new_token(now: SystemTime) -> NewToken {
    NewToken {
        product_id: PRODUCT.into(),
        activation_id: "act-1".into(),
        license_hash: crate::hashes::license_hash("ABCD-EF"),
        fingerprint_hash: crate::hashes::fingerprint_hash("machine"),
        seats: 3,
        code: "VALID".into(),
        ttl: Duration::from_secs(3600),
        now,
    }
}

fn issue_now(signer: &Signer) -> Issued {
    signer.issue(new_token(SystemTime::now())).unwrap()
}

fn segments(token: &str) -> Vec<Vec<u8>> {
    token
        .split('.')
        .map(|s| URL_SAFE_NO_PAD.decode(s).unwrap())
        .collect()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// Settings naming freshly written key files; `keys` are (kid, retired).
fn settings(dir: &TempDir, active: &str, keys: &[(&str, bool)]) -> TokenSettings {
    let keys = keys
        .iter()
        .map(|&(kid, retired)| {
            let path = dir.path().join(format!("{kid}.pem"));
            if !path.exists() {
                write_new_key(&path).unwrap();
            }
            SigningKeySettings {
                kid: kid.into(),
                path,
                retired,
            }
        })
        .collect();
    TokenSettings {
        issuer: "gumgate-test".into(),
        active_kid: active.into(),
        keys,
    }
}
