//! Key files: writing new keys, loading them through the settings, and refusing bad ones.

use std::path::PathBuf;

use super::*;

/// A P-256 PKCS#8 key (generated for this test and used nowhere else): a valid PEM private key
/// that is not Ed25519.
const P256_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgg7kjQW9+NOLmTOTq
t9xqJE/IvEy79SwldH+ttfj03fqhRANCAARv8DGI0Ai/Z1oUrGtKy27GB4+ShxK+
PRWQZfoWYwrmRfu6z/zefqzqik7FNJglxju9TsxJwNidPmPyABj484Qv
-----END PRIVATE KEY-----
";

fn one_key(kid: &str, path: PathBuf) -> TokenSettings {
    let key = SigningKeySettings {
        kid: kid.into(),
        path,
        retired: false,
    };
    TokenSettings {
        issuer: "gumgate-test".into(),
        active_kid: kid.into(),
        keys: vec![key],
    }
}

fn key_file_error(settings: &TokenSettings) -> (String, PathBuf, String) {
    match Signer::from_settings(settings) {
        Err(TokenError::KeyFile { kid, path, reason }) => (kid, path, reason),
        other => panic!("expected a KeyFile error, got {other:?}"),
    }
}

#[test]
fn missing_and_non_ed25519_key_files_are_named_by_kid_and_path() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("missing.pem");
    let (kid, path, _) = key_file_error(&one_key("k1", missing.clone()));
    assert_eq!((kid.as_str(), path), ("k1", missing.clone()));
    let err = Signer::from_settings(&one_key("k1", missing.clone()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"k1\"") && err.contains(&*missing.to_string_lossy()),
        "{err}"
    );

    let p256 = dir.path().join("p256.pem");
    std::fs::write(&p256, P256_PEM).unwrap();
    let (kid, path, reason) = key_file_error(&one_key("ec", p256.clone()));
    assert_eq!((kid.as_str(), path), ("ec", p256));
    assert!(reason.contains("Ed25519"), "{reason}");
    assert!(
        !reason.contains("MIGHAgEA"),
        "the key must never be quoted: {reason}"
    );

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a key").unwrap();
    assert_eq!(key_file_error(&one_key("g", garbage)).0, "g");
}

#[test]
fn a_generated_key_loads_through_the_settings_and_signs() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("k.pem");
    let pem = generate_pem();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    std::fs::write(&path, &pem).unwrap();
    let signer = Signer::from_settings(&one_key("k", path)).unwrap();
    let issued = signer.issue(new_token(SystemTime::now())).unwrap();
    assert_eq!(issued.kid, "k");
    assert_eq!(signer.verify(&issued.token, "prod-1").unwrap().seats, 3);
    assert_ne!(generate_pem(), pem);
}

#[test]
fn write_new_key_refuses_to_overwrite_and_returns_the_public_jwk() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("new.pem");
    let jwk = write_new_key(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert!(jwk.get("d").is_none() && jwk.get("kid").is_none(), "{jwk}");

    let err = write_new_key(&path).unwrap_err();
    assert!(
        matches!(&err, TokenError::KeyWrite { path: p, .. } if *p == path),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the existing key must be untouched"
    );

    // The JWK describes the key in the file.
    let signer = Signer::from_settings(&one_key("new", path)).unwrap();
    assert_eq!(signer.jwks()["keys"][0]["x"], jwk["x"]);
}

#[cfg(unix)]
#[test]
fn new_key_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("secret.pem");
    write_new_key(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn duplicate_kids_and_a_retired_or_unknown_active_kid_are_refused() {
    let dir = TempDir::new().unwrap();
    let mut twice = settings(&dir, "a", &[("a", false)]);
    twice.keys.push(twice.keys[0].clone());
    let retired = settings(&dir, "a", &[("a", true), ("b", false)]);
    let unknown = settings(&dir, "zz", &[("a", false)]);
    for bad in [twice, retired, unknown] {
        let err = Signer::from_settings(&bad).unwrap_err();
        assert!(matches!(err, TokenError::Settings(_)), "{err}");
    }
}

#[test]
fn the_kid_of_a_key_file_is_its_rfc_7638_thumbprint() {
    // RFC 8037 appendix A.3: the thumbprint of the Ed25519 key of A.2.
    assert_eq!(
        thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
}

#[test]
fn env_key_files_sign_with_the_new_key_and_publish_both() {
    let dir = TempDir::new().unwrap();
    let (old, new) = (dir.path().join("old.pem"), dir.path().join("new.pem"));
    let old_kid = thumbprint(write_new_key(&old).unwrap()["x"].as_str().unwrap());
    let new_kid = thumbprint(write_new_key(&new).unwrap()["x"].as_str().unwrap());
    let secrets = crate::config::Secrets {
        signing_key_file: Some(new),
        previous_signing_key_file: Some(old.clone()),
        ..Default::default()
    };
    let no_keys = TokenSettings {
        issuer: "gumgate-test".into(),
        active_kid: String::new(),
        keys: Vec::new(),
    };
    let signer = Signer::configured(&no_keys, &secrets).unwrap();
    assert_eq!(issue_now(&signer).kid, new_kid);
    let kids: Vec<Value> = signer.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].clone())
        .collect();
    assert_eq!(kids, [Value::from(new_kid), Value::from(old_kid)]);
    // Both sources at once are refused, naming the variable.
    let err = Signer::configured(&one_key("k", old), &secrets).unwrap_err();
    assert!(
        err.to_string().contains("GUMGATE_SIGNING_KEY_FILE"),
        "{err}"
    );
}
