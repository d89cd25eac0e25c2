-- Login roles for what runs before an organization is known: stockroom_auth (the auth
-- function: sign-in, refresh, MFA, password reset, invitations, registration) and
-- stockroom_worker (the scheduler's jobs and Wise's webhooks). With migration 9's
-- stockroom_api, no function logs in as the tables' owner any more; only migrate does.
--
-- What each role may do is listed below, grant by grant, with the reason. Neither owns
-- anything, neither can bypass row-level security, neither is a member of the owner; a table
-- with row-level security is reached only through a policy written for the role.
--
-- A note on all three login roles: being members of stockroom_app (with SET), stockroom_api
-- and stockroom_worker could set `role` and `app.org_id` themselves instead of through the
-- entry functions. Row-level security is what keeps one organization's request from another's
-- rows when the code is right but a query forgets its filter; the entry functions are how the
-- code picks the organization, not a wall against SQL sent by whoever holds the password.
-- Against that, these roles guarantee that no function's password opens the schema itself
-- (DDL, row-level security, sqlx's bookkeeping, every organization's secrets at once).

DO $$
BEGIN
    CREATE ROLE stockroom_auth NOLOGIN NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- the role is cluster-wide: another database (or a parallel test) made it
END
$$;
DO $$
BEGIN
    CREATE ROLE stockroom_worker NOLOGIN NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
GRANT USAGE ON SCHEMA public TO stockroom_auth, stockroom_worker;

-- ---------------------------------------------------------------------------------------------
-- stockroom_auth
--
-- Sign-in finds a user by email, and refresh, MFA, reset and invitation links find theirs by a
-- token's hash: all before any organization is known. So auth reads the credential tables
-- across organizations, and writes only the columns sign-in changes. It reads no product,
-- stock, supplier, order, payment, API key or audit entry.

