-- Background work is claimed row by row, so several gateways on one database do each piece of
-- it once (issue 12). A claim is a lease: `claimed_until` (unix seconds) passes and the row is
-- anyone's again, so a gateway that died mid-round holds nothing for long. A ping's claim also
-- fences its finish: only the claimant named in `claimed_by` may mark it done or retried, in the
-- transaction that records its effects. Columns only added: an older gateway ignores them.
ALTER TABLE webhook_inbox ADD COLUMN claimed_by TEXT;
ALTER TABLE webhook_inbox ADD COLUMN claimed_until BIGINT;
ALTER TABLE license_refs ADD COLUMN claimed_until BIGINT;
