-- PostgreSQL twin of migrations/sqlite/0006_known_licenses.sql.
CREATE TABLE known_licenses (
    license_hash TEXT PRIMARY KEY,
    first_seen_at BIGINT NOT NULL
);
