-- Activations (machine seats) of desktop licenses, and their audit trail.
--
-- Portable to PostgreSQL on purpose: ids and hashes TEXT, times BIGINT unix seconds, no
-- booleans, `ON CONFLICT` and partial indexes (both engines accept them). The two
-- SQLite-only spots are commented where they stand. License keys and machine fingerprints
-- only ever appear here as the hashes of `src/hashes.rs`.

-- One row per license that has ever had an activation: the seat counter. Taking a seat is a
-- conditional `UPDATE ... SET seats_used = seats_used + 1 WHERE seats_used < limit` on this
-- row in the same transaction as the INSERT into `activations`, so the limit holds in both
-- engines whatever the concurrency (the row is also the per-license lock in PostgreSQL).
CREATE TABLE license_seats (
    license_hash TEXT PRIMARY KEY,
    seats_used BIGINT NOT NULL DEFAULT 0 CHECK (seats_used >= 0),
    updated_at BIGINT NOT NULL
);

CREATE TABLE activations (
    id TEXT PRIMARY KEY,
    license_hash TEXT NOT NULL REFERENCES license_seats (license_hash),
    product_id TEXT NOT NULL,
    fingerprint_hash TEXT NOT NULL,
    name TEXT,
    platform TEXT,
    created_at BIGINT NOT NULL,
    -- The latest decision for this activation and when it was last VALID (offline grace).
    last_code TEXT,
    last_good_at BIGINT,
    deactivated_at BIGINT,
    -- 'user' or 'admin': only user deactivations count against the daily limit.
    deactivated_by TEXT CHECK (deactivated_by IN ('user', 'admin'))
);

-- One active activation per machine and license: what makes activation idempotent, and a
-- created and an existing activation the same row. Deactivated rows stay, for the audit
-- and the daily deactivation count, so the index is partial.
CREATE UNIQUE INDEX activations_active_fingerprint
    ON activations (license_hash, fingerprint_hash)
    WHERE deactivated_at IS NULL;

CREATE INDEX activations_by_license ON activations (license_hash, created_at);

-- The daily deactivation count looks at recent deactivations of one license.
CREATE INDEX activations_deactivated
    ON activations (license_hash, deactivated_at)
    WHERE deactivated_at IS NOT NULL;

CREATE TABLE audit_log (
    -- SQLite-only: INTEGER PRIMARY KEY is the auto-assigned rowid, which orders the trail.
    -- PostgreSQL: `seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY`.
    seq INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    license_hash TEXT NOT NULL,
    activation_id TEXT,
    code TEXT,
    detail TEXT
);

CREATE INDEX audit_log_by_license ON audit_log (license_hash, seq);

-- Append-only, enforced by the database rather than by convention.
-- SQLite-only trigger syntax; PostgreSQL: a trigger function that raises, or
-- `REVOKE UPDATE, DELETE ON audit_log` from the application role.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
