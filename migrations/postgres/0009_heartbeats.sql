-- PostgreSQL twin of migrations/sqlite/0009_heartbeats.sql.
-- Machine heartbeats and entitlements (issue 13). Columns only added: an older gateway ignores
-- them, so old and new versions run side by side during a rolling update.
--
-- `last_seen_at`: the machine's latest activate, validate or heartbeat (unix seconds), shown to
-- the license holder. `heartbeat_deadline`: when heartbeats are on for the product, the time
-- after which the activation is released if the machine has not been seen again (last seen +
-- interval + grace); NULL when they are off. `released_reason`: why the gateway itself ended the
-- activation ('heartbeat'); `deactivated_by` stays NULL then, so a release never counts against
-- the holder's daily deactivation limit, and its CHECK is left as it is.
ALTER TABLE activations ADD COLUMN last_seen_at BIGINT;
ALTER TABLE activations ADD COLUMN heartbeat_deadline BIGINT;
ALTER TABLE activations ADD COLUMN released_reason TEXT CHECK (released_reason IN ('heartbeat'));

-- The release sweep reads the live activations whose deadline has passed.
CREATE INDEX activations_heartbeat_deadline ON activations (heartbeat_deadline)
    WHERE deactivated_at IS NULL AND heartbeat_deadline IS NOT NULL;

-- What the purchase is (variants, recurrence, subscription end) at the license's last good
-- decision, as JSON: an offline answer, which cannot ask Gumroad, still carries it.
ALTER TABLE license_seats ADD COLUMN entitlements TEXT;
