//! The heartbeat sweep's store side: a machine past its deadline is released once, however many
//! gateways race for it; one that was seen since (its deadline moved) is not.

use super::*;

on_both_engines! {
    async fn a_silent_machine_is_released_once_and_a_beating_one_never(db) {
        let store = db.store().await;
        let silent = created(store.activate(new("fp-silent", 3, T0)).await.unwrap());
        let beating = created(store.activate(new("fp-beating", 3, T0)).await.unwrap());
        for a in [&silent, &beating] {
            store.record_decision(&a.id, "VALID", true, T0, Some(T0 + 90)).await.unwrap();
        }
        assert!(store.expired_heartbeats(T0 + 90, 10).await.unwrap().is_empty(), "not yet");
        // The beating machine is seen again before its deadline; the silent one is not.
        store.record_decision(&beating.id, "VALID", true, T0 + 60, Some(T0 + 150)).await.unwrap();
        let expired = store.expired_heartbeats(T0 + 100, 10).await.unwrap();
        assert_eq!(expired.len(), 1);
        assert_eq!((expired[0].id.as_str(), expired[0].heartbeat_deadline), (silent.id.as_str(), T0 + 90));
        // Eight sweepers at once: one release.
        let racers: Vec<_> = (0..8)
            .map(|_| {
                let (store, expired) = (store.clone(), expired[0].clone());
                tokio::spawn(async move { store.release_expired(&expired, T0 + 100).await.unwrap() })
            })
            .collect();
        let mut released = 0;
        for racer in racers {
            released += u32::from(racer.await.unwrap());
        }
        assert_eq!(released, 1);
        assert_eq!(store.seats_used(LIC).await.unwrap(), 1);
        let gone = store.get(LIC, &silent.id).await.unwrap().unwrap();
        assert!(gone.missed_heartbeats(), "{gone:?}");
        // A check that read it live before the release renews nothing.
        let late = store.record_decision(&silent.id, "VALID", true, T0 + 101, Some(T0 + 191)).await;
        assert!(matches!(late, Err(StoreError::UnknownActivation(_))), "{late:?}");
        assert!(!store.touch(&silent.id, T0 + 101, Some(T0 + 191)).await.unwrap());
        assert!(store.get(LIC, &silent.id).await.unwrap().unwrap().deactivated_at.is_some());
        let trail = store.audit_trail(LIC, 10).await.unwrap();
        assert_eq!(trail.iter().filter(|e| e.action == "heartbeat_release").count(), 1);
        // A release does not count against the holder's daily deactivations.
        let beating_done = store
            .deactivate(LIC, &beating.id, Actor::User, 1, T0 + 110, None)
            .await
            .unwrap();
        assert_eq!(beating_done, Deactivated::Done);
        // A stale candidate (seen since it was listed) is not released.
        let again = created(store.activate(new("fp-again", 3, T0 + 200)).await.unwrap());
        store.record_decision(&again.id, "VALID", true, T0 + 200, Some(T0 + 290)).await.unwrap();
        let listed = store.expired_heartbeats(T0 + 300, 10).await.unwrap();
        store.record_decision(&again.id, "VALID", true, T0 + 300, Some(T0 + 390)).await.unwrap();
        assert!(!store.release_expired(&listed[0], T0 + 300).await.unwrap());
        assert!(store.get(LIC, &again.id).await.unwrap().unwrap().deactivated_at.is_none());
        // Offline answers touch the machine: its deadline moves without a decision.
        store.touch(&again.id, T0 + 400, Some(T0 + 490)).await.unwrap();
        assert!(store.expired_heartbeats(T0 + 450, 10).await.unwrap().is_empty());
        assert_eq!(store.get(LIC, &again.id).await.unwrap().unwrap().seen_at(), T0 + 400);
    }
}

on_both_engines! {
    async fn machines_without_a_deadline_get_one_full_window(db) {
        let store = db.store().await;
        let old = created(store.activate(new("fp-old", 3, T0)).await.unwrap());
        let other = NewActivation { product_id: "other-product".into(), ..new("fp-other", 3, T0) };
        let untouched = created(store.activate(other).await.unwrap());
        let kept = store.backfill_heartbeats(None, &["other-product".to_owned()], T0 + 500).await;
        assert_eq!(kept.unwrap(), 1);
        assert_eq!(store.backfill_heartbeats(Some("other-product"), &[], T0 + 900).await.unwrap(), 1);
        // Only the ones without a deadline, once.
        assert_eq!(store.backfill_heartbeats(None, &[], T0 + 999).await.unwrap(), 0);
        let due = store.expired_heartbeats(T0 + 501, 10).await.unwrap();
        assert_eq!(due.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), [old.id.as_str()]);
        assert!(store.expired_heartbeats(T0 + 500, 10).await.unwrap().is_empty());
        assert_eq!(store.expired_heartbeats(T0 + 901, 10).await.unwrap().len(), 2);
        let _ = untouched;
    }
}
