-- PostgreSQL twin of migrations/sqlite/0003_license_refs.sql.
CREATE TABLE license_refs (
    license_hash TEXT PRIMARY KEY,
    product_id TEXT NOT NULL,
    sale_id TEXT NOT NULL,
    last_checked_at BIGINT NOT NULL
);

CREATE INDEX license_refs_due ON license_refs (last_checked_at);
