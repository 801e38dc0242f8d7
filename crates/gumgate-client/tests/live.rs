//! The client against a running `gumgate serve --sandbox` (its URL in `GUMGATE_TEST_URL`), as
//! `bash scripts/test.sh` starts it: `clients/test-server.toml` (heartbeats on, 1000 seats, the
//! Premium variant mapped to `pro` and `export`). Every test activates machines of its own and
//! frees them, since other tests share the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use gumgate_client::{Client, ClientError, Machine, OfflineCode, Outcome, ReasonCode};

const PRODUCT: &str = "9Y2u8Dy4AWioyNrmNROrFA==";
const VALID: &str = "5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0";
const REFUNDED: &str = "7C3E2F50-AD4F6083-B19C5E27-F604D3C2";
const UNKNOWN: &str = "00000000-00000000-00000000-00000000";

fn server() -> String {
    std::env::var("GUMGATE_TEST_URL")
        .expect("GUMGATE_TEST_URL is unset: run bash scripts/test.sh, which starts the server")
}

/// A fingerprint no other test (or run) uses.
fn machine() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("rust-{nanos}-{}", N.fetch_add(1, Ordering::Relaxed))
}

fn client(dir: &tempfile::TempDir, url: &str, fingerprint: &str) -> Client {
    Client::builder(url, PRODUCT)
        .state_path(dir.path().join("license.json"))
        .fingerprint(fingerprint)
        .build()
        .unwrap()
}

fn granted(outcome: Outcome) -> Box<gumgate_client::Granted> {
    match outcome {
        Outcome::Granted(g) => g,
        other => panic!("not granted: {other:?}"),
    }
}

#[tokio::test]
#[ignore = "needs a running gumgate: run bash scripts/test.sh"]
async fn activate_check_offline_beat_list_and_deactivate() {
    let dir = tempfile::TempDir::new().unwrap();
    let fp = machine();
    let client = client(&dir, &server(), &fp);
    let activated = granted(
        client
            .activate(VALID, Machine::named("CI runner"))
            .await
            .unwrap(),
    );
    assert_eq!(activated.code, ReasonCode::Valid);
    assert_eq!(activated.entitlements.variants, ["Premium"]);
    assert!(
        activated.entitlements.has_feature("pro") && activated.entitlements.has_feature("export")
    );
    assert_eq!(activated.entitlements.recurrence, None);
    let id = activated.activation.id.clone();
    assert_eq!(client.activation_id().as_deref(), Some(id.as_str()));

    // The token and JWKS were stored: valid offline, with the same entitlements.
    let offline = client.check_offline();
    assert_eq!(offline.code, OfflineCode::Valid);
    assert_eq!(offline.claims.unwrap().sub, id);

    let beat = granted(client.heartbeat().await.unwrap());
    let hb = beat.heartbeat.expect("the test server has heartbeats on");
    assert_eq!(hb.interval_secs, 3600);
    assert!(hb.next_at < hb.deadline);
    assert!(beat.token.is_some());

    let list = client.machines().await.unwrap().unwrap();
    let mine = list.machines.iter().find(|m| m.id == id).expect("listed");
    assert_eq!(mine.name.as_deref(), Some("CI runner"));
    assert!(mine.last_seen_at.is_some());
    assert_eq!(list.license.seats, 1000);

    assert_eq!(client.deactivate(None).await.unwrap(), None);
    assert_eq!(client.activation_id(), None);
    assert_eq!(client.check_offline().code, OfflineCode::NoToken);
    assert!(matches!(
        client.validate().await,
        Err(ClientError::NotActivated)
    ));
    let list = client.machines().await.unwrap().unwrap();
    assert!(list.machines.iter().all(|m| m.id != id));
}

#[tokio::test]
#[ignore = "needs a running gumgate: run bash scripts/test.sh"]
async fn one_machine_is_one_seat_and_refusals_are_typed() {
    let dir = tempfile::TempDir::new().unwrap();
    let fp = machine();
    let client = client(&dir, &server(), &fp);
    let first = granted(client.activate(VALID, Machine::default()).await.unwrap());
    let again = granted(client.activate(VALID, Machine::default()).await.unwrap());
    assert_eq!(first.activation.id, again.activation.id);
    assert_eq!(client.deactivate(None).await.unwrap(), None);

    let other = tempfile::TempDir::new().unwrap();
    let refunded = client_for(&other, &fp);
    match refunded
        .activate(REFUNDED, Machine::default())
        .await
        .unwrap()
    {
        Outcome::Denied(d) => assert_eq!(d.code, ReasonCode::Refunded),
        other => panic!("{other:?}"),
    }
    match refunded.machines_for(UNKNOWN).await.unwrap() {
        Err(d) => assert_eq!(d.code, ReasonCode::NotFound),
        Ok(list) => panic!("an unknown license listed: {list:?}"),
    }
    // Bad input is an error, not a license outcome.
    assert!(matches!(
        refunded.activate("", Machine::default()).await,
        Err(ClientError::BadRequest(_))
    ));
}

fn client_for(dir: &tempfile::TempDir, fp: &str) -> Client {
    client(dir, &server(), fp)
}

#[tokio::test]
#[ignore = "needs a running gumgate: run bash scripts/test.sh"]
async fn with_the_server_gone_the_stored_token_keeps_the_app_running() {
    let dir = tempfile::TempDir::new().unwrap();
    let fp = machine();
    let online = client(&dir, &server(), &fp);
    granted(online.activate(VALID, Machine::default()).await.unwrap());
    // The same state, the server unreachable (a closed port).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cut_off = client(&dir, &format!("http://127.0.0.1:{port}"), &fp);
    let outcome = cut_off.validate().await.unwrap();
    assert!(
        matches!(&outcome, Outcome::Offline(check) if check.is_valid()),
        "{outcome:?}"
    );
    assert!(outcome.entitlements().unwrap().has_feature("pro"));
    // Heartbeats keep trying in the background; the app stops them when it quits.
    let beats = Arc::new(AtomicU32::new(0));
    let seen = beats.clone();
    let task = Arc::new(cut_off).spawn_heartbeats(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    for _ in 0..100 {
        if beats.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        beats.load(Ordering::SeqCst),
        1,
        "one beat, then a 5 s retry wait"
    );
    assert!(!task.is_finished());
    task.stop();
    assert_eq!(online.deactivate(None).await.unwrap(), None);
}
