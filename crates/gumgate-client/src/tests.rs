//! Offline checks on tokens issued by the server's own signer (`gumgate::tokens`), with keys made
//! here: every way a token must be refused, the leeway, the clock set back, a key rotation.

use std::time::{Duration, UNIX_EPOCH};

use gumgate::tokens::{NewToken, Signer, write_new_key};
use jsonwebtoken::jwk::JwkSet;
use tempfile::TempDir;

use super::*;

const PRODUCT: &str = "9Y2u8Dy4AWioyNrmNROrFA==";
const KEY: &str = "5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0";
const MACHINE: &str = "machine-fp";
const T0: i64 = 1_800_000_000;

/// A signer with a fresh key (and optionally a previous one, also published).
fn signer(dir: &TempDir, name: &str, previous: Option<&str>) -> Signer {
    let path = |n: &str| dir.path().join(format!("{n}.pem"));
    for n in std::iter::once(name).chain(previous) {
        if !path(n).exists() {
            write_new_key(&path(n)).unwrap();
        }
    }
    Signer::from_files("gumgate", &path(name), previous.map(path).as_deref()).unwrap()
}

fn token(signer: &Signer, at: i64, ttl: u64, product: &str) -> String {
    let entitlements = gumgate::decision::Entitlements {
        variants: vec!["Premium".into()],
        features: vec!["pro".into()],
        ..Default::default()
    };
    signer
        .issue(NewToken {
            product_id: product.into(),
            activation_id: "act_1".into(),
            license_hash: license_hash(KEY),
            fingerprint_hash: fingerprint_hash(MACHINE),
            seats: 3,
            code: "VALID".into(),
            entitlements,
            ttl: Duration::from_secs(ttl),
            not_after: None,
            now: UNIX_EPOCH + Duration::from_secs(u64::try_from(at).unwrap()),
        })
        .unwrap()
        .token
}

/// A state file in `dir` for this machine, activated with a token of `ttl` seconds issued at
/// `T0`, with the signer's JWKS cached when `cache_jwks`; its path.
fn stored(dir: &TempDir, signer: &Signer, ttl: u64, cache_jwks: bool) -> std::path::PathBuf {
    let path = dir.path().join("license.json");
    let mut state = State::new(PRODUCT);
    state.license_key = Some(KEY.into());
    state.activation_id = Some("act_1".into());
    state.token = Some(token(signer, T0, ttl, PRODUCT));
    state.jwks = cache_jwks.then(|| signer.jwks());
    Storage::File(path.clone()).save(&state).unwrap();
    path
}

fn jwks(signer: &Signer) -> JwkSet {
    serde_json::from_value(signer.jwks()).unwrap()
}

fn expected<'a>(key: &'a str, machine: &'a str) -> Expected<'a> {
    Expected {
        issuer: "gumgate",
        product_id: PRODUCT,
        license_key: key,
        fingerprint: machine,
    }
}

fn code(token: &str, set: &JwkSet, now: i64) -> OfflineCode {
    offline::check(token, set, &expected(KEY, MACHINE), now, 300, 0).code
}

#[test]
fn a_token_is_trusted_within_its_life_and_the_leeway_only() {
    let dir = TempDir::new().unwrap();
    let s = signer(&dir, "a", None);
    let set = jwks(&s);
    let t = token(&s, T0, 3600, PRODUCT);
    let check = offline::check(&t, &set, &expected(KEY, MACHINE), T0 + 10, 300, 0);
    assert_eq!(check.code, OfflineCode::Valid);
    let claims = check.claims.unwrap();
    assert_eq!((claims.sub.as_str(), claims.seats), ("act_1", 3));
    assert!(claims.entitlements.features.contains(&"pro".to_owned()));
    // Expired 4 minutes ago: within the 5-minute leeway. 6 minutes: not.
    assert_eq!(code(&t, &set, T0 + 3600 + 240), OfflineCode::Valid);
    assert_eq!(code(&t, &set, T0 + 3600 + 360), OfflineCode::TokenExpired);
    // Issued ahead of this clock: within the leeway, and beyond it.
    assert_eq!(code(&t, &set, T0 - 240), OfflineCode::Valid);
    assert_eq!(code(&t, &set, T0 - 360), OfflineCode::TokenNotYetValid);
    // A clock set back behind the last time seen (beyond the leeway) is refused.
    let back = offline::check(&t, &set, &expected(KEY, MACHINE), T0 + 10, 300, T0 + 1000);
    assert_eq!(back.code, OfflineCode::ClockSetBack);
}

