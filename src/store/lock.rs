//! One process per SQLite file: an advisory lock (`flock(2)`; `LockFileEx` on Windows) on a
//! file beside the database, `<database>.lock`, held as long as the [`Store`](super::Store).
//!
//! SQLite itself lets two processes share a file, but two gateways on one database would both
//! process every stored ping and both run the reconciler. The lock belongs to the open file,
//! so the kernel releases it when its process dies however it dies: a killed pod's successor
//! starts without anyone cleaning up. The lock file is never deleted: unlinking it while a
//! successor is opening it could leave two processes each holding a lock on a different file.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use fs4::{FileExt, TryLockError};

use super::StoreError;

/// An exclusive lock on `<database>.lock`; dropping it lets go.
#[derive(Debug)]
pub(super) struct DatabaseLock {
    // Never read: holding the open file is holding the lock.
    _file: File,
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
