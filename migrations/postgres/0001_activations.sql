-- PostgreSQL twin of migrations/sqlite/0001_activations.sql: the same tables, columns and
-- indexes, with PostgreSQL's identity column and trigger function where SQLite has its rowid
-- and trigger syntax. Versions match across the two directories: every later migration is
-- written twice, and only adds (expand now, contract in a later release), so an old and a new
-- Gumgate run side by side during a rolling update.

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
    last_code TEXT,
    last_good_at BIGINT,
    deactivated_at BIGINT,
    deactivated_by TEXT CHECK (deactivated_by IN ('user', 'admin'))
);

CREATE UNIQUE INDEX activations_active_fingerprint
    ON activations (license_hash, fingerprint_hash)
    WHERE deactivated_at IS NULL;

CREATE INDEX activations_by_license ON activations (license_hash, created_at);

CREATE INDEX activations_deactivated
    ON activations (license_hash, deactivated_at)
    WHERE deactivated_at IS NOT NULL;

CREATE TABLE audit_log (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    license_hash TEXT NOT NULL,
    activation_id TEXT,
    code TEXT,
    detail TEXT
);

CREATE INDEX audit_log_by_license ON audit_log (license_hash, seq);

-- Append-only, enforced by the database. 0004 replaces this with the pruner's exception.
CREATE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;

CREATE TRIGGER audit_log_guard BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_guard();
