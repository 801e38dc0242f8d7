//! Opening the database named by `storage.database_url`, on either engine, as one `AnyPool`:
//! - `sqlite://PATH` (the default): its directory, the one-process lock, the settings that make
//!   concurrent writers queue instead of failing;
//! - `postgres://...` (or `postgresql://`): a database on a server, one gateway per database
//!   (an advisory lock, `lock.rs`) unless in cluster mode, where replicas share it.
//!
//! Either way, a check that the database can be written before anything relies on it.

use std::{path::Path, str::FromStr, sync::Once, time::Duration};

use sqlx::{
    AnyPool, Connection, Executor,
    any::AnyPoolOptions,
    postgres::PgConnectOptions,
    sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode},
};

use super::StoreError;
use super::lock::{DatabaseLock, Held, ServerLock};

/// Which engine a `Store` runs on: what little SQL differs (how a write transaction begins,
/// SQLite's checkpoint at shutdown) is chosen by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The engine a URL names, by its scheme; `None` for any other scheme.
    pub fn of(database_url: &str) -> Option<Self> {
        match database_url.split(':').next().unwrap_or_default() {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            _ => None,
        }
    }

    /// How a transaction that will write begins. SQLite's `BEGIN IMMEDIATE` takes the write
    /// lock up front, so two seat transactions queue instead of one failing at its first write;
    /// PostgreSQL's plain `BEGIN` with the row lock the seat counter's upsert takes serialises
    /// the writers of one license and leaves the others free.
    pub fn begin_write(self) -> &'static str {
        match self {
            Self::Sqlite => "BEGIN IMMEDIATE",
            Self::Postgres => "BEGIN",
        }
    }
}

/// PostgreSQL connections per replica: seat transactions are short, and a server's
/// `max_connections` (100 by default) is shared by every replica.
const PG_MAX_CONNECTIONS: u32 = 10;

/// How long a query waits for a free connection before failing (a wedged or unreachable
/// server must not hold a request for ever).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a writer waits for SQLite's single write lock before giving up with SQLITE_BUSY.
/// Seat transactions take milliseconds, so this only runs out if something is wedged.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite has one writer at a time; more connections only help readers, and each is a thread.
const MAX_CONNECTIONS: u32 = 8;

/// An open database: the pool, its engine and, for a SQLite file, the lock that keeps other
/// processes out.
pub(super) struct Opened {
    pub(super) pool: AnyPool,
    pub(super) engine: Engine,
    pub(super) lock: Option<Held>,
}

/// sqlx's `Any` driver picks the engine from the URL once its drivers are installed.
fn install_drivers() {
    static DRIVERS: Once = Once::new();
    DRIVERS.call_once(sqlx::any::install_default_drivers);
}

/// Whether other gateways may use the same database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// This gateway alone: a file lock, or an advisory lock on PostgreSQL.
    OneGateway,
    /// Cluster mode (`redis.url`): PostgreSQL takes no lock.
    Cluster,
}

pub(super) async fn open(database_url: &str, sharing: Sharing) -> Result<Opened, StoreError> {
    install_drivers();
    match Engine::of(database_url) {
        Some(Engine::Sqlite) => open_sqlite(database_url).await,
        Some(Engine::Postgres) => open_postgres(database_url, sharing).await,
        None => Err(unsupported(database_url)),
    }
}

async fn open_sqlite(database_url: &str) -> Result<Opened, StoreError> {
    let options = options(database_url)?;
    let path = options.get_filename().to_path_buf();
    let memory = in_memory(database_url);
    // An in-memory database belongs to its pool alone: nothing to share, nothing to lock.
    let lock = if memory {
        None
    } else {
        create_parent(&path).await?;
        // Before SQLite opens the file: a process refused here has not even migrated it.
        Some(Held::File(DatabaseLock::acquire(&path)?))
    };
    let open_failed = |source| StoreError::Open {
        path: path.clone(),
        source,
    };
    if !memory {
        // One connection with every SQLite option first: it creates the file, switches it to
        // WAL (a setting the file keeps) and says plainly what is wrong with a file that is
        // not a database. The pool below would retry such a failure until its timeout and
        // report only that.
        let probe = SqliteConnection::connect_with(&options)
            .await
            .map_err(open_failed)?;
        probe.close().await.map_err(open_failed)?;
    }
    let pool = AnyPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // An in-memory database lives as long as one of its connections: one is kept open.
        .min_connections(u32::from(memory))
        .idle_timeout((!memory).then_some(Duration::from_secs(600)))
        .max_lifetime((!memory).then_some(Duration::from_secs(1800)))
        // The `Any` driver opens SQLite from the URL alone: the one setting of `options` a
        // file does not keep (WAL it does) is applied to each connection here.
        .after_connect(|conn, _| {
            Box::pin(async move {
                let busy = format!("PRAGMA busy_timeout = {}", BUSY_TIMEOUT.as_millis());
                conn.execute(busy.as_str()).await?;
                Ok(())
            })
        })
        .connect(&any_sqlite_url(database_url))
        .await
        .map_err(open_failed)?;
    ensure_writable(&pool, Engine::Sqlite)
        .await
        .map_err(|source| StoreError::ReadOnly {
            path: path.clone(),
            source,
        })?;
    Ok(Opened {
        pool,
        engine: Engine::Sqlite,
        lock,
    })
}

