//! The store against real SQLite files in temp dirs.

use std::sync::Arc;

use tempfile::TempDir;

use super::*;

const LIC: &str = "lic-hash-1";
const T0: i64 = 1_800_000_000;

async fn store_in(dir: &TempDir) -> Store {
    let url = format!("sqlite://{}/gumgate.db", dir.path().display());
    Store::connect(&url).await.expect("connect")
}

fn new(fingerprint: &str, seats: u32, now: i64) -> NewActivation {
    NewActivation {
        license_hash: LIC.into(),
        product_id: "prod-1".into(),
        fingerprint_hash: fingerprint.into(),
        name: Some("Studio Mac".into()),
        platform: Some("macos".into()),
        seats,
        now,
    }
}

fn created(outcome: Activated) -> Activation {
    match outcome {
        Activated::Created(a) => a,
        other => panic!("expected Created, got {other:?}"),
    }
}

/// Runs `n` activations of distinct fingerprints (`{prefix}{i}`) at once.
async fn concurrent(store: &Store, prefix: &str, n: usize, seats: u32) -> Vec<Activated> {
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            let activation = new(&format!("{prefix}{i}"), seats, T0);
            tokio::spawn(async move {
                barrier.wait().await;
                store.activate(activation).await.expect("activate")
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    outcomes
}

fn count(outcomes: &[Activated]) -> (usize, usize, usize) {
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, Activated::Created(_)));
    let existing = outcomes
        .iter()
        .filter(|o| matches!(o, Activated::Existing(_)));
    let no_seat = outcomes
        .iter()
        .filter(|o| matches!(o, Activated::NoSeat { .. }));
    (created.count(), existing.count(), no_seat.count())
}

