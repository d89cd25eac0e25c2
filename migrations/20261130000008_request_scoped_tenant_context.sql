-- The tenant context lives in the request's transaction, so a transaction pooler (RDS Proxy,
-- PgBouncer in transaction mode) can hand the server connection to someone else as soon as the
-- request commits, and nothing of the request survives on it.
--
-- A tenant request's first round trip is one simple-protocol message:
--     BEGIN; SELECT * FROM stockroom_enter_user('<user>', '<org>', '<session>');
-- (or stockroom_enter_api_key(decode('<hex>', 'hex'))). The function switches the rest of the
-- transaction to the role `stockroom_app` with `app.org_id` set, both transaction-local
-- (`set_config(..., true)`, i.e. SET LOCAL: COMMIT or ROLLBACK ends them), and checks the
-- credentials; a caller who does not pass gets no row and the transaction is rolled back. The statement text is the function's name and literals (UUIDs, a hex
-- hash), so it needs no prepared statement, and the checks are validated when this migration
-- creates them instead of being built as strings at run time.

-- Both are PL/pgSQL, whose statements are planned once per session and then reused; a SQL
-- function that is not inlined has its body planned again on every call before PostgreSQL 18.

-- A user's access token: the user is active in the token's organization and the session the
-- token belongs to is not signed out. Returns the role and granted permissions. The
-- transaction is confined to the token's organization (signed, so it can be trusted for
-- that) before the check, which then runs as the tenant role under row-level security: the
-- login role needs no privilege of its own on any table. A refused caller's transaction is
-- rolled back.
CREATE FUNCTION stockroom_enter_user(p_user uuid, p_org uuid, p_session uuid)
RETURNS TABLE (role user_role, permissions jsonb)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM set_config('app.org_id', p_org::text, true),
            set_config('role', 'stockroom_app', true);
    RETURN QUERY
        SELECT u.role, u.permissions FROM users u
        WHERE u.id = p_user AND u.org_id = p_org AND u.is_active
          AND EXISTS (SELECT 1 FROM refresh_tokens t
                      WHERE t.family_id = p_session AND t.user_id = u.id
                        AND t.revoked_at IS NULL);
END
$$;

-- The organization of a live API key, by the SHA-256 of its text (bytes). This is the one
-- lookup a tenant request makes before any organization is known, so it runs as the tables'
-- owner (SECURITY DEFINER) and answers nothing but the organization's id; only the login
-- roles may call it, and it finds nothing without the key itself.
CREATE FUNCTION stockroom_api_key_org(p_key_hash bytea)
RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    RETURN (SELECT a.org_id FROM public.api_keys a
            WHERE a.key_hash = p_key_hash AND a.revoked_at IS NULL
              AND (a.expires_at IS NULL OR a.expires_at > now()));
END
$$;

-- An API key: found through stockroom_api_key_org, then read and touched as the tenant role
-- in its organization. `last_used_at` is written at most once a minute, so busy integrations
-- do not turn every read into a write.
CREATE FUNCTION stockroom_enter_api_key(p_key_hash bytea)
RETURNS TABLE (id uuid, org_id uuid, scopes jsonb)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_org uuid := stockroom_api_key_org(p_key_hash);
    k api_keys%ROWTYPE;
BEGIN
    IF v_org IS NULL THEN
        RETURN;
    END IF;
    PERFORM set_config('app.org_id', v_org::text, true),
            set_config('role', 'stockroom_app', true);
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
    id := k.id;
    org_id := k.org_id;
    scopes := k.scopes;
    RETURN NEXT;
END
$$;

-- Only the functions' login roles enter a tenant: the owner (which may call any of its
-- functions) and stockroom_api (migration 9). A session already confined to one organization
-- (stockroom_app) cannot call them.
REVOKE EXECUTE ON FUNCTION stockroom_enter_user(uuid, uuid, uuid) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION stockroom_enter_api_key(bytea) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION stockroom_api_key_org(bytea) FROM PUBLIC;
