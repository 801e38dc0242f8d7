//! The values the store takes and returns, and its error.

use serde::Serialize;

/// A request for a seat: the caller has already decided the license is good.
#[derive(Debug, Clone)]
pub struct NewActivation {
    /// `hashes::license_hash` of the license key.
    pub license_hash: String,
    pub product_id: String,
    /// `hashes::fingerprint_hash` of the machine fingerprint.
    pub fingerprint_hash: String,
    /// The machine's display name, as the app sent it.
    pub name: Option<String>,
    pub platform: Option<String>,
    /// The seat limit of this license (policy), checked atomically against active activations.
    pub seats: u32,
    /// Unix seconds.
    pub now: i64,
}

/// The outcome of [`Store::activate`](super::Store::activate).
#[derive(Debug, Clone, PartialEq)]
pub enum Activated {
    /// A new seat was taken.
    Created(Activation),
    /// This machine already holds a seat of this license: the same row, no new seat.
    Existing(Activation),
    /// Every seat is taken (`seats_used` as counted when refused).
    NoSeat { seats_used: u32 },
}

/// One machine's activation of a license.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Activation {
    /// `act_` + a v4 UUID in simple form.
    pub id: String,
    pub license_hash: String,
    pub product_id: String,
    pub fingerprint_hash: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub created_at: i64,
    /// The reason code of the latest decision (`VALID`, `REFUNDED`, ...).
    pub last_code: Option<String>,
    /// When a decision was last `VALID`: what offline grace measures from.
    pub last_good_at: Option<i64>,
    pub deactivated_at: Option<i64>,
    /// The machine's latest activate, validate or heartbeat (`None`: not since it activated,
    /// or not since migration 0009).
    pub last_seen_at: Option<i64>,
    /// Why the gateway itself ended it: `heartbeat` (no sign of life within the window).
    pub released_reason: Option<String>,
}

impl Activation {
    /// When the machine was last seen: its latest check, else its activation.
    pub fn seen_at(&self) -> i64 {
        self.last_seen_at.unwrap_or(self.created_at)
    }

    /// Whether it lost its seat for want of heartbeats.
    pub fn missed_heartbeats(&self) -> bool {
        self.deactivated_at.is_some() && self.released_reason.as_deref() == Some("heartbeat")
    }
}

/// Who deactivates: only users are held to the daily limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User,
    Admin,
}

impl Actor {
    /// The stored form (`activations.deactivated_by`).
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Actor::User => "user",
            Actor::Admin => "admin",
        }
    }
}

/// The outcome of [`Store::deactivate`](super::Store::deactivate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deactivated {
    Done,
    /// No active activation with this id on this license.
    NotFound,
    /// The user has used up today's deactivations; one frees up in `retry_after_secs`.
    TooManyToday {
        retry_after_secs: i64,
    },
}

/// One line of the append-only audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    /// Unix seconds.
    pub at: i64,
    /// A change: `activate`, `deactivate`, `admin_deactivate`, `release_all`, `webhook`,
    /// `reconcile`, `upstream_resume`. Refusals are counted in metrics, not audited.
    pub action: String,
    pub license_hash: String,
    pub activation_id: Option<String>,
    /// A reason code where there is one (the new decision of a re-check, ...).
    pub code: Option<String>,
    pub detail: Option<String>,
}

/// Why the store failed. Messages name ids and paths, never a license key or fingerprint
/// (the store only ever sees their hashes).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL itself is not echoed: a PostgreSQL one may carry a password.
    #[error(
        "storage.database_url: unsupported database URL (expected sqlite://PATH or \
         postgres://USER@HOST/DATABASE), scheme {scheme:?}"
    )]
    UnsupportedUrl { scheme: String },
    /// `server` is the URL with its password masked.
    #[error("storage.database_url: invalid PostgreSQL URL {server}: {source}")]
    InvalidServerUrl { server: String, source: sqlx::Error },
    #[error("cannot connect to the database server {server}: {source}")]
    OpenServer { server: String, source: sqlx::Error },
    /// Another gateway holds the database's advisory lock.
    #[error(
        "the database {server} is in use by another gumgate process (it holds the advisory \
         lock); one gateway per database until cluster mode"
    )]
    ServerInUse { server: String },
    /// A hot standby, or a role that may not create tables.
    #[error("the database server {server} cannot be written: {source}")]
    ServerReadOnly { server: String, source: sqlx::Error },
    #[error(
        "gumgate db backup copies a SQLite database; back up PostgreSQL with pg_dump \
         (deploy/README.md)"
    )]
    BackupNeedsSqlite,
    #[error("storage.database_url: invalid SQLite URL: {0}")]
    InvalidUrl(#[source] sqlx::Error),
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: std::path::PathBuf,
        source: sqlx::Error,
    },
    /// Another process (or another `Store` in this one) holds the database's lock.
    #[error(
        "the database {database} is in use by another gumgate process (its lock {lock} is \
         held); one process per SQLite file"
    )]
    InUse {
        database: std::path::PathBuf,
        lock: std::path::PathBuf,
    },
    #[error("cannot take the database lock {path}: {source}")]
    LockFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The database opened, but only for reading (file or directory permissions, a read-only
    /// mount, `?mode=ro`).
    #[error("the database {path} cannot be written: {source}")]
    ReadOnly {
        path: std::path::PathBuf,
        source: sqlx::Error,
    },
    /// `gumgate db backup` could not write its copy.
    #[error("backup {path}: {source}")]
    Backup {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// Found by `check-config` without opening the database.
    #[error("the database {path} cannot be written: {source}")]
    NotWritable {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("no activation {0}")]
    UnknownActivation(String),
    /// A claimed ping's lease passed and its claim was lost before it could be finished.
    #[error("webhook ping {0}: its claim was lost (the lease passed); left to its new claimant")]
    ClaimLost(i64),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether the database could not be reached (as opposed to refusing a query, or the
    /// store being closed): a retry may work once it is back.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::OpenServer { .. }
                | Self::Database(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)
        )
    }
}
