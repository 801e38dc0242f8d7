//! One gateway per database. For a SQLite file: an advisory lock (`flock(2)`; `LockFileEx` on
//! Windows) on a file beside the database, `<database>.lock`, held as long as the
//! [`Store`](super::Store). For PostgreSQL: a session advisory lock ([`ServerLock`]).
//!
//! SQLite itself lets two processes share a file, but two gateways on one database would both
//! process every stored ping and both run the reconciler. The lock belongs to the open file,
//! so the kernel releases it when its process dies however it dies: a killed pod's successor
//! starts without anyone cleaning up. The lock file is never deleted: unlinking it while a
//! successor is opening it could leave two processes each holding a lock on a different file.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use fs4::{FileExt, TryLockError};
use sqlx::{Connection, PgConnection};

use super::StoreError;

/// An exclusive lock on `<database>.lock`; dropping it lets go.
#[derive(Debug)]
pub(super) struct DatabaseLock {
    // Never read: holding the open file is holding the lock.
    _file: File,
}

/// One gateway per PostgreSQL database until cluster mode is complete: background work is
/// claimed row by row now, but cached answers and their invalidations are still each
/// replica's own, so a second gateway could answer from what the first has just invalidated.
/// A session-level advisory lock, held by a connection of its own outside the pool; the server
/// releases it when that connection ends, however its process dies.
pub(super) struct ServerLock {
    session: PgConnection,
}

/// The advisory lock's key: "gumgate" in ASCII, so it is recognisable in `pg_locks`.
const SERVER_LOCK_KEY: i64 = 0x0067_756d_6761_7465;

impl ServerLock {
    /// Takes the lock on the database `database_url` names, or says another gateway has it.
    /// `server` is the URL as it may be shown.
    pub(super) async fn acquire(database_url: &str, server: &str) -> Result<Self, StoreError> {
        let failed = |source| StoreError::OpenServer {
            server: server.to_owned(),
            source,
        };
        let mut session = PgConnection::connect(database_url).await.map_err(failed)?;
        let (taken,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(SERVER_LOCK_KEY)
            .fetch_one(&mut session)
            .await
            .map_err(failed)?;
        if !taken {
            return Err(StoreError::ServerInUse {
                server: server.to_owned(),
            });
        }
        Ok(Self { session })
    }
}

/// What keeps a second gateway off the database.
pub(super) enum Held {
    File(DatabaseLock),
    Server(ServerLock),
}

impl Held {
    /// Lets go. The advisory lock is released by name before its session ends, so a successor
    /// started right after `close` finds it free (a session's locks otherwise go when its
    /// server process exits, a moment after the connection closes).
    pub(super) async fn release(self) {
        match self {
            Self::File(lock) => drop(lock),
            Self::Server(ServerLock { mut session }) => {
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(SERVER_LOCK_KEY)
                    .execute(&mut session)
                    .await;
                let _ = session.close().await;
            }
        }
    }
}

impl DatabaseLock {
    /// Takes the lock of the database at `database`, or says who has it. Never waits: a second
    /// process must refuse to start, not queue behind the first.
    pub(super) fn acquire(database: &Path) -> Result<Self, StoreError> {
        let path = lock_path(database);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| StoreError::LockFile {
                path: path.clone(),
                source,
            })?;
        // Called as `FileExt::try_lock`: on Rust 1.89+ `File` has an inherent `try_lock` of its
        // own, which this crate's minimum Rust version does not.
        match FileExt::try_lock(&file) {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => Err(StoreError::InUse {
                database: database.to_path_buf(),
                lock: path,
            }),
            Err(TryLockError::Error(source)) => Err(StoreError::LockFile { path, source }),
        }
    }
}

/// `data/gumgate.db` → `data/gumgate.db.lock`.
fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}
