-- What the reconciler needs to re-check a license without ever storing its key: the Gumroad
-- sale it belongs to (a sale lookup returns the key), and when it was last checked.
CREATE TABLE license_refs (
    license_hash TEXT PRIMARY KEY,
    product_id TEXT NOT NULL,
    sale_id TEXT NOT NULL,
    last_checked_at BIGINT NOT NULL
);

CREATE INDEX license_refs_due ON license_refs (last_checked_at);
