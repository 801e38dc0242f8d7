//! Migration 0005: pings stored whole before it are cut down to what processing needs.

use std::borrow::Cow;

use super::*;

#[tokio::test]
async fn stored_pings_lose_buyers_details_and_keys_a_sale_can_stand_for() {
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}/gumgate.db", dir.path().display());
    // A database as it was before 0005, holding pings stored whole.
    let connect::Opened { pool, lock, .. } =
        connect::open(&url, Sharing::OneGateway).await.unwrap();
    let mut before = sqlx::migrate!("./migrations/sqlite");
    before.migrations = Cow::Owned(
        before
            .migrations
            .iter()
            .filter(|m| m.version < 5)
            .cloned()
            .collect(),
    );
    before.run(&pool).await.unwrap();
    let rows = [
        (
            "pending",
            r#"{"resource_name":"refund","sale_id":"s1","license_key":"KEY-A","email":"a@b.c","card":{"visual":"4242"}}"#,
        ),
        (
            "pending",
            r#"{"resource_name":"dispute","product_id":"p1","license_key":"KEY-B","full_name":"Ann"}"#,
        ),
        (
            "done",
            r#"{"resource_name":"cancellation","purchase_ids":["s2"],"license_key":"KEY-C","user_email":"c@d.e"}"#,
        ),
        ("malformed", r#"{"resource_name":"nope","email":"x@y.z"}"#),
    ];
    for (i, (state, payload)) in rows.iter().enumerate() {
        sqlx::query(
            "INSERT INTO webhook_inbox (received_at, dedup_key, resource_name, payload, state, \
             next_attempt_at) VALUES ($1, $2, $3, $4, $5, $1)",
        )
        .bind(T0)
        .bind(format!("k{i}"))
        .bind(serde_json::from_str::<serde_json::Value>(payload).unwrap()["resource_name"].as_str())
        .bind(*payload)
        .bind(*state)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    // This process's lock goes with that old pool, so the store below may take it.
    drop(lock);

    let store = store_in(&dir).await;
    let pending = store.pings_in("pending").await.unwrap();
    let done = store.pings_in("done").await.unwrap();
    let malformed = store.pings_in("malformed").await.unwrap();
    for ping in pending.iter().chain(&done).chain(&malformed) {
        for gone in ["KEY-", "a@b.c", "4242", "Ann", "c@d.e", "x@y.z", "nope"] {
            assert!(!ping.payload.contains(gone), "{gone}: {}", ping.payload);
        }
    }
    let json = |p: &Ping| serde_json::from_str::<serde_json::Value>(&p.payload).unwrap();
    assert_eq!(
        json(&pending[0]),
        serde_json::json!({"resource_name": "refund", "sale_id": "s1"})
    );
    // A sale stands for the first key; the second ping names none, so it keeps its key
    // (apart from the payload) until processed.
    assert_eq!(pending[0].license_key, None);
    assert_eq!(pending[1].license_key.as_deref(), Some("KEY-B"));
    assert_eq!(json(&pending[1])["product_id"], "p1");
    assert_eq!(json(&done[0])["purchase_ids"], serde_json::json!(["s2"]));
    assert_eq!(done[0].license_key, None);
    assert_eq!(malformed[0].resource_name, None);
    assert!(json(&malformed[0])["bytes"].as_u64().unwrap() > 0);
}
