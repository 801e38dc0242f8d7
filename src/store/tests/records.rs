//! Decisions for offline grace and the audit trail.

use super::*;

#[tokio::test]
async fn record_decision_keeps_the_last_good_time() {
    let dir = TempDir::new().unwrap();
    let store = store_in(&dir).await;
    let a = created(store.activate(new("fp", 1, T0)).await.unwrap());
    assert_eq!((a.last_code.as_deref(), a.last_good_at), (None, None));

    store
        .record_decision(&a.id, "VALID", true, T0 + 60)
        .await
        .unwrap();
    let got = store.get(LIC, &a.id).await.unwrap().unwrap();
    assert_eq!(
        (got.last_code.as_deref(), got.last_good_at),
        (Some("VALID"), Some(T0 + 60))
    );

    let down = "UPSTREAM_UNAVAILABLE";
    store
        .record_decision(&a.id, down, false, T0 + 120)
        .await
        .unwrap();
    let got = store.find_by_fingerprint(LIC, "fp").await.unwrap().unwrap();
    assert_eq!(
        (got.last_code.as_deref(), got.last_good_at),
        (Some(down), Some(T0 + 60))
    );

    let unknown = store.record_decision("act_nope", "VALID", true, T0).await;
    assert!(matches!(unknown, Err(StoreError::UnknownActivation(id)) if id == "act_nope"));
}

fn entry(at: i64, action: &str) -> AuditEntry {
    AuditEntry {
        at,
        action: action.into(),
        license_hash: LIC.into(),
        activation_id: None,
        code: Some("REFUNDED".into()),
        detail: None,
    }
}

#[tokio::test]
async fn the_audit_trail_is_append_only_and_in_order() {
    let dir = TempDir::new().unwrap();
    let store = store_in(&dir).await;
    // Same second on purpose: the order is the order of appending, not of `at`.
    for action in ["first", "second", "third"] {
        store.audit(entry(T0, action)).await.unwrap();
    }
    let a = created(store.activate(new("fp", 1, T0 + 1)).await.unwrap());
    store.activate(new("fp2", 1, T0 + 2)).await.unwrap();

    let trail = store.audit_trail(LIC, 10).await.unwrap();
    let actions: Vec<_> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["first", "second", "third", "activate", "deny"]);
    assert_eq!(trail[0], entry(T0, "first"));
    assert_eq!(trail[3].activation_id.as_deref(), Some(a.id.as_str()));
    assert_eq!(trail[4].code.as_deref(), Some("TOO_MANY_ACTIVATIONS"));
    let latest = store.audit_trail(LIC, 2).await.unwrap();
    assert_eq!(latest, trail[3..].to_vec());
    assert!(store.audit_trail("other", 10).await.unwrap().is_empty());

    for sql in ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"] {
        let err = sqlx::query(sql).execute(&store.pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    assert_eq!(store.audit_trail(LIC, 10).await.unwrap(), trail);
}
