//! Background work claimed row by row: pings and licenses are each taken by one claimant until
//! the lease passes, and a ping's finish is fenced by its claim.

use super::*;

/// Enqueues a ping of `resource` (its dedup key `key`).
async fn ping(store: &Store, key: &str, resource: &str) {
    assert!(
        store
            .enqueue_ping(key, Some(resource), "{}", None, false, T0)
            .await
            .unwrap()
    );
}

on_both_engines! {
    async fn pings_are_claimed_once_until_the_lease_passes_and_only_the_claimant_finishes(db) {
        let store = db.store().await;
        let a = created(store.activate(new("fp-a", 3, T0)).await.unwrap());
        ping(&store, "s1", "sale").await;
        ping(&store, "r1", "refund").await;
        ping(&store, "s2", "sale").await;
        let first = store.due_pings(T0, 10, LEASE).await.unwrap();
        let resources: Vec<_> = first.iter().map(|p| p.resource_name.as_deref()).collect();
        assert_eq!(resources, [Some("refund"), Some("sale"), Some("sale")], "refunds first");
        assert!(first.iter().all(|p| p.claim() == first[0].claim() && !p.claim().is_empty()));
        assert!(store.due_pings(T0 + 1, 10, LEASE).await.unwrap().is_empty(), "all held");

        // The lease passes: another claimant takes them, and the first may no longer finish.
        let later = T0 + LEASE;
        let second = store.due_pings(later, 10, LEASE).await.unwrap();
        assert_eq!(second.len(), 3);
        assert_ne!(second[0].claim(), first[0].claim());
        let lost = store.finish_ping(&first[1], later).await.unwrap_err();
        assert!(matches!(lost, StoreError::ClaimLost(_)), "{lost}");
        let lost = store.retry_ping(&first[2], "x", later, false).await.unwrap_err();
        assert!(matches!(lost, StoreError::ClaimLost(_)), "{lost}");
        // A re-decision under a lost claim records nothing of its effects.
        let stale = Cause::Ping { ids: &[first[0].id], claim: first[0].claim(), resource: None };
        let lost = store
            .record_redecision(LIC, "REFUNDED", false, stale, later)
            .await
            .unwrap_err();
        assert!(matches!(lost, StoreError::ClaimLost(_)), "{lost}");
        assert_eq!(store.get(LIC, &a.id).await.unwrap().unwrap().last_code, None);

        // The current claimant finishes, retries, re-decides.
        let current = Cause::Ping { ids: &[second[0].id], claim: second[0].claim(), resource: None };
        store.record_redecision(LIC, "REFUNDED", false, current, later).await.unwrap();
        assert_eq!(
            store.get(LIC, &a.id).await.unwrap().unwrap().last_code.as_deref(),
            Some("REFUNDED")
        );
        store.finish_ping(&second[1], later).await.unwrap();
        store.retry_ping(&second[2], "upstream down", later + 5, false).await.unwrap();
        assert_eq!(store.pings_in("done").await.unwrap().len(), 2);
        // A retried ping is let go: due again at its next attempt, for any claimant.
        assert!(store.due_pings(later + 4, 10, LEASE).await.unwrap().is_empty());
        let again = store.due_pings(later + 5, 10, LEASE).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempts, 1);
    }

    async fn licenses_due_are_claimed_once_until_released_or_the_lease_passes(db) {
        let store = db.store().await;
        created(store.activate(new("fp-a", 3, T0)).await.unwrap());
        store.remember_license(LIC, "prod-1", "sale-1", T0).await.unwrap();
        let now = T0 + 100;
        let due = store.licenses_due(now, now, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert!(store.licenses_due(now, now, 10).await.unwrap().is_empty(), "held");
        store.release_license(LIC).await.unwrap();
        assert_eq!(store.licenses_due(now, now, 10).await.unwrap().len(), 1, "handed back");
        let after_lease = now + refs::LICENSE_LEASE_SECS;
        assert_eq!(store.licenses_due(after_lease, now, 10).await.unwrap().len(), 1);
        // Checked: due no more until it is old again.
        store.touch_license(LIC, after_lease).await.unwrap();
        let much_later = after_lease + 2 * refs::LICENSE_LEASE_SECS;
        assert!(store.licenses_due(much_later, after_lease, 10).await.unwrap().is_empty());
    }
}

/// Two gateways on one PostgreSQL database in cluster mode claim disjoint
/// pings and together take every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
async fn postgres_claimants_take_disjoint_pings_and_all_of_them() {
    let db = TestDb::postgres().await;
    // Two replicas in cluster mode: no one-gateway lock between them.
    let first = Store::connect_cluster(&db.url()).await.unwrap();
    let second = Store::connect_cluster(&db.url()).await.unwrap();
    for i in 0..200 {
        ping(&first, &format!("p{i}"), "sale").await;
    }
    let claim = |store: Store| async move {
        let mut ids = Vec::new();
        loop {
            let round = store.due_pings(T0, 7, LEASE).await.unwrap();
            if round.is_empty() {
                return ids;
            }
            for p in &round {
                store.finish_ping(p, T0).await.unwrap();
            }
            ids.extend(round.iter().map(|p| p.id));
        }
    };
    let (a, b) = tokio::join!(claim(first.clone()), claim(second));
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both took some: {} {}",
        a.len(),
        b.len()
    );
    let mut all: Vec<_> = a.iter().chain(&b).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), a.len() + b.len(), "no ping taken twice");
    assert_eq!(all.len(), 200, "every ping taken");
    assert_eq!(first.pings_in("done").await.unwrap().len(), 200);
}