-- Users: found by email or id; a password, the MFA secret and its last step are all auth
-- writes (role, email, organization and activity are the users function's, as a tenant).
-- Registration inserts an organization's first user, its owner, and nothing else.
GRANT SELECT ON users TO stockroom_auth;
GRANT INSERT (org_id, email, name, password_hash, role) ON users TO stockroom_auth;
GRANT UPDATE (password_hash, mfa_secret, mfa_enabled, mfa_last_step, updated_at)
    ON users TO stockroom_auth;
CREATE POLICY sign_in_reads ON users FOR SELECT TO stockroom_auth USING (true);
CREATE POLICY sign_in_updates ON users FOR UPDATE TO stockroom_auth USING (true) WITH CHECK (true);
CREATE POLICY registration_adds_the_owner ON users FOR INSERT TO stockroom_auth
    WITH CHECK (role = 'owner'
                AND NOT EXISTS (SELECT 1 FROM users u WHERE u.org_id = users.org_id));

-- Organizations: registration creates one (its default location comes from the trigger, which
-- runs as the owner below); `GET /api/auth/me` shows the caller's name and currency.
GRANT SELECT ON organizations TO stockroom_auth;
GRANT INSERT (name, default_currency) ON organizations TO stockroom_auth;
CREATE POLICY sign_in_reads ON organizations FOR SELECT TO stockroom_auth USING (true);
CREATE POLICY registration_creates ON organizations FOR INSERT TO stockroom_auth WITH CHECK (true);
-- The trigger writes a tenant's first location; the role that registers writes no tenant data.
ALTER FUNCTION create_default_location() SECURITY DEFINER SET search_path = pg_catalog, public;

-- Sessions (refresh tokens): issued at sign-in, found by hash on refresh, rotated, revoked.
GRANT SELECT, INSERT ON refresh_tokens TO stockroom_auth;
GRANT UPDATE (rotated_at, revoked_at) ON refresh_tokens TO stockroom_auth;
CREATE POLICY sign_in_sessions ON refresh_tokens TO stockroom_auth USING (true) WITH CHECK (true);

-- The MFA step of sign-in, recovery codes, reset links and invitation links: found by hash,
-- spent once. Challenges, codes and reset tokens hold no organization's data and carry no
-- row-level security (no tenant role reaches them, migration 7); invitations do.
GRANT SELECT, INSERT ON mfa_challenges TO stockroom_auth;
GRANT UPDATE (used_at) ON mfa_challenges TO stockroom_auth;
GRANT SELECT, INSERT, DELETE ON mfa_recovery_codes TO stockroom_auth;
GRANT UPDATE (used_at) ON mfa_recovery_codes TO stockroom_auth;
GRANT SELECT, INSERT ON password_reset_tokens TO stockroom_auth;
GRANT UPDATE (used_at) ON password_reset_tokens TO stockroom_auth;
GRANT SELECT ON user_invitations TO stockroom_auth;
GRANT UPDATE (used_at) ON user_invitations TO stockroom_auth;
CREATE POLICY sign_in_accepts ON user_invitations TO stockroom_auth USING (true) WITH CHECK (true);

-- Attempts counted per client and account, across execution environments.
GRANT SELECT, INSERT ON rate_limit_hits TO stockroom_auth;

-- Every sign-in event is audited; the log is append-only and auth never reads it.
GRANT INSERT ON audit_log TO stockroom_auth;
CREATE POLICY sign_in_audits ON audit_log FOR INSERT TO stockroom_auth WITH CHECK (true);

-- ---------------------------------------------------------------------------------------------
-- stockroom_worker
--
-- The scheduler and the webhooks act for one organization at a time, as its tenant
-- (stockroom_app, under row-level security, entered with stockroom_enter_org). What they must
-- see across organizations (which organizations have work, which one made a Wise transfer,
-- what has expired) they learn from the SECURITY DEFINER functions below, each of which
-- answers that one question or does that one deletion.
GRANT stockroom_app TO stockroom_worker;

-- Confines the rest of the transaction to one organization as the tenant role, as the entry
-- functions of migration 8 do for a checked caller. NULL enters nothing.
CREATE FUNCTION stockroom_enter_org(p_org uuid) RETURNS uuid
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF p_org IS NOT NULL THEN
        PERFORM set_config('app.org_id', p_org::text, true),
                set_config('role', 'stockroom_app', true);
    END IF;
    RETURN p_org;
END
$$;

-- The organizations with a reservation past its deadline (the expiry sweep's work list).
CREATE FUNCTION stockroom_orgs_with_expired_reservations() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT DISTINCT org_id FROM reservations WHERE status = 'active' AND expires_at <= now()
$$;

-- The organizations with an active product that has a reorder point (the digest's work list).
CREATE FUNCTION stockroom_orgs_with_reorder_points() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT DISTINCT org_id FROM products WHERE is_active AND reorder_point > 0
$$;

-- The organization whose purchase order made a Wise transfer (of that profile, when given).
CREATE FUNCTION stockroom_wise_transfer_org(p_transfer bigint, p_profile bigint) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT org_id FROM purchase_order_payments
    WHERE wise_transfer_id = p_transfer AND (p_profile IS NULL OR wise_profile_id = p_profile)
    ORDER BY updated_at DESC LIMIT 1
$$;

-- The clean-up job: deletes what is past its time and says how many rows of each kind.
-- Rotated refresh tokens are kept until they expire (reuse detection needs them); Wise stops
-- redelivering long before a month, and the state ordering ignores any later repeat.
CREATE FUNCTION stockroom_delete_expired() RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    counts jsonb := '{}';
    n bigint;
BEGIN
    DELETE FROM refresh_tokens WHERE expires_at < now();
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('refresh_tokens', n);
    DELETE FROM password_reset_tokens WHERE expires_at < now();
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('password_reset_tokens', n);
    DELETE FROM mfa_challenges WHERE expires_at < now();
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('mfa_challenges', n);
    DELETE FROM user_invitations WHERE expires_at < now();
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('user_invitations', n);
    DELETE FROM idempotency_keys WHERE expires_at < now();
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('idempotency_keys', n);
    DELETE FROM rate_limit_hits WHERE hit_at < now() - interval '1 hour';
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('rate_limit_hits', n);
    DELETE FROM wise_webhook_deliveries WHERE received_at < now() - interval '30 days';
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('wise_webhook_deliveries', n);
    RETURN counts;
END
$$;

REVOKE EXECUTE ON FUNCTION stockroom_enter_org(uuid), stockroom_orgs_with_expired_reservations(),
    stockroom_orgs_with_reorder_points(), stockroom_wise_transfer_org(bigint, bigint),
    stockroom_delete_expired()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stockroom_enter_org(uuid), stockroom_orgs_with_expired_reservations(),
    stockroom_orgs_with_reorder_points(), stockroom_wise_transfer_org(bigint, bigint),
    stockroom_delete_expired()
TO stockroom_worker;

-- Webhook deliveries are recorded by Wise's delivery id before the transfer's organization is
-- looked up, so a repeat is answered without being processed again (the insert's RETURNING
-- needs SELECT). Delivery ids and event types are Wise's, not an organization's.
GRANT SELECT, INSERT ON wise_webhook_deliveries TO stockroom_worker;
CREATE POLICY webhooks_record ON wise_webhook_deliveries TO stockroom_worker
    USING (true) WITH CHECK (true);

-- The digest's once-a-day mark is now claimed inside the organization it belongs to, as the
-- tenant, so it is confined like every other table the tenant role reaches.
ALTER TABLE low_stock_digests ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON low_stock_digests TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
GRANT SELECT, INSERT ON low_stock_digests TO stockroom_app;
