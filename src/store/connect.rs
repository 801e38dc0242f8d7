//! Opening the SQLite database: the URL, its directory, the one-process lock, the settings
//! that make concurrent writers queue instead of failing, and a check that it can be written.

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};

use super::StoreError;
use super::lock::DatabaseLock;

/// How long a writer waits for SQLite's single write lock before giving up with SQLITE_BUSY.
/// Seat transactions take milliseconds, so this only runs out if something is wedged.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite has one writer at a time; more connections only help readers, and each is a thread.
const MAX_CONNECTIONS: u32 = 8;

/// An open database: the pool and, for a file, the lock that keeps other processes out.
pub(super) struct Opened {
    pub(super) pool: SqlitePool,
    pub(super) lock: Option<DatabaseLock>,
}

pub(super) async fn open(database_url: &str) -> Result<Opened, StoreError> {
    let options = options(database_url)?;
    let path = options.get_filename().to_path_buf();
    // An in-memory database belongs to its pool alone: nothing to share, nothing to lock.
    let lock = if in_memory(database_url) {
        None
    } else {
        create_parent(&path).await?;
        // Before SQLite opens the file: a process refused here has not even migrated it.
        Some(DatabaseLock::acquire(&path)?)
    };
    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await
        .map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
    ensure_writable(&pool, &path).await?;
    Ok(Opened { pool, lock })
}

/// What [`open`] would refuse, found without opening the database, taking its lock or
/// creating anything that stays (for `check-config`, which may run beside a live `serve`): the
/// URL, `?mode=ro`, a directory that cannot be created, and a file or directory that cannot be
/// written. Writing is tried for real (a temporary file in the directory, the file opened for
/// writing without truncating) because permission bits say nothing of a read-only mount.
pub(super) fn check(database_url: &str) -> Result<(), StoreError> {
    let path = options(database_url)?.get_filename().to_path_buf();
    if in_memory(database_url) {
        return Ok(());
    }
    let not_writable = |source| StoreError::NotWritable {
        path: path.clone(),
        source,
    };
    if read_only_mode(database_url) {
        return Err(not_writable(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "the URL asks for mode=ro",
        )));
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // The nearest directory that exists is where `open` would create the rest.
    let mut existing = dir;
    while !existing.exists() {
        existing = existing.parent().unwrap_or(Path::new("."));
        if existing.as_os_str().is_empty() {
            existing = Path::new(".");
        }
    }
    if !existing.is_dir() {
        return Err(StoreError::CreateDir {
            path: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    let probe = existing.join(format!(".gumgate-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(not_writable)?;
    let _ = std::fs::remove_file(&probe);
    if path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(not_writable)?;
    }
    Ok(())
}

/// Whether the URL asks SQLite to open the file read-only (`?mode=ro`).
fn read_only_mode(database_url: &str) -> bool {
    let params = database_url.split_once('?').map_or("", |(_, p)| p);
    form_urlencoded::parse(params.as_bytes()).any(|(k, v)| k == "mode" && v == "ro")
}

/// SQLite opens a file it may not write (permissions, a read-only mount; or `?mode=ro` in the
/// URL) read-only without a word, and migrations already applied need no write: the first
/// seat taken would be the first failure. So write something and roll it back. `BEGIN
/// IMMEDIATE` alone proves nothing: on a read-only connection SQLite quietly makes it a read
/// transaction. The rolled-back page never reaches the file.
async fn ensure_writable(pool: &SqlitePool, path: &Path) -> Result<(), StoreError> {
    let read_only = |source| StoreError::ReadOnly {
        path: path.to_path_buf(),
        source,
    };
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(read_only)?;
    sqlx::query("CREATE TABLE gumgate_write_check (x INTEGER)")
        .execute(&mut *tx)
        .await
        .map_err(read_only)?;
    tx.rollback().await.map_err(read_only)
}

/// Whether the URL names an in-memory database (`sqlite::memory:`, `?mode=memory`), read as
/// `SqliteConnectOptions::from_str` reads it (sqlx keeps its own answer private).
fn in_memory(database_url: &str) -> bool {
    let rest = database_url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:"
        || form_urlencoded::parse(params.as_bytes()).any(|(k, v)| k == "mode" && v == "memory")
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
