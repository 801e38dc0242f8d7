//! Opening databases: directories, URLs, unreadable or unwritable files, the one-process
//! lock; PostgreSQL servers, their URLs' passwords, replicas migrating together.

use super::*;

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
    let secret_url = "mysql://gumgate:hunter2@db/gumgate";
    let err = Store::connect(secret_url).await.err().unwrap();
    assert!(matches!(err, StoreError::UnsupportedUrl { ref scheme } if scheme == "mysql"));
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

#[test]
fn the_default_url_is_a_file_under_data() {
    let options = crate::store::connect::options("sqlite://data/gumgate.db").unwrap();
    assert_eq!(
        options.get_filename(),
        std::path::Path::new("data/gumgate.db")
    );
}

#[tokio::test]
async fn a_directory_that_cannot_be_created_is_named() {
    let dir = TempDir::new().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let url = format!("sqlite://{}/sub/gumgate.db", blocker.display());
    let err = Store::connect(&url).await.err().unwrap();
    assert!(matches!(err, StoreError::CreateDir { ref path, .. } if path.ends_with("file/sub")));
    assert!(
        err.to_string()
            .starts_with("cannot create the database directory")
    );
}

/// One process per SQLite file: a second store on the same file is refused, naming the lock,
/// until the first is closed or dropped (the lock dies with its holder).
#[tokio::test]
async fn a_second_store_on_the_same_file_is_refused_until_the_first_is_gone() {
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}/gumgate.db", dir.path().display());
    let first = store_in(&dir).await;
    let err = Store::connect(&url)
        .await
        .err()
        .expect("a second store on a file in use must be refused");
    let message = err.to_string();
    assert!(
        message.contains("gumgate.db.lock") && message.contains("in use"),
        "{message}"
    );
    assert!(matches!(err, StoreError::InUse { .. }), "{err:?}");
    // The first store is untouched by the refused attempt.
    created(first.activate(new("fp-1", 2, T0)).await.unwrap());

    first.close().await;
    let second = Store::connect(&url)
        .await
        .expect("free once the first is closed");
    created(second.activate(new("fp-2", 2, T0)).await.unwrap());
    let clone = second.clone();
    drop(second);
    assert!(
        Store::connect(&url).await.is_err(),
        "a clone still holds the lock"
    );
    drop(clone);
    let third = Store::connect(&url)
        .await
        .expect("free once the last clone is dropped");
    assert_eq!(third.seats_used(LIC).await.unwrap(), 2);
}

/// In-memory databases are private to their pool: nothing to lock, and each opens.
#[tokio::test]
async fn in_memory_stores_need_no_lock() {
    let a = Store::connect("sqlite::memory:").await.unwrap();
    let b = Store::connect("sqlite::memory:").await.unwrap();
    created(a.activate(new("fp", 1, T0)).await.unwrap());
    assert_eq!(b.seats_used(LIC).await.unwrap(), 0);
}

/// A store that cannot be written is refused at start rather than on the first seat taken.
#[tokio::test]
async fn a_store_that_cannot_be_written_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("gumgate.db");
    let url = format!("sqlite://{}", path.display());
    Store::connect(&url).await.unwrap().close().await;

    let err = Store::connect(&format!("{url}?mode=ro"))
        .await
        .err()
        .expect("a database opened read-only must be refused");
    let message = err.to_string();
    assert!(
        message.contains("cannot be written") && message.contains("gumgate.db"),
        "{message}"
    );
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");

    // A file the OS will not let us write (unless we run as root, whom permissions do not
    // stop: then the store really is writable and must open).
    let mut permissions = std::fs::metadata(&path).unwrap().permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&path, permissions).unwrap();
    let writable = std::fs::OpenOptions::new().write(true).open(&path).is_ok();
    match Store::connect(&url).await {
        Ok(_) => assert!(writable, "a read-only file was accepted"),
        Err(err) => {
            assert!(!writable, "a writable file was refused: {err}");
            assert!(err.to_string().contains("cannot be written"), "{err}");
        }
    }
}

#[tokio::test]
async fn a_lock_that_cannot_be_taken_is_named() {
    let dir = TempDir::new().unwrap();
    std::fs::create_dir(dir.path().join("gumgate.db.lock")).unwrap();
    let err = Store::connect(&format!("sqlite://{}/gumgate.db", dir.path().display()))
        .await
        .err()
        .expect("a lock path that is a directory cannot be locked");
    assert!(matches!(err, StoreError::LockFile { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("cannot take the database lock")
            && err.to_string().contains("gumgate.db.lock"),
        "{err}"
    );
    assert!(
        !dir.path().join("gumgate.db").exists(),
        "refused before SQLite created the file"
    );
}

/// A PostgreSQL server that cannot be reached, or a URL that does not parse, is named with its
/// password masked, by `connect` and by `check-config`'s `check` alike.
#[tokio::test]
async fn postgres_errors_never_show_the_password() {
    let err = Store::connect("postgres://gumgate:hunter2@127.0.0.1:1/gumgate")
        .await
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::OpenServer { .. }), "{err}");
    let message = err.to_string();
    assert!(!message.contains("hunter2"), "{message}");
    assert!(
        message.contains("postgres://gumgate:***@127.0.0.1:1/gumgate"),
        "{message}"
    );

    assert!(Store::check("postgres://gumgate:hunter2@db.internal:5432/gumgate").is_ok());
    let err = Store::check("postgres://gumgate:hunter2@db/gumgate?sslmode=sideways")
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::InvalidServerUrl { .. }), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

/// One gateway per PostgreSQL database until cluster mode is complete: a second
/// is refused at start, and takes over once the first has closed. Replicas of a later release
/// migrating together each wait their turn (sqlx's advisory lock while migrating).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
async fn postgres_takes_one_gateway_per_database_and_migrations_race_safely() {
    let db = TestDb::postgres().await;
    let url = db.url();
    let pools = futures_util::future::join_all((0..4).map(|_| sqlx::PgPool::connect(&url))).await;
    let pools: Vec<_> = pools.into_iter().map(Result::unwrap).collect();
    let migrated = futures_util::future::join_all(pools.iter().map(|p| PG_MIGRATOR.run(p))).await;
    assert!(migrated.iter().all(Result::is_ok), "{migrated:?}");

    let first = db.store().await;
    assert_eq!(first.engine(), Engine::Postgres);
    created(first.activate(new("fp-1", 3, T0)).await.unwrap());
    let err = Store::connect(&url).await.err().unwrap();
    assert!(matches!(err, StoreError::ServerInUse { .. }), "{err}");
    first.close().await;
    let second = db.store().await;
    assert_eq!(second.seats_used(LIC).await.unwrap(), 1);
    // In cluster mode replicas share it, beside the one holding the lock.
    let replica = Store::connect_cluster(&url).await.unwrap();
    assert_eq!(replica.seats_used(LIC).await.unwrap(), 1);
}
