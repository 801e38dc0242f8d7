-- PostgreSQL twin of migrations/sqlite/0002_webhook_inbox.sql.
CREATE TABLE webhook_inbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at BIGINT NOT NULL,
    dedup_key TEXT NOT NULL UNIQUE,
    resource_name TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    processed_at BIGINT
);

CREATE INDEX webhook_inbox_due ON webhook_inbox (state, next_attempt_at);
