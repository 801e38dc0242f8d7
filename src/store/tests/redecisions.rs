//! A background re-decision recorded as one transaction: decisions, last check, audit, ping.

use super::*;

on_both_engines! {
    async fn a_ping_redecision_records_everything_and_finishes_the_ping(db) {
        let store = db.store().await;
        let a = created(store.activate(new("fp-a", 3, T0)).await.unwrap());
        let b = created(store.activate(new("fp-b", 3, T0)).await.unwrap());
        store
            .record_decision(&a.id, "VALID", true, T0, None)
            .await
            .unwrap();
        store
            .remember_license(LIC, "prod-1", "sale-1", T0)
            .await
            .unwrap();
        assert!(
            store
                .enqueue_ping("k", Some("refund"), "{}", None, false, T0)
                .await
                .unwrap()
        );
        let claimed = store.due_pings(T0, 10, LEASE).await.unwrap();

        let cause = Cause::Ping {
            ids: &[claimed[0].id],
            claim: claimed[0].claim(),
            resource: Some("refund"),
        };
        let previous = store
            .record_redecision(LIC, "REFUNDED", false, cause, T0 + 10)
            .await
            .unwrap();
        let mut before: Vec<_> = previous
            .iter()
            .map(|p| (p.activation_id.as_str(), p.last_code.as_deref()))
            .collect();
        before.sort();
        let mut expected = [(a.id.as_str(), Some("VALID")), (b.id.as_str(), None)];
        expected.sort();
        assert_eq!(before, expected);
        for id in [&a.id, &b.id] {
            let got = store.get(LIC, id).await.unwrap().unwrap();
            assert_eq!(got.last_code.as_deref(), Some("REFUNDED"));
        }
        // The last good time stays where the last VALID put it, for offline grace.
        assert_eq!(
            store.get(LIC, &a.id).await.unwrap().unwrap().last_good_at,
            Some(T0)
        );
        assert!(
            store.licenses_due(T0 + 10, T0 + 10, 10).await.unwrap().is_empty(),
            "checked at T0+10"
        );
        assert_eq!(store.pings_in("done").await.unwrap().len(), 1);
        let trail = store.audit_trail(LIC, 10).await.unwrap();
        let last = trail.last().unwrap();
        assert_eq!(
            (
                last.action.as_str(),
                last.code.as_deref(),
                last.detail.as_deref()
            ),
            ("webhook", Some("REFUNDED"), Some("refund"))
        );
    }
}

on_both_engines! {
    async fn the_reconciler_audits_only_what_changed_and_a_failure_records_nothing(db) {
        let store = db.store().await;
        let a = created(store.activate(new("fp", 1, T0)).await.unwrap());
        store
            .record_decision(&a.id, "VALID", true, T0, None)
            .await
            .unwrap();
        let trail_len = || async { store.audit_trail(LIC, 100).await.unwrap().len() };
        let before = trail_len().await;
        store
            .record_redecision(LIC, "VALID", true, Cause::Reconcile, T0 + 5)
            .await
            .unwrap();
        assert_eq!(
            trail_len().await,
            before,
            "nothing changed, nothing audited"
        );
        store
            .record_redecision(LIC, "DISABLED", false, Cause::Reconcile, T0 + 6)
            .await
            .unwrap();
        assert_eq!(trail_len().await, before + 1);

        // A failing write rolls every write back: an audit table that refuses inserts.
        let refuse_inserts = match store.engine() {
            Engine::Sqlite => {
                "CREATE TRIGGER refuse_inserts BEFORE INSERT ON audit_log \
                 BEGIN SELECT RAISE(ABORT, 'refused'); END"
            }
            Engine::Postgres => {
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'refused'; END $$; \
                 CREATE TRIGGER refuse_inserts BEFORE INSERT ON audit_log \
                 FOR EACH ROW EXECUTE FUNCTION refuse()"
            }
        };
        store.pool.execute(refuse_inserts).await.unwrap();
        let failed = store
            .record_redecision(LIC, "REFUNDED", false, Cause::Reconcile, T0 + 7)
            .await;
        assert!(failed.is_err());
        let got = store.get(LIC, &a.id).await.unwrap().unwrap();
        assert_eq!(got.last_code.as_deref(), Some("DISABLED"), "rolled back");
    }
}
