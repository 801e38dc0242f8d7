-- Audit retention (issue 9): entries older than `audit.retention` are deleted, by the pruner
-- only. The trail stays append-only otherwise: UPDATE is still refused outright, and DELETE is
-- refused unless the row is older than a cutoff that the pruner sets in its own transaction
-- just before deleting and clears before committing. Between prunes the cutoff is NULL, so an
-- ad-hoc `DELETE FROM audit_log` (or a bug in the application) removes nothing, old rows
-- included. SQLite's `BEGIN IMMEDIATE` serialises writers and PostgreSQL hides the uncommitted
-- cutoff from other transactions, so no other session ever sees a cutoff set.

-- One row, id 1; `cutoff` is unix seconds, NULL when no pruning is under way.
CREATE TABLE audit_prune_cutoff (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    cutoff BIGINT
);

INSERT INTO audit_prune_cutoff (id, cutoff) VALUES (1, NULL);

-- The pruner deletes by age.
CREATE INDEX audit_log_by_at ON audit_log (at);

DROP TRIGGER audit_log_no_delete;

-- SQLite-only trigger syntax. A missing row or a NULL cutoff makes the COALESCE compare the row
-- with itself (false), so the DELETE is refused: the rule fails closed.
-- PostgreSQL (a later issue) enforces the same rule with a trigger function, for UPDATE and
-- DELETE alike; a NULL cutoff makes the comparison NULL, so the IF fails closed there too:
--   CREATE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
--   BEGIN
--     IF TG_OP = 'DELETE'
--        AND OLD.at < (SELECT cutoff FROM audit_prune_cutoff WHERE id = 1) THEN
--       RETURN OLD;
--     END IF;
--     RAISE EXCEPTION 'audit_log is append-only';
--   END $$;
--   CREATE TRIGGER audit_log_guard BEFORE UPDATE OR DELETE ON audit_log
--     FOR EACH ROW EXECUTE FUNCTION audit_log_guard();
-- with the application role allowed to UPDATE only `audit_prune_cutoff`, not to drop triggers.
CREATE TRIGGER audit_log_prune_only BEFORE DELETE ON audit_log
WHEN NOT (OLD.at < COALESCE((SELECT cutoff FROM audit_prune_cutoff WHERE id = 1), OLD.at))
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: only the pruner deletes, past the retention');
END;
