-- Issue 9: the inbox kept every ping whole for 30 days, buyers' emails, names, cards and
-- license keys included. It now keeps what processing needs (the Rust side, `webhooks::ping`,
-- writes new rows that way); this cuts down the rows already stored. Depends only on 0002.

-- The license key of a ping that names no sale to resolve it through, kept apart from the
-- payload only until the ping is processed (then set back to NULL).
ALTER TABLE webhook_inbox ADD COLUMN license_key TEXT;

UPDATE webhook_inbox
SET license_key = json_extract(payload, '$.license_key')
WHERE state = 'pending'
  AND json_valid(payload)
  AND json_type(payload, '$.license_key') = 'text'
  AND COALESCE(trim(json_extract(payload, '$.sale_id')), '') = ''
  AND COALESCE(json_array_length(payload, '$.purchase_ids'), 0) = 0;

-- Every readable payload keeps only these fields (json_patch onto '{}' drops the absent
-- ones). Rows stored before this migration get no license hash: SQL cannot compute it.
UPDATE webhook_inbox
SET payload = json_patch('{}', json_object(
    'resource_name', json_extract(payload, '$.resource_name'),
    'sale_id', json_extract(payload, '$.sale_id'),
    'purchase_ids', json(json_extract(payload, '$.purchase_ids')),
    'product_id', json_extract(payload, '$.product_id'),
    'subscription_id', json_extract(payload, '$.subscription_id'),
    'sale_timestamp', json_extract(payload, '$.sale_timestamp'),
    'created_at', json_extract(payload, '$.created_at'),
    'cancelled_at', json_extract(payload, '$.cancelled_at'),
    'ended_at', json_extract(payload, '$.ended_at'),
    'restarted_at', json_extract(payload, '$.restarted_at')
))
WHERE state <> 'malformed' AND json_valid(payload);

-- Malformed pings keep a size only (of what was stored: the original body is gone).
UPDATE webhook_inbox
SET payload = json_object(
    'reason', 'stored before redaction',
    'bytes', length(CAST(payload AS BLOB))
),
    resource_name = NULL
WHERE state = 'malformed';
