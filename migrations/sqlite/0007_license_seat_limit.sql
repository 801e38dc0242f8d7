-- The seat limit a license had at its last good decision (policy seats x purchase quantity),
-- so an offline validate, which cannot ask Gumroad, still reports the real number. Nullable:
-- rows from before this column learn theirs at the next good decision.
ALTER TABLE license_seats ADD COLUMN seat_limit BIGINT;
