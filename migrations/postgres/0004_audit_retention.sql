-- PostgreSQL twin of migrations/sqlite/0004_audit_retention.sql: only the pruner deletes, and
-- only rows older than the cutoff it sets in its own transaction (uncommitted, so no other
-- session ever sees it). UPDATE is refused outright. A missing row or a NULL cutoff makes the
-- comparison NULL, so the IF fails closed.
CREATE TABLE audit_prune_cutoff (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    cutoff BIGINT
);

INSERT INTO audit_prune_cutoff (id, cutoff) VALUES (1, NULL);

CREATE INDEX audit_log_by_at ON audit_log (at);

CREATE OR REPLACE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND OLD.at < (SELECT cutoff FROM audit_prune_cutoff WHERE id = 1) THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit_log is append-only: only the pruner deletes, past the retention';
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
