//! `gumgate db backup`: an online copy of the SQLite database with `VACUUM INTO`, safe while a
//! `serve` runs on the same file.
//!
//! Why this needs neither `serve`'s lock nor a pause: the lock (`lock.rs`) keeps a second
//! *gateway* out (two would both process every ping); a backup writes nothing to the
//! database, so it opens its own read-only connection (`mode=ro`) without the lock. `VACUUM
//! INTO` runs inside one read transaction, and in WAL mode a reader sees a consistent snapshot
//! (the last commit before it began) while `serve` keeps writing, so the copy is a
//! self-contained database as of one moment: never a torn mix of two transactions.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;

use super::StoreError;
use super::connect;

/// Where the copy goes.
pub enum BackupTarget<'a> {
    /// A new file (never an existing one), mode 0600.
    File(&'a Path),
    /// Standard output, through a temporary file in the system's temp directory.
    Stdout,
}

/// Copies the database at `database_url` to `target`; returns the copy's size in bytes.
pub async fn backup(database_url: &str, target: BackupTarget<'_>) -> Result<u64, StoreError> {
    if connect::Engine::of(database_url) == Some(connect::Engine::Postgres) {
        return Err(StoreError::BackupNeedsSqlite);
    }
    let source = connect::options(database_url)?
        .create_if_missing(false)
        .read_only(true);
    let path = source.get_filename().to_path_buf();
    let failed = |source: std::io::Error| StoreError::Backup {
        path: path.clone(),
        source,
    };
    let mut conn = SqliteConnection::connect_with(&source)
        .await
        .map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
    match target {
        BackupTarget::File(out) => {
            // Claimed first (create_new fails on anything already there), so an existing file
            // is never replaced; the copy is written beside it and renamed over the claim.
            let claim = new_private_file(out).map_err(failed)?;
            drop(claim);
            let tmp = temp_path(out);
            let result = vacuum_into(&mut conn, &tmp).await.and_then(|size| {
                std::fs::rename(&tmp, out).map_err(failed)?;
                Ok(size)
            });
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
                let _ = std::fs::remove_file(out);
            }
            conn.close().await.ok();
            result
        }
        BackupTarget::Stdout => {
            let tmp = temp_path(&std::env::temp_dir().join("gumgate-backup.db"));
            let result = vacuum_into(&mut conn, &tmp).await.and_then(|size| {
                let mut file = File::open(&tmp).map_err(failed)?;
                let mut stdout = std::io::stdout().lock();
                std::io::copy(&mut file, &mut stdout)
                    .and_then(|_| stdout.flush())
                    .map_err(failed)?;
                Ok(size)
            });
            let _ = std::fs::remove_file(&tmp);
            conn.close().await.ok();
            result
        }
    }
}

/// `VACUUM INTO` an empty 0600 file at `tmp` (created here, so the copy is never readable by
/// others, even for a moment); the copy's size.
async fn vacuum_into(conn: &mut SqliteConnection, tmp: &Path) -> Result<u64, StoreError> {
    let failed = |source: std::io::Error| StoreError::Backup {
        path: tmp.to_path_buf(),
        source,
    };
    drop(new_private_file(tmp).map_err(failed)?);
    // SQLite writes into an existing file only if it is empty, as this one is.
    sqlx::query("VACUUM INTO ?")
        .bind(tmp.to_string_lossy().into_owned())
        .execute(&mut *conn)
        .await?;
    let file = File::open(tmp).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    Ok(file.metadata().map_err(failed)?.len())
}

fn new_private_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// A name beside `path` for the copy being written, unique to this process.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(
        || "gumgate-backup".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}
