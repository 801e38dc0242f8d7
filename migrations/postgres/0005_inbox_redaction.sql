-- PostgreSQL twin of migrations/sqlite/0005_inbox_redaction.sql. The column is added; the
-- rewrite of rows stored whole before issue 9 has nothing to do here: PostgreSQL support came
-- later, so every ping it ever stored was already redacted when written.
ALTER TABLE webhook_inbox ADD COLUMN license_key TEXT;
