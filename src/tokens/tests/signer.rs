//! Issuing and verifying tokens, as the server and as an app holding only the JWKS.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::*;

#[test]
fn issued_tokens_verify_with_every_claim_and_an_eddsa_kid_header() {
    let signer = Signer::ephemeral("gumgate-test");
    let now = SystemTime::now();
    let issued = signer.issue(new_token(now)).unwrap();
    assert!(issued.kid.starts_with("ephemeral-") && issued.kid.len() == "ephemeral-".len() + 8);

    let header: Value = serde_json::from_slice(&segments(&issued.token)[0]).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], issued.kid.as_str());

    let claims = signer.verify(&issued.token, PRODUCT).unwrap();
    let iat = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let expected = Claims {
        iss: "gumgate-test".into(),
        aud: PRODUCT.into(),
        sub: "act-1".into(),
        lic: crate::hashes::license_hash("abcd-ef"),
        fp: crate::hashes::fingerprint_hash("machine"),
        seats: 3,
        code: "VALID".into(),
        iat,
        nbf: iat,
        exp: iat + 3600,
        entitlements: new_token(now).entitlements,
    };
    assert_eq!(claims, expected);
    assert_eq!(
        issued.expires_at,
        UNIX_EPOCH + Duration::from_secs(iat + 3600)
    );
}

#[test]
fn an_app_with_only_the_jwks_can_check_the_signature() {
    let signer = Signer::ephemeral("gumgate-test");
    let issued = issue_now(&signer);
    let jwks = signer.jwks();
    let jwk = &jwks["keys"][0];
    assert_eq!(jwk["kid"], issued.kid.as_str());

    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let public = VerifyingKey::from_bytes(&x).unwrap();
    let (message, signature) = issued.token.rsplit_once('.').unwrap();
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
    public.verify(message.as_bytes(), &signature).unwrap();
    assert!(public.verify(b"something else", &signature).is_err());
}

#[test]
fn jwks_lists_exactly_the_keys_not_retired_as_okp_ed25519() {
    let dir = TempDir::new().unwrap();
    let signer = Signer::from_settings(&settings(
        &dir,
        "b",
        &[("a", false), ("b", false), ("old", true)],
    ))
    .unwrap();
    let jwks = signer.jwks();
    let keys = jwks["keys"].as_array().unwrap();
    let kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, ["a", "b"]);
    for key in keys {
        let names: Vec<&str> = key
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(names, ["kty", "crv", "x", "kid", "alg", "use"]);
        assert_eq!(
            (&key["kty"], &key["crv"]),
            (&json!("OKP"), &json!("Ed25519"))
        );
        assert_eq!((&key["alg"], &key["use"]), (&json!("EdDSA"), &json!("sig")));
        let x = key["x"].as_str().unwrap();
        assert!(!x.contains('='), "x must be unpadded");
        assert_eq!(URL_SAFE_NO_PAD.decode(x).unwrap().len(), 32);
    }
    assert_ne!(keys[0]["x"], keys[1]["x"]);
}

#[test]
fn tokens_survive_a_rotation_until_their_key_is_retired() {
    let dir = TempDir::new().unwrap();
    let before = Signer::from_settings(&settings(&dir, "a", &[("a", false)])).unwrap();
    let token = issue_now(&before).token;

    let rotated =
        Signer::from_settings(&settings(&dir, "b", &[("a", false), ("b", false)])).unwrap();
    assert_eq!(issue_now(&rotated).kid, "b");
    assert_eq!(rotated.verify(&token, PRODUCT).unwrap().sub, "act-1");

    let retired =
        Signer::from_settings(&settings(&dir, "b", &[("a", true), ("b", false)])).unwrap();
    let err = retired.verify(&token, PRODUCT).unwrap_err();
    assert!(
        matches!(&err, TokenError::Invalid(m) if m.contains("not published")),
        "{err}"
    );
}

/// The reason `signer` gives for refusing `token` for the test product.
fn refusal(signer: &Signer, token: &str, audience: &str) -> String {
    match signer.verify(token, audience) {
        Err(TokenError::Invalid(reason)) => reason,
        other => panic!("expected the token to be refused as invalid, got {other:?}"),
    }
}

