//! Known licenses survive a restart, and licenses holding activations count as known.

use super::*;

on_both_engines! {
    async fn known_licenses_are_remembered_and_include_active_activations(db) {
        let store = db.store().await;
        assert!(store.known_licenses().await.unwrap().is_empty());
        let a = ["hash-a".to_owned()];
        store.remember_known(&a, T0).await.unwrap();
        store.remember_known(&a, T0 + 1).await.unwrap();
        created(store.activate(new("fp", 1, T0)).await.unwrap());
        let mut known = store.known_licenses().await.unwrap();
        known.sort();
        assert_eq!(known, ["hash-a", LIC]);
        store.close().await;
        let reopened = db.store().await;
        assert_eq!(reopened.known_licenses().await.unwrap().len(), 2);
    }
}
