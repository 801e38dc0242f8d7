//! A database of its own for each test, on the PostgreSQL server `bash scripts/test.sh` starts
//! (its URL in `GUMGATE_TEST_POSTGRES_URL`). Shared by the store's unit tests and the
//! integration tests. Fails, never skips, when there is no server: these tests only run when
//! asked for with `--include-ignored`.

use sqlx::{Connection, Executor};

/// Creates `<prefix>_<random>` and returns its URL.
pub async fn database(prefix: &str) -> String {
    let server = std::env::var("GUMGATE_TEST_POSTGRES_URL")
        .expect("GUMGATE_TEST_POSTGRES_URL is unset: run bash scripts/test.sh");
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&server)
        .await
        .expect("connect to the test PostgreSQL");
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    admin.close().await.ok();
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&name);
    url.to_string()
}