#[test]
fn wrong_audience_issuer_expired_and_not_yet_valid_tokens_are_rejected() {
    let dir = TempDir::new().unwrap();
    let signer = Signer::from_settings(&settings(&dir, "a", &[("a", false)])).unwrap();
    let now = SystemTime::now();
    let token = issue_now(&signer).token;
    assert!(refusal(&signer, &token, "other-product").contains("InvalidAudience"));
    let mut elsewhere = settings(&dir, "a", &[("a", false)]);
    elsewhere.issuer = "someone-else".into();
    let elsewhere = Signer::from_settings(&elsewhere).unwrap();
    assert!(refusal(&elsewhere, &token, PRODUCT).contains("InvalidIssuer"));

    // An hour-long token issued two hours ago, and one valid from an hour from now: both far
    // outside the 60 s leeway.
    let expired = signer
        .issue(new_token(now - Duration::from_secs(7200)))
        .unwrap();
    assert!(refusal(&signer, &expired.token, PRODUCT).contains("ExpiredSignature"));
    let early = signer
        .issue(new_token(now + Duration::from_secs(3600)))
        .unwrap();
    assert!(refusal(&signer, &early.token, PRODUCT).contains("ImmatureSignature"));

    // Within the leeway both ways: an app clock 30 s behind ours, or a token 30 s past `exp`.
    let skewed = signer
        .issue(new_token(now + Duration::from_secs(30)))
        .unwrap();
    signer.verify(&skewed.token, PRODUCT).unwrap();
    let just_expired = signer
        .issue(new_token(now - Duration::from_secs(3630)))
        .unwrap();
    signer.verify(&just_expired.token, PRODUCT).unwrap();
    // 61 s past the limit is outside it.
    let past = signer
        .issue(new_token(now - Duration::from_secs(3600 + 62)))
        .unwrap();
    assert!(refusal(&signer, &past.token, PRODUCT).contains("ExpiredSignature"));
}

#[test]
fn tampered_payloads_and_other_algorithms_are_rejected() {
    let signer = Signer::ephemeral("gumgate-test");
    let issued = issue_now(&signer);
    let parts: Vec<&str> = issued.token.split('.').collect();

    let mut claims: Value = serde_json::from_slice(&segments(&issued.token)[1]).unwrap();
    claims["seats"] = json!(1000);
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    assert!(refusal(&signer, &tampered, PRODUCT).contains("InvalidSignature"));

    let none = json!({ "alg": "none", "typ": "JWT", "kid": issued.kid });
    let unsigned = format!("{}.{}.", b64(&none), parts[1]);
    refusal(&signer, &unsigned, PRODUCT);

    // HS256 keyed with the public key an attacker can read from the JWKS.
    let x = signer.jwks()["keys"][0]["x"].as_str().unwrap().to_owned();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(issued.kid.clone());
    let claims = signer.verify(&issued.token, PRODUCT).unwrap();
    for secret in [x.as_bytes().to_vec(), URL_SAFE_NO_PAD.decode(&x).unwrap()] {
        let hs =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).unwrap();
        let err = signer.verify(&hs, PRODUCT).unwrap_err();
        assert!(err.to_string().contains("not EdDSA"), "{err}");
    }
    refusal(&signer, "not.a.token", PRODUCT);
}

#[test]
fn a_disabled_signer_refuses_to_issue_and_publishes_nothing() {
    let signer = Signer::disabled("gumgate-test");
    assert!(!signer.can_issue());
    assert!(matches!(
        signer.issue(new_token(SystemTime::now())),
        Err(TokenError::NoSigningKey)
    ));
    assert_eq!(signer.jwks(), json!({ "keys": [] }));
    let empty = TokenSettings {
        issuer: "i".into(),
        active_kid: String::new(),
        keys: vec![],
    };
    assert!(!Signer::from_settings(&empty).unwrap().can_issue());
    assert!(Signer::ephemeral("i").can_issue());
}

#[test]
fn debug_output_names_kids_but_no_key_material() {
    let signer = Signer::ephemeral("gumgate-test");
    let x = signer.jwks()["keys"][0]["x"].as_str().unwrap().to_owned();
    let debug = format!("{signer:?}");
    assert!(
        debug.contains("ephemeral-") && !debug.contains(&x),
        "{debug}"
    );
}