#[test]
fn a_token_for_another_license_machine_product_or_key_is_refused() {
    let dir = TempDir::new().unwrap();
    let s = signer(&dir, "a", None);
    let set = jwks(&s);
    let t = token(&s, T0, 3600, PRODUCT);
    let with = |key: &str, machine: &str| {
        offline::check(&t, &set, &expected(key, machine), T0, 300, 0).code
    };
    // The key is matched as the server matches it: case and blanks aside.
    assert_eq!(
        with(&format!(" {} ", KEY.to_lowercase()), MACHINE),
        OfflineCode::Valid
    );
    assert_eq!(
        with("6B2D1E4F-9C3E5F72-A08B4D16-E5F3C2B1", MACHINE),
        OfflineCode::WrongLicense
    );
    assert_eq!(with(KEY, "another-machine"), OfflineCode::WrongMachine);
    // Another product, another issuer, a key not in the JWKS, another algorithm.
    assert_eq!(
        code(&token(&s, T0, 3600, "other"), &set, T0),
        OfflineCode::TokenInvalid
    );
    let other = Expected {
        issuer: "someone-else",
        ..expected(KEY, MACHINE)
    };
    assert_eq!(
        offline::check(&t, &set, &other, T0, 300, 0).code,
        OfflineCode::TokenInvalid
    );
    let stranger = signer(&dir, "b", None);
    assert_eq!(code(&t, &jwks(&stranger), T0), OfflineCode::TokenInvalid);
    // HS256 keyed with the public key itself (the classic confusion), under the real kid: only
    // the algorithm pin refuses it.
    let published = s.jwks();
    let kid = published["keys"][0]["kid"].as_str().unwrap();
    let x = published["keys"][0]["x"].as_str().unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    let hs256 = jsonwebtoken::encode(
        &header,
        &serde_json::json!({"iss": "gumgate", "aud": PRODUCT, "sub": "x", "lic": license_hash(KEY),
            "fp": fingerprint_hash(MACHINE), "seats": 99, "code": "VALID", "iat": T0, "nbf": T0,
            "exp": T0 + 3600}),
        &jsonwebtoken::EncodingKey::from_secret(x.as_bytes()),
    )
    .unwrap();
    assert_eq!(code(&hs256, &set, T0), OfflineCode::TokenInvalid);
    assert_eq!(code("not a token", &set, T0), OfflineCode::TokenInvalid);
}

#[test]
fn a_token_signed_before_a_key_rotation_still_verifies() {
    let dir = TempDir::new().unwrap();
    let old = signer(&dir, "old", None);
    let t = token(&old, T0, 3600, PRODUCT);
    let rotated = signer(&dir, "new", Some("old"));
    assert_eq!(jwks(&rotated).keys.len(), 2);
    assert_eq!(code(&t, &jwks(&rotated), T0), OfflineCode::Valid);
    assert_eq!(
        code(&token(&rotated, T0, 3600, PRODUCT), &jwks(&rotated), T0),
        OfflineCode::Valid
    );
}

#[test]
fn the_client_keeps_the_latest_time_seen_so_a_clock_set_back_fails_offline() {
    let dir = TempDir::new().unwrap();
    let s = signer(&dir, "a", None);
    let path = stored(&dir, &s, 86_400, true);
    let now = Arc::new(std::sync::atomic::AtomicI64::new(T0 + 7200));
    let client = {
        let now = now.clone();
        Client::builder("http://127.0.0.1:9", PRODUCT)
            .state_path(&path)
            .fingerprint(MACHINE)
            .clock(move || now.load(std::sync::atomic::Ordering::SeqCst))
            .build()
            .unwrap()
    };
    assert!(client.check_offline().is_valid());
    // Persisted: a new client (the app restarted) with its clock set back two hours fails.
    now.store(T0 + 60, std::sync::atomic::Ordering::SeqCst);
    let restarted = {
        let now = now.clone();
        Client::builder("http://127.0.0.1:9", PRODUCT)
            .state_path(&path)
            .fingerprint(MACHINE)
            .clock(move || now.load(std::sync::atomic::Ordering::SeqCst))
            .build()
            .unwrap()
    };
    assert_eq!(restarted.check_offline().code, OfflineCode::ClockSetBack);
    // With no token stored there is nothing to trust.
    let fresh = Client::builder("http://127.0.0.1:9", PRODUCT)
        .fingerprint(MACHINE)
        .build()
        .unwrap();
    assert_eq!(fresh.check_offline().code, OfflineCode::NoToken);
}

#[test]
fn a_token_found_expired_cannot_be_revived_by_setting_the_clock_back() {
    let dir = TempDir::new().unwrap();
    let s = signer(&dir, "a", None);
    let path = stored(&dir, &s, 3600, true);
    let at = |now: i64| {
        Client::builder("http://127.0.0.1:9", PRODUCT)
            .state_path(&path)
            .fingerprint(MACHINE)
            .clock(move || now)
            .build()
            .unwrap()
    };
    assert_eq!(
        at(T0 + 86_400).check_offline().code,
        OfflineCode::TokenExpired
    );
    assert_eq!(
        at(T0 + 1800).check_offline().code,
        OfflineCode::ClockSetBack
    );
    // Nothing of the key or the token shows in the state's Debug.
    let shown = format!("{:?}", at(T0).state());
    assert!(!shown.contains(KEY) && !shown.contains("eyJ"), "{shown}");
}

#[tokio::test]
async fn an_unreachable_server_is_decided_offline_from_the_stored_token() {
    let dir = TempDir::new().unwrap();
    let s = signer(&dir, "a", None);
    let path = stored(&dir, &s, 86_400, false);
    // A closed port; the JWKS pinned by the app.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::builder(format!("http://127.0.0.1:{port}"), PRODUCT)
        .state_path(&path)
        .fingerprint(MACHINE)
        .pinned_jwks(s.jwks().to_string())
        .clock(|| T0 + 3600)
        .build()
        .unwrap();
    let outcome = client.validate().await.unwrap();
    assert!(
        matches!(&outcome, Outcome::Offline(c) if c.is_valid()),
        "{outcome:?}"
    );
    assert!(outcome.is_licensed());
    assert_eq!(outcome.entitlements().unwrap().features, ["pro"]);
    // Without an activation there is nothing to validate.
    let empty = Client::builder(format!("http://127.0.0.1:{port}"), PRODUCT)
        .fingerprint(MACHINE)
        .build()
        .unwrap();
    assert!(matches!(
        empty.validate().await,
        Err(ClientError::NotActivated)
    ));
}
