-- Licenses Gumroad has answered 200 for, by `license_hash` (never the key): their verifies are
-- served from the budget's reserved share (`upstream.known_share`), so a flood of first-time
-- keys cannot starve paying users. Kept across restarts; one row per valid license, bounded by
-- the seller's sales.
CREATE TABLE known_licenses (
    license_hash TEXT PRIMARY KEY,
    first_seen_at BIGINT NOT NULL
);
