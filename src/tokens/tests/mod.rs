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
        entitlements: crate::decision::Entitlements {
            variants: vec!["Premium".into()],
            features: vec!["pro".into()],
            ..Default::default()
        },
        ttl: Duration::from_secs(3600),
        not_after: None,
        now,
    }
}

#[test]
fn a_token_carries_its_entitlements_and_never_outlives_its_cap() {
    let dir = TempDir::new().unwrap();
    let signer = Signer::from_settings(&settings(&dir, "k1", &[("k1", false)])).unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let capped = NewToken {
        not_after: Some(now + Duration::from_secs(600)),
        ..new_token(now)
    };
    let issued = signer.issue(capped).unwrap();
    assert_eq!(issued.expires_at, now + Duration::from_secs(600));
    let claims: Value = serde_json::from_slice(&segments(&issued.token)[1]).unwrap();
    assert_eq!(claims["exp"], 1_800_000_600u64);
    assert_eq!(claims["entitlements"]["variants"][0], "Premium");
    assert_eq!(claims["entitlements"]["features"][0], "pro");
    assert_eq!(claims["entitlements"]["subscription_ends_at"], Value::Null);
    // A cap later than the lifetime changes nothing; one already passed ends it at issue.
    let late = NewToken {
        not_after: Some(now + Duration::from_secs(86_400)),
        ..new_token(now)
    };
    assert_eq!(
        signer.issue(late).unwrap().expires_at,
        now + Duration::from_secs(3600)
    );
    let passed = NewToken {
        not_after: Some(now - Duration::from_secs(5)),
        ..new_token(now)
    };
    assert_eq!(signer.issue(passed).unwrap().expires_at, now);
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
