//! Taking seats: the limit under concurrency and across restarts, idempotency, freeing.

use super::*;

on_both_engines! {
    async fn fifty_concurrent_activations_of_three_seats_give_three_across_restarts(db) {
        let store = db.store().await;
        let outcomes = concurrent(&store, "fp-", 50, 3).await;
        assert_eq!(count(&outcomes), (3, 0, 47));
        assert!(
            outcomes
                .iter()
                .all(|o| !matches!(o, Activated::NoSeat { seats_used } if *seats_used != 3))
        );
        assert_eq!(store.seats_used(LIC).await.unwrap(), 3);
        assert_eq!(counter_of(&store).await, 3);
        store.close().await;

        let store = db.store().await;
        let outcomes = concurrent(&store, "after-restart-", 10, 3).await;
        assert_eq!(count(&outcomes), (0, 0, 10));
        assert_eq!(store.seats_used(LIC).await.unwrap(), 3);
        assert_eq!(store.list(LIC).await.unwrap().len(), 3);
    }
}

on_both_engines! {
    async fn the_same_fingerprint_gets_the_same_activation_and_one_seat(db) {
        let store = db.store().await;
        let first = created(store.activate(new("fp", 3, T0)).await.unwrap());
        let again = store.activate(new("fp", 3, T0 + 5)).await.unwrap();
        assert_eq!(again, Activated::Existing(first.clone()));
        assert!(first.id.starts_with("act_") && first.id.len() == 4 + 32);
        assert_eq!(store.seats_used(LIC).await.unwrap(), 1);
        let found = store.find_by_fingerprint(LIC, "fp").await.unwrap();
        assert_eq!(found, Some(first.clone()));
        assert_eq!(store.get(LIC, &first.id).await.unwrap(), Some(first));
    }
}

on_both_engines! {
    async fn the_same_fingerprint_at_once_gets_one_activation(db) {
        let store = db.store().await;
        let barrier = Arc::new(tokio::sync::Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (store, barrier) = (store.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.activate(new("same", 3, T0)).await.unwrap()
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        assert_eq!(count(&outcomes), (1, 19, 0));
        let ids: std::collections::HashSet<_> = outcomes
            .iter()
            .map(|o| match o {
                Activated::Created(a) | Activated::Existing(a) => a.id.clone(),
                Activated::NoSeat { .. } => panic!("no seat"),
            })
            .collect();
        assert_eq!(ids.len(), 1);
        assert_eq!(store.seats_used(LIC).await.unwrap(), 1);
        assert_eq!(counter_of(&store).await, 1);
    }
}

on_both_engines! {
    async fn deactivation_frees_a_seat(db) {
        let store = db.store().await;
        let a = created(store.activate(new("a", 2, T0)).await.unwrap());
        let b = created(store.activate(new("b", 2, T0 + 1)).await.unwrap());
        assert_eq!(store.list(LIC).await.unwrap(), vec![a.clone(), b.clone()]);
        let full = store.activate(new("c", 2, T0 + 2)).await.unwrap();
        assert_eq!(full, Activated::NoSeat { seats_used: 2 });

        let done = store.deactivate(LIC, &a.id, Actor::User, 3, T0 + 3, None);
        assert_eq!(done.await.unwrap(), Deactivated::Done);
        let again = store.deactivate(LIC, &a.id, Actor::User, 3, T0 + 3, None);
        assert_eq!(again.await.unwrap(), Deactivated::NotFound);
        let elsewhere = store.deactivate("other", &b.id, Actor::Admin, 3, T0 + 3, None);
        assert_eq!(elsewhere.await.unwrap(), Deactivated::NotFound);

        let old = store.get(LIC, &a.id).await.unwrap().unwrap();
        assert_eq!(old.deactivated_at, Some(T0 + 3));
        assert_eq!(store.find_by_fingerprint(LIC, "a").await.unwrap(), None);
        assert_eq!(store.seats_used(LIC).await.unwrap(), 1);
        let c = created(store.activate(new("c", 2, T0 + 4)).await.unwrap());
        assert_eq!(store.list(LIC).await.unwrap(), vec![b, c]);
        assert_eq!(counter_of(&store).await, 2);
    }
}
