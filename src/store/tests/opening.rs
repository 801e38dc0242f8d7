//! Opening databases: directories, URLs, unreadable files.

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
