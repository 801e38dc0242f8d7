//! Decisions for offline grace and the audit trail.

use super::*;

on_both_engines! {
    async fn record_decision_keeps_the_last_good_time(db) {
        let store = db.store().await;
        let a = created(store.activate(new("fp", 1, T0)).await.unwrap());
        assert_eq!((a.last_code.as_deref(), a.last_good_at), (None, None));

        store
            .record_decision(&a.id, "VALID", true, T0 + 60, None)
            .await
            .unwrap();
        let got = store.get(LIC, &a.id).await.unwrap().unwrap();
        assert_eq!(
            (got.last_code.as_deref(), got.last_good_at),
            (Some("VALID"), Some(T0 + 60))
        );

        let down = "UPSTREAM_UNAVAILABLE";
        store
            .record_decision(&a.id, down, false, T0 + 120, None)
            .await
            .unwrap();
        let got = store.find_by_fingerprint(LIC, "fp").await.unwrap().unwrap();
        assert_eq!(
            (got.last_code.as_deref(), got.last_good_at),
            (Some(down), Some(T0 + 60))
        );

        let unknown = store.record_decision("act_nope", "VALID", true, T0, None).await;
        assert!(matches!(unknown, Err(StoreError::UnknownActivation(id)) if id == "act_nope"));
    }
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

on_both_engines! {
    async fn the_audit_trail_is_append_only_and_in_order(db) {
        let store = db.store().await;
        // Same second on purpose: the order is the order of appending, not of `at`.
        for action in ["first", "second", "third"] {
            store.audit(entry(T0, action)).await.unwrap();
        }
        let a = created(store.activate(new("fp", 1, T0 + 1)).await.unwrap());
        let refused = store.activate(new("fp2", 1, T0 + 2)).await.unwrap();
        assert!(matches!(refused, Activated::NoSeat { seats_used: 1 }));

        let trail = store.audit_trail(LIC, 10).await.unwrap();
        let actions: Vec<_> = trail.iter().map(|e| e.action.as_str()).collect();
        // The refusal changed nothing and is not in the trail: callers count refusals (issue 9).
        assert_eq!(actions, ["first", "second", "third", "activate"]);
        assert_eq!(trail[0], entry(T0, "first"));
        assert_eq!(trail[3].activation_id.as_deref(), Some(a.id.as_str()));
        let latest = store.audit_trail(LIC, 2).await.unwrap();
        assert_eq!(latest, trail[2..].to_vec());
        assert!(store.audit_trail("other", 10).await.unwrap().is_empty());

        for sql in ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"] {
            let err = sqlx::query(sql).execute(&store.pool).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{err}");
        }
        assert_eq!(store.audit_trail(LIC, 10).await.unwrap(), trail);
    }
}

/// Appends `n` entries at `at` in one statement (faster than `n` transactions).
async fn append_many(store: &Store, n: i64, at: i64) {
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         INSERT INTO audit_log (at, action, license_hash) SELECT $2, 'bulk', $3 FROM n",
    )
    .bind(n)
    .bind(at)
    .bind(LIC)
    .execute(&store.pool)
    .await
    .unwrap();
}

async fn actions(store: &Store) -> Vec<String> {
    let trail = store.audit_trail(LIC, 10_000).await.unwrap();
    trail.into_iter().map(|e| e.action).collect()
}

on_both_engines! {
    async fn pruning_deletes_only_the_entries_older_than_the_cutoff(db) {
        let store = db.store().await;
        store.audit(entry(T0 - 1_000, "old")).await.unwrap();
        store.audit(entry(T0 - 1, "just_old")).await.unwrap();
        store.audit(entry(T0, "at_cutoff")).await.unwrap();
        store.audit(entry(T0 + 10, "new")).await.unwrap();

        assert_eq!(store.prune_audit(T0).await.unwrap(), 2);
        assert_eq!(actions(&store).await, ["at_cutoff", "new"]);
        assert_eq!(store.prune_audit(T0).await.unwrap(), 0);

        // More than one batch of old entries: every batch goes, nothing newer does.
        append_many(&store, 2_500, T0 - 5).await;
        assert_eq!(store.prune_audit(T0).await.unwrap(), 2_500);
        assert_eq!(actions(&store).await, ["at_cutoff", "new"]);
    }
}

on_both_engines! {
    async fn only_the_pruner_deletes_even_old_entries(db) {
        let store = db.store().await;
        store
            .audit(entry(T0 - 86_400 * 1_000, "ancient"))
            .await
            .unwrap();
        store.audit(entry(T0, "recent")).await.unwrap();
        store.prune_audit(T0 - 86_400 * 2_000).await.unwrap();

        // Ad hoc, an old row is as undeletable as a new one, also after a prune has run.
        for sql in [
            "DELETE FROM audit_log WHERE action = 'ancient'",
            "DELETE FROM audit_log",
            "UPDATE audit_log SET at = 0 WHERE action = 'recent'",
        ] {
            let err = sqlx::query(sql).execute(&store.pool).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        // Without its row the cutoff cannot be set: the guard fails closed, pruning included.
        sqlx::query("DELETE FROM audit_prune_cutoff")
            .execute(&store.pool)
            .await
            .unwrap();
        let err = sqlx::query("DELETE FROM audit_log WHERE action = 'ancient'")
            .execute(&store.pool)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        assert!(store.prune_audit(T0).await.is_err());
        assert_eq!(actions(&store).await, ["ancient", "recent"]);
    }
}
