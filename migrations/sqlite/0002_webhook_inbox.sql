-- Gumroad's pings, written before the receiver answers 200 so that a crash after the answer
-- loses nothing; processed from here, retried on failure, resumed at start.
CREATE TABLE webhook_inbox (
    -- SQLite rowid; PostgreSQL: BIGINT GENERATED ALWAYS AS IDENTITY.
    id INTEGER PRIMARY KEY,
    received_at BIGINT NOT NULL,
    -- A hash of the whole ping: Gumroad retries send the identical body.
    dedup_key TEXT NOT NULL UNIQUE,
    resource_name TEXT,
    -- The ping's params as JSON.
    payload TEXT NOT NULL,
    -- 'pending', 'done', 'failed' (gave up) or 'malformed' (kept for inspection).
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    processed_at BIGINT
);

CREATE INDEX webhook_inbox_due ON webhook_inbox (state, next_attempt_at);
