-- An Idempotency-Key belongs to whoever sent it (a user or an API key), not to the whole
-- organization: two tills numbering their sales alike must not get each other's replays.
ALTER TABLE idempotency_keys ADD COLUMN actor text NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (org_id, actor, key);
ALTER TABLE idempotency_keys ALTER COLUMN actor DROP DEFAULT;