/// The seat counter and the active rows must agree.
async fn counter_of(store: &Store) -> u32 {
    let mut conn = store.pool.acquire().await.unwrap();
    activate::counter(&mut conn, LIC).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn fifty_concurrent_activations_of_three_seats_give_three_across_restarts() {
    let dir = TempDir::new().unwrap();
    let store = store_in(&dir).await;
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

    let store = store_in(&dir).await;
    let outcomes = concurrent(&store, "after-restart-", 10, 3).await;
    assert_eq!(count(&outcomes), (0, 0, 10));
    assert_eq!(store.seats_used(LIC).await.unwrap(), 3);
    assert_eq!(store.list(LIC).await.unwrap().len(), 3);
}

#[tokio::test]
async fn the_same_fingerprint_gets_the_same_activation_and_one_seat() {
    let dir = TempDir::new().unwrap();
    let store = store_in(&dir).await;
    let first = created(store.activate(new("fp", 3, T0)).await.unwrap());
    let again = store.activate(new("fp", 3, T0 + 5)).await.unwrap();
    assert_eq!(again, Activated::Existing(first.clone()));
    assert!(first.id.starts_with("act_") && first.id.len() == 4 + 32);
    assert_eq!(store.seats_used(LIC).await.unwrap(), 1);
    let found = store.find_by_fingerprint(LIC, "fp").await.unwrap();
    assert_eq!(found, Some(first.clone()));
    assert_eq!(store.get(LIC, &first.id).await.unwrap(), Some(first));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn the_same_fingerprint_at_once_gets_one_activation() {
    let dir = TempDir::new().unwrap();
    let store = store_in(&dir).await;
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

#[tokio::test]
async fn deactivation_frees_a_seat() {
    let dir = TempDir::new().unwrap();
    let store = store_in(&dir).await;
    let a = created(store.activate(new("a", 2, T0)).await.unwrap());
    let b = created(store.activate(new("b", 2, T0 + 1)).await.unwrap());
    assert_eq!(store.list(LIC).await.unwrap(), vec![a.clone(), b.clone()]);
    let full = store.activate(new("c", 2, T0 + 2)).await.unwrap();
    assert_eq!(full, Activated::NoSeat { seats_used: 2 });

    let done = store.deactivate(LIC, &a.id, Actor::User, 3, T0 + 3);
    assert_eq!(done.await.unwrap(), Deactivated::Done);
    let again = store.deactivate(LIC, &a.id, Actor::User, 3, T0 + 3);
    assert_eq!(again.await.unwrap(), Deactivated::NotFound);
    let elsewhere = store.deactivate("other", &b.id, Actor::Admin, 3, T0 + 3);
    assert_eq!(elsewhere.await.unwrap(), Deactivated::NotFound);

    let old = store.get(LIC, &a.id).await.unwrap().unwrap();
    assert_eq!(old.deactivated_at, Some(T0 + 3));
    assert_eq!(store.find_by_fingerprint(LIC, "a").await.unwrap(), None);
    assert_eq!(store.seats_used(LIC).await.unwrap(), 1);
    let c = created(store.activate(new("c", 2, T0 + 4)).await.unwrap());
    assert_eq!(store.list(LIC).await.unwrap(), vec![b, c]);
    assert_eq!(counter_of(&store).await, 2);
}

async fn user(store: &Store, id: &str, now: i64) -> Deactivated {
    store
        .deactivate(LIC, id, Actor::User, 3, now)
        .await
        .unwrap()
}

#[tokio::test]
async fn user_deactivations_are_limited_per_day_admin_ones_are_not() {
    let dir = TempDir::new().unwrap();
    let store = store_in(&dir).await;
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
        let admin = store.deactivate(LIC, id, Actor::Admin, 3, T0 + 2_000);
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

    let trail = store.audit_trail(LIC, 100).await.unwrap();
    let denials = trail.iter().filter(|e| e.action == "deny").count();
    assert_eq!(denials, 3);
    assert!(
        trail
            .iter()
            .any(|e| e.code.as_deref() == Some("TOO_MANY_DEACTIVATIONS"))
    );
    assert_eq!(
        trail
            .iter()
            .filter(|e| e.action == "admin_deactivate")
            .count(),
        3
    );
}

#[tokio::test]
async fn release_all_frees_every_seat_of_the_license() {
    let dir = TempDir::new().unwrap();
    let store = store_in(&dir).await;
    for fp in ["a", "b", "c"] {
        created(store.activate(new(fp, 3, T0)).await.unwrap());
    }
    let mut other = new("a", 3, T0);
    other.license_hash = "other".into();
    created(store.activate(other).await.unwrap());

    assert_eq!(store.release_all(LIC, T0 + 10).await.unwrap(), 3);
    assert_eq!(store.seats_used(LIC).await.unwrap(), 0);
    assert_eq!(counter_of(&store).await, 0);
    assert!(store.list(LIC).await.unwrap().is_empty());
    assert_eq!(store.seats_used("other").await.unwrap(), 1);
    assert_eq!(store.release_all(LIC, T0 + 11).await.unwrap(), 0);
    assert_eq!(store.release_all("never-seen", T0 + 11).await.unwrap(), 0);
    // Released seats are free again, and admin releases do not count as user deactivations.
    let outcomes = concurrent(&store, "new-", 5, 3).await;
    assert_eq!(count(&outcomes), (3, 0, 2));
    let last = store.audit_trail(LIC, 100).await.unwrap();
    let release = last.iter().find(|e| e.action == "release_all").unwrap();
    assert_eq!(release.detail.as_deref(), Some("3 activations"));
}

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

#[tokio::test]
async fn connect_creates_missing_directories() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("data/nested/deeper/gumgate.db");
    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    created(store.activate(new("fp", 1, T0)).await.unwrap());
    assert!(path.is_file());
}

#[tokio::test]
async fn bad_urls_and_files_give_clear_errors() {
    let secret_url = "postgres://gumgate:hunter2@db/gumgate";
    let err = Store::connect(secret_url).await.err().unwrap();
    assert!(matches!(err, StoreError::UnsupportedUrl { ref scheme } if scheme == "postgres"));
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = Store::connect("not a url").await.err().unwrap();
    assert!(matches!(err, StoreError::UnsupportedUrl { .. }), "{err}");
    let err = Store::connect("sqlite://x.db?mode=sideways")
        .await
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::InvalidUrl(_)), "{err}");

    let dir = TempDir::new().unwrap();
    let path = dir.path().join("corrupt.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .err()
        .unwrap();
    let message = err.to_string();
    assert!(message.contains("not a database"), "{message}");
}
