//! Opening the SQLite database: the URL, its directory, and the settings that make
//! concurrent writers queue instead of failing.

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};

use super::StoreError;

/// How long a writer waits for SQLite's single write lock before giving up with SQLITE_BUSY.
/// Seat transactions take milliseconds, so this only runs out if something is wedged.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite has one writer at a time; more connections only help readers, and each is a thread.
const MAX_CONNECTIONS: u32 = 8;

pub(super) async fn open(database_url: &str) -> Result<SqlitePool, StoreError> {
    let options = options(database_url)?;
    let path = options.get_filename().to_path_buf();
    create_parent(&path).await?;
    SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await
        .map_err(|source| StoreError::Open { path, source })
}

pub(super) fn options(database_url: &str) -> Result<SqliteConnectOptions, StoreError> {
    let scheme = database_url.split(':').next().unwrap_or_default();
    if scheme != "sqlite" {
        return Err(StoreError::UnsupportedUrl {
            scheme: scheme.to_owned(),
        });
    }
    let options = SqliteConnectOptions::from_str(database_url).map_err(StoreError::InvalidUrl)?;
    // WAL lets readers (validate, list) run while a seat is being taken. synchronous stays
    // at sqlx's FULL: a seat granted must survive a power cut, and writes are rare.
    // foreign_keys is already on in sqlx's defaults.
    Ok(options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(BUSY_TIMEOUT))
}

/// `data/gumgate.db` on a fresh machine has no `data/`; SQLite creates files, not directories.
async fn create_parent(path: &Path) -> Result<(), StoreError> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })
}