/// The URL the `Any` driver opens (it reads SQLite's options from the URL alone):
/// - a file is created when missing (`mode=rwc`) unless the URL chose a mode itself
///   (`mode=ro` is then refused by the write check);
/// - an in-memory database gets a name of its own in shared-cache mode, so the pool's
///   connections share one database that no other pool sees (sqlx's own pool does the same).
fn any_sqlite_url(database_url: &str) -> String {
    if in_memory(database_url) {
        return format!(
            "sqlite:file:gumgate-memory-{}?mode=memory&cache=shared",
            uuid::Uuid::new_v4().simple()
        );
    }
    let params = database_url.split_once('?').map_or("", |(_, p)| p);
    if form_urlencoded::parse(params.as_bytes()).any(|(k, _)| k == "mode") {
        return database_url.to_owned();
    }
    let sep = if database_url.contains('?') { '&' } else { '?' };
    format!("{database_url}{sep}mode=rwc")
}

async fn open_postgres(database_url: &str, sharing: Sharing) -> Result<Opened, StoreError> {
    let server = crate::redact::redact_url(database_url);
    PgConnectOptions::from_str(database_url).map_err(|source| StoreError::InvalidServerUrl {
        server: server.clone(),
        source,
    })?;
    // Before migrating, as for a SQLite file: a second gateway refused here changed nothing.
    let lock = match sharing {
        Sharing::OneGateway => Some(Held::Server(
            ServerLock::acquire(database_url, &server).await?,
        )),
        Sharing::Cluster => None,
    };
    let pool = AnyPoolOptions::new()
        .max_connections(PG_MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(database_url)
        .await
        .map_err(|source| StoreError::OpenServer {
            server: server.clone(),
            source,
        })?;
    // A hot standby, or a role without write rights, is found now rather than at the first
    // seat taken.
    ensure_writable(&pool, Engine::Postgres)
        .await
        .map_err(|source| StoreError::ServerReadOnly { server, source })?;
    Ok(Opened {
        pool,
        engine: Engine::Postgres,
        lock,
    })
}

fn unsupported(database_url: &str) -> StoreError {
    StoreError::UnsupportedUrl {
        scheme: database_url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// What [`open`] would refuse, found without opening the database, taking its lock or
/// creating anything that stays (for `check-config`, which may run beside a live `serve`): the
/// URL, `?mode=ro`, a directory that cannot be created, and a file or directory that cannot be
/// written. Writing is tried for real (a temporary file in the directory, the file opened for
/// writing without truncating) because permission bits say nothing of a read-only mount.
pub(super) fn check(database_url: &str) -> Result<(), StoreError> {
    if Engine::of(database_url) == Some(Engine::Postgres) {
        // The server is not asked here (check-config runs offline); the URL must parse.
        return PgConnectOptions::from_str(database_url)
            .map(drop)
            .map_err(|source| StoreError::InvalidServerUrl {
                server: crate::redact::redact_url(database_url),
                source,
            });
    }
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
/// transaction. The rolled-back page never reaches the file. On PostgreSQL the same finds a
/// hot standby or a role that may not create tables (which migrations need anyway).
async fn ensure_writable(pool: &AnyPool, engine: Engine) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin_with(engine.begin_write()).await?;
    sqlx::query("CREATE TABLE gumgate_write_check (x INTEGER)")
        .execute(&mut *tx)
        .await?;
    tx.rollback().await
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

/// The SQLite options a URL gives (also read by `gumgate db backup`, which opens its own
/// read-only connection).
pub(super) fn options(database_url: &str) -> Result<SqliteConnectOptions, StoreError> {
    if Engine::of(database_url) != Some(Engine::Sqlite) {
        return Err(unsupported(database_url));
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
