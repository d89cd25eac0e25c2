-- The tenant context lives in the request's transaction, so a transaction pooler (RDS Proxy,
-- PgBouncer in transaction mode) can hand the server connection to someone else as soon as the
-- request commits, and nothing of the request survives on it.
--
-- A tenant request's first round trip is one simple-protocol message:
--     BEGIN; SELECT * FROM stockroom_enter_user('<user>', '<org>', '<session>');
-- (or stockroom_enter_api_key(decode('<hex>', 'hex'))). The function checks the credentials
-- and, only for a caller who passes, switches the rest of the transaction to the role
-- `stockroom_app` with `app.org_id` set, both transaction-local (`set_config(..., true)`, i.e.
-- SET LOCAL): COMMIT or ROLLBACK ends them. The statement text is the function's name and literals (UUIDs, a hex
-- hash), so it needs no prepared statement, and the checks are validated when this migration
-- creates them instead of being built as strings at run time.

-- Both are PL/pgSQL, whose statements are planned once per session and then reused; a SQL
-- function that is not inlined has its body planned again on every call before PostgreSQL 18.

-- A user's access token: the user is active in the token's organization and the session the
-- token belongs to is not signed out. Returns the role and granted permissions.
CREATE FUNCTION stockroom_enter_user(p_user uuid, p_org uuid, p_session uuid)
RETURNS TABLE (role user_role, permissions jsonb)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    RETURN QUERY
        SELECT u.role, u.permissions FROM users u
        WHERE u.id = p_user AND u.org_id = p_org AND u.is_active
          AND EXISTS (SELECT 1 FROM refresh_tokens t
                      WHERE t.family_id = p_session AND t.user_id = u.id
                        AND t.revoked_at IS NULL);
    -- Only a caller who passed is confined (and so switched): the transaction is rolled back
    -- on the refusal anyway.
    IF FOUND THEN
        PERFORM set_config('role', 'stockroom_app', true),
                set_config('app.org_id', p_org::text, true);
    END IF;
END
$$;

-- An API key by the SHA-256 of its text (bytes): live, not revoked, not expired.
-- `last_used_at` is written at most once a minute, so busy integrations do not turn every read
-- into a write.
CREATE FUNCTION stockroom_enter_api_key(p_key_hash bytea)
RETURNS TABLE (id uuid, org_id uuid, scopes jsonb)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    k api_keys%ROWTYPE;
BEGIN
    SELECT * INTO k FROM api_keys a
    WHERE a.key_hash = p_key_hash AND a.revoked_at IS NULL
      AND (a.expires_at IS NULL OR a.expires_at > now());
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- The row lock lasts as long as the request; concurrent requests with the same key skip
    -- the touch instead of queueing behind it. (A request answered with an error rolls its
    -- touch back with everything else.)
    IF k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute' THEN
        UPDATE api_keys a SET last_used_at = now()
        WHERE a.id = (SELECT b.id FROM api_keys b WHERE b.id = k.id FOR UPDATE SKIP LOCKED);
    END IF;
    PERFORM set_config('role', 'stockroom_app', true),
            set_config('app.org_id', k.org_id::text, true);
    id := k.id;
    org_id := k.org_id;
    scopes := k.scopes;
    RETURN NEXT;
END
$$;

-- Only the functions' login role (the owner here) enters a tenant: a session already confined
-- to one organization must not be able to call its way into another.
REVOKE EXECUTE ON FUNCTION stockroom_enter_user(uuid, uuid, uuid) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION stockroom_enter_api_key(bytea) FROM PUBLIC;
