//! The daily limit on user deactivations, and admin releases.

use super::*;

async fn user(store: &Store, id: &str, now: i64) -> Deactivated {
    store
        .deactivate(LIC, id, Actor::User, 3, now, None)
        .await
        .unwrap()
}

on_both_engines! {
    async fn user_deactivations_are_limited_per_day_admin_ones_are_not(db) {
        let store = db.store().await;
        let mut ids = Vec::new();
        for i in 0..8 {
            ids.push(
                created(
                    store
                        .activate(new(&format!("fp{i}"), 10, T0))
                        .await
                        .unwrap(),
                )
                .id,
            );
        }
        for (i, id) in ids[..3].iter().enumerate() {
            assert_eq!(
                user(&store, id, T0 + 100 * i as i64).await,
                Deactivated::Done
            );
        }
        // The first of the three (at T0) leaves the window at T0 + 24 h.
        let refused = user(&store, &ids[3], T0 + 1_000).await;
        let retry_after_secs = 86_400 - 1_000;
        assert_eq!(refused, Deactivated::TooManyToday { retry_after_secs });
        assert!(
            store
                .get(LIC, &ids[3])
                .await
                .unwrap()
                .unwrap()
                .deactivated_at
                .is_none()
        );

        for id in &ids[3..6] {
            let admin = store.deactivate(LIC, id, Actor::Admin, 3, T0 + 2_000, None);
            assert_eq!(admin.await.unwrap(), Deactivated::Done);
        }
        let still = user(&store, &ids[6], T0 + 86_399).await;
        assert_eq!(
            still,
            Deactivated::TooManyToday {
                retry_after_secs: 1
            }
        );
        assert_eq!(user(&store, &ids[6], T0 + 86_400).await, Deactivated::Done);
        // Now T0+100, T0+200 and T0+86400 are in the window: the next frees up at T0+100+24 h.
        let wait = user(&store, &ids[7], T0 + 86_400).await;
        assert_eq!(
            wait,
            Deactivated::TooManyToday {
                retry_after_secs: 100
            }
        );
        assert_eq!(store.seats_used(LIC).await.unwrap(), 1);

        // The three refusals changed nothing and are not in the trail: the caller counts them
        // (issue 9).
        let trail = store.audit_trail(LIC, 100).await.unwrap();
        assert!(trail.iter().all(|e| e.action != "deny" && e.code.is_none()));
        assert_eq!(trail.iter().filter(|e| e.action == "deactivate").count(), 4);
        assert_eq!(
            trail
                .iter()
                .filter(|e| e.action == "admin_deactivate")
                .count(),
            3
        );
    }
}

on_both_engines! {
    async fn release_all_frees_every_seat_of_the_license(db) {
        let store = db.store().await;
        for fp in ["a", "b", "c"] {
            created(store.activate(new(fp, 3, T0)).await.unwrap());
        }
        let mut other = new("a", 3, T0);
        other.license_hash = "other".into();
        created(store.activate(other).await.unwrap());

        assert_eq!(store.release_all(LIC, T0 + 10, None).await.unwrap(), 3);
        assert_eq!(store.seats_used(LIC).await.unwrap(), 0);
        assert_eq!(counter_of(&store).await, 0);
        assert!(store.list(LIC).await.unwrap().is_empty());
        assert_eq!(store.seats_used("other").await.unwrap(), 1);
        assert_eq!(store.release_all(LIC, T0 + 11, None).await.unwrap(), 0);
        assert_eq!(
            store
                .release_all("never-seen", T0 + 11, None)
                .await
                .unwrap(),
            0
        );
        // Released seats are free again, and admin releases do not count as user deactivations.
        let outcomes = concurrent(&store, "new-", 5, 3).await;
        assert_eq!(count(&outcomes), (3, 0, 2));
        let last = store.audit_trail(LIC, 100).await.unwrap();
        let release = last.iter().find(|e| e.action == "release_all").unwrap();
        assert_eq!(release.detail.as_deref(), Some("3 activations"));
    }
}
