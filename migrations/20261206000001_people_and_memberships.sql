-- People and memberships: a person (email, password, MFA, sessions) is global; what they may do
-- is per organization. `users` keeps the people (one row per address, as before); the new
-- `memberships` holds each person's role, permissions and standing in each organization they
-- belong to, so one person can be the owner of two shops and the bookkeeper of a third.
--
-- Expand step (docs/database.md, "Writing a migration"): `users.org_id`, `role`, `permissions`
-- and `is_active` stay, filled by a trigger from the person's first membership, so code of the
-- previous release (a rollback) still signs existing people in and lists them. No code of this
-- release reads them; a later release drops them and the trigger.

CREATE TABLE memberships (
    org_id            uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role              user_role NOT NULL DEFAULT 'user',
    -- {"products": "read", "inventory": "write", ...}; admins and owners bypass it.
    permissions       jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(permissions) = 'object'),
    is_active         boolean NOT NULL DEFAULT true,
    -- Who invited them and when; the name and address the invitation was made out to, which
    -- the organization sees until the person accepts (never the person's own account details).
    invited_by        uuid REFERENCES users (id) ON DELETE SET NULL,
    invited_at        timestamptz,
    invited_name      text CHECK (length(invited_name) BETWEEN 1 AND 200),
    invited_email     text CHECK (length(invited_email) BETWEEN 3 AND 254),
    -- NULL while the invitation is pending.
    joined_at         timestamptz,
    -- The organization a sign-in lands in is the one used last.
    last_used_at      timestamptz,
    -- When someone else made this member an owner or admin (by inviting or promoting them), and
    -- who: such a member waits out a cooling-off period before approving payments, changing
    -- bank details or the approval threshold. NULL for an organization's founder and for
    -- members who were admins before this migration.
    admin_granted_at  timestamptz,
    admin_granted_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

-- Every existing user becomes a person with one membership. A user who never chose a password
-- (an invitation still open) is an invited member; everyone else joined when they were created.
INSERT INTO memberships (org_id, user_id, role, permissions, is_active, invited_name,
                         invited_email, invited_at, joined_at, created_at, updated_at)
SELECT u.org_id, u.id, u.role, u.permissions, u.is_active,
       CASE WHEN u.password_hash IS NULL THEN u.name END,
       CASE WHEN u.password_hash IS NULL THEN u.email END,
       CASE WHEN u.password_hash IS NULL THEN u.created_at END,
       CASE WHEN u.password_hash IS NOT NULL THEN u.created_at END,
       u.created_at, u.updated_at
FROM users u;

-- The columns of the previous release, kept in step with the person's first membership.
ALTER TABLE users ALTER COLUMN org_id DROP NOT NULL;

CREATE FUNCTION stockroom_sync_legacy_user_columns() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    UPDATE public.users u
    SET org_id = NEW.org_id, role = NEW.role, permissions = NEW.permissions,
        is_active = NEW.is_active
    WHERE u.id = NEW.user_id AND (u.org_id IS NULL OR u.org_id = NEW.org_id);
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION stockroom_sync_legacy_user_columns() FROM PUBLIC;
CREATE TRIGGER memberships_sync_legacy_user_columns
    AFTER INSERT OR UPDATE OF role, permissions, is_active ON memberships
    FOR EACH ROW EXECUTE FUNCTION stockroom_sync_legacy_user_columns();

-- Which organization each session (device) is in: every token says which one it is for, and
-- `POST /api/auth/switch` moves the session to another. Sessions of the previous release are in
-- their person's only organization.
ALTER TABLE refresh_tokens ADD COLUMN org_id uuid REFERENCES organizations (id) ON DELETE CASCADE;
UPDATE refresh_tokens t SET org_id = u.org_id FROM users u WHERE u.id = t.user_id;

-- An invitation is to one organization.
ALTER TABLE user_invitations ADD COLUMN org_id uuid REFERENCES organizations (id) ON DELETE CASCADE;
UPDATE user_invitations i SET org_id = u.org_id FROM users u WHERE u.id = i.user_id;

-- ---------------------------------------------------------------------------------------------
-- The tenant role (stockroom_app): an organization's memberships, and the people who are its
-- members (one person may be a member of several organizations; each sees them).
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

DROP POLICY tenant_isolation ON users;
CREATE POLICY tenant_isolation ON users TO stockroom_app
    USING (EXISTS (SELECT 1 FROM memberships m
                   WHERE m.user_id = users.id AND m.org_id = app_org_id()))
    WITH CHECK (EXISTS (SELECT 1 FROM memberships m
                        WHERE m.user_id = users.id AND m.org_id = app_org_id()));
-- A person is shared between organizations, so no organization adds, removes or changes one:
-- people are made by signing up and accepting invitations (auth), and each changes their own
-- password and MFA there. Organizations change their memberships. (The legacy columns stay
-- writable for a rollback's code, which no code of this release reads.)
REVOKE INSERT, DELETE, UPDATE ON users FROM stockroom_app;
GRANT UPDATE (name, role, permissions, is_active, updated_at) ON users TO stockroom_app;
-- Nor does any organization read a person's credentials: a person may be a member of several,
-- and invited by any (the password hash, the sealed TOTP secret and its last step are sign-in's).
REVOKE SELECT ON users FROM stockroom_app;
GRANT SELECT (id, email, name, mfa_enabled, created_at, updated_at, org_id, role, permissions,
              is_active)
    ON users TO stockroom_app;

-- A user's access token: the person is an active, joined member of the token's organization
-- and the session the token belongs to is not signed out. Returns the membership's role and
-- granted permissions. (Same signature as migration 8's, so the previous release's code enters
-- through it too.)
CREATE OR REPLACE FUNCTION stockroom_enter_user(p_user uuid, p_org uuid, p_session uuid)
RETURNS TABLE (role user_role, permissions jsonb)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM set_config('app.org_id', p_org::text, true),
            set_config('role', 'stockroom_app', true);
    RETURN QUERY
        SELECT m.role, m.permissions FROM memberships m
        WHERE m.user_id = p_user AND m.org_id = p_org AND m.is_active
          AND m.joined_at IS NOT NULL
          AND EXISTS (SELECT 1 FROM refresh_tokens t
                      WHERE t.family_id = p_session AND t.user_id = m.user_id
                        AND t.revoked_at IS NULL);
END
$$;

-- ---------------------------------------------------------------------------------------------
-- stockroom_auth: sign-in reads every person's memberships (which organizations they may enter,
-- the one used last), registration makes the new organization's first member its owner,
-- accepting an invitation joins, and signing in or switching marks the organization used.
GRANT SELECT ON memberships TO stockroom_auth;
GRANT INSERT (org_id, user_id, role, joined_at, last_used_at) ON memberships TO stockroom_auth;
GRANT UPDATE (joined_at, last_used_at, updated_at) ON memberships TO stockroom_auth;
CREATE POLICY sign_in_reads ON memberships FOR SELECT TO stockroom_auth USING (true);
CREATE POLICY sign_in_uses ON memberships FOR UPDATE TO stockroom_auth USING (true) WITH CHECK (true);
CREATE POLICY registration_adds_the_owner ON memberships FOR INSERT TO stockroom_auth
    WITH CHECK (role = 'owner'
                AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = memberships.org_id));

-- Registration and invitations make people, not members of an organization.
DROP POLICY registration_adds_the_owner ON users;
REVOKE INSERT ON users FROM stockroom_auth;
GRANT INSERT (email, name, password_hash) ON users TO stockroom_auth;
-- Confirming a registration names the person it makes of an invited address.
GRANT UPDATE (name) ON users TO stockroom_auth;
CREATE POLICY sign_up_adds_a_person ON users FOR INSERT TO stockroom_auth
    WITH CHECK (org_id IS NULL);

-- ---------------------------------------------------------------------------------------------
-- Invitations, not accounts. An organization invites an address: the person behind it (found,
-- or made without a password if the address has no account yet) becomes an invited member, and
-- joins by accepting. Nobody chooses another's password, and no address is taken by whoever
-- invited it first: the address's owner proves it by the invitation's link, by confirming a
-- registration, or by a password reset.
--
-- The tenant cannot read people it has no member for, so the lookup runs as the owner and
-- answers only the person's id, the same way for an address with an account and one without.
CREATE FUNCTION stockroom_invite_person(p_email text, p_name text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_id uuid;
BEGIN
    IF app_org_id() IS NULL THEN
        RAISE EXCEPTION 'only a tenant request invites' USING ERRCODE = '42501';
    END IF;
    INSERT INTO public.users (email, name) VALUES (p_email, p_name)
    ON CONFLICT ((lower(email))) DO UPDATE SET email = public.users.email
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;
REVOKE EXECUTE ON FUNCTION stockroom_invite_person(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stockroom_invite_person(text, text) TO stockroom_app;

-- Invitation links belong to their organization's members.
DROP POLICY tenant_isolation ON user_invitations;
CREATE POLICY tenant_isolation ON user_invitations TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

-- Registration confirms the address before anything exists: `POST /api/auth/register` stores
-- the request (the password already hashed) and mails a link; `POST /api/auth/register/confirm`
-- with the link's token makes the organization and its owner. Answered alike for every address.
CREATE TABLE registrations (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email              text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name               text CHECK (length(name) BETWEEN 1 AND 200),
    organization_name  text CHECK (length(organization_name) BETWEEN 1 AND 200),
    default_currency   char(3) NOT NULL CHECK (default_currency ~ '^[A-Z]{3}$'),
    password_hash      text NOT NULL,
    token_hash         bytea NOT NULL UNIQUE,
    expires_at         timestamptz NOT NULL,
    used_at            timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX registrations_expires_idx ON registrations (expires_at);
-- Sign-up data of no organization: no tenant reaches it.
REVOKE ALL ON registrations FROM stockroom_app;
GRANT SELECT, INSERT ON registrations TO stockroom_auth;
GRANT UPDATE (used_at) ON registrations TO stockroom_auth;

-- Mail is sent after the answer, never while the request waits: a request queues it here (in its
-- transaction, so a mail exists if and only if its change committed), the function sends it once
-- its response has left, and the scheduler's `send_mail` sweep sends what that missed. A mail
-- whose text depends on whether the address has an account (registration, invitation, password
-- reset) carries both texts, and which one goes out (or none) is decided when it is sent, so no
-- answer tells by its content or its time whether an address has an account. Texts carry links
-- with tokens, so they are sealed with the data key, bound to the row's id.
CREATE TABLE mail_outbox (
    id                  uuid PRIMARY KEY,
    -- NULL for mail of no organization (sign-up, password reset).
    org_id              uuid REFERENCES organizations (id) ON DELETE CASCADE,
    kind                text NOT NULL CHECK (length(kind) BETWEEN 1 AND 50),
    recipient           text NOT NULL CHECK (length(recipient) BETWEEN 3 AND 254),
    -- Sent when the address has no account (NULL: nothing then).
    message             bytea,
    -- Sent instead when it has one (NULL: `message` either way).
    message_if_account  bytea,
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    -- Done: sent, skipped (nothing to send to this address) or given up; `outcome` says which.
    done_at             timestamptz,
    outcome             text CHECK (length(outcome) <= 500),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE done_at IS NULL;
CREATE INDEX mail_outbox_recipient_idx ON mail_outbox (lower(recipient), kind, done_at);

ALTER TABLE mail_outbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mail_outbox TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
-- Tenants and sign-in queue mail; only the functions below read it back.
REVOKE SELECT, UPDATE, DELETE ON mail_outbox FROM stockroom_app;
GRANT INSERT ON mail_outbox TO stockroom_auth;
CREATE POLICY sign_in_queues ON mail_outbox FOR INSERT TO stockroom_auth WITH CHECK (true);

-- Hands out mails to send: the given ones (a function's own, after its response), or with
-- NULL the due ones (the scheduler's sweep). Each mail handed out is not handed out again for
-- five minutes, so two senders never send it twice at once and one that dies leaves it to the
-- sweep. The text is chosen here: `message_if_account` when the address has an account (a
-- person with a password). Mail with no text for its address, and password-reset mail beyond
-- three an hour to one address (the earlier links still work), is marked skipped and not
-- handed out.
-- The text a mail sends: `message_if_account` when the address has an account (a person with a
-- password), else `message`.
CREATE FUNCTION stockroom_mail_message(o mail_outbox) RETURNS bytea
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT CASE WHEN o.message_if_account IS NOT NULL AND EXISTS (
                    SELECT 1 FROM public.users u
                    WHERE lower(u.email) = lower(o.recipient) AND u.password_hash IS NOT NULL)
                THEN o.message_if_account ELSE o.message END
$$;
REVOKE EXECUTE ON FUNCTION stockroom_mail_message(mail_outbox) FROM PUBLIC;

CREATE FUNCTION stockroom_mail_take(p_ids uuid[], p_limit integer)
RETURNS TABLE (id uuid, recipient text, message bytea)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT o.id FROM public.mail_outbox o
        WHERE o.done_at IS NULL AND o.next_attempt_at <= now()
          AND (p_ids IS NULL OR o.id = ANY (p_ids))
        ORDER BY o.next_attempt_at
        LIMIT coalesce(p_limit, 100)
        FOR UPDATE SKIP LOCKED
    ), chosen AS (
        SELECT o.id, public.stockroom_mail_message(o) AS message,
               o.kind = 'password_reset' AND (
                   SELECT count(*) FROM public.mail_outbox s
                   WHERE lower(s.recipient) = lower(o.recipient) AND s.kind = 'password_reset'
                     AND s.outcome = 'sent' AND s.done_at > now() - interval '1 hour') >= 3
                   AS throttled
        FROM public.mail_outbox o JOIN due ON due.id = o.id
    ), claimed AS (
        UPDATE public.mail_outbox o
        SET attempts = o.attempts + CASE WHEN c.message IS NULL OR c.throttled THEN 0 ELSE 1 END,
            next_attempt_at = now() + interval '5 minutes',
            done_at = CASE WHEN c.message IS NULL OR c.throttled THEN now() END,
            outcome = CASE WHEN c.message IS NULL THEN 'skipped: nothing to send to this address'
                           WHEN c.throttled THEN 'skipped: three reset mails this hour' END
        FROM chosen c WHERE o.id = c.id
        RETURNING o.id, o.recipient, c.message, c.throttled
    )
    SELECT c.id, c.recipient, c.message FROM claimed c
    WHERE c.message IS NOT NULL AND NOT c.throttled;
END
$$;

-- A function's own mails, after its response (any login role), and the due ones (the sweep).
CREATE FUNCTION stockroom_mail_claim(p_ids uuid[])
RETURNS TABLE (id uuid, recipient text, message bytea)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$ SELECT * FROM public.stockroom_mail_take(coalesce(p_ids, '{}'), NULL) $$;
CREATE FUNCTION stockroom_mail_claim_due(p_limit integer)
RETURNS TABLE (id uuid, recipient text, message bytea)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$ SELECT * FROM public.stockroom_mail_take(NULL, p_limit) $$;

-- Records how sending a claimed mail went: sent, or failed (tried again later, with a growing
-- pause; given up after 8 attempts).
CREATE FUNCTION stockroom_mail_done(p_id uuid, p_error text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
    UPDATE public.mail_outbox
    SET done_at = CASE WHEN p_error IS NULL OR attempts >= 8 THEN now() END,
        outcome = CASE WHEN p_error IS NULL THEN 'sent'
                       ELSE left('failed: ' || p_error, 500) END,
        next_attempt_at = now() + make_interval(mins => least(power(2, attempts)::int, 240))
    WHERE id = p_id AND done_at IS NULL
$$;

REVOKE EXECUTE ON FUNCTION stockroom_mail_take(uuid[], integer), stockroom_mail_claim(uuid[]),
    stockroom_mail_claim_due(integer), stockroom_mail_done(uuid, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stockroom_mail_claim(uuid[]), stockroom_mail_done(uuid, text)
TO stockroom_api, stockroom_auth, stockroom_worker;
GRANT EXECUTE ON FUNCTION stockroom_mail_claim_due(integer) TO stockroom_worker;

-- ---------------------------------------------------------------------------------------------
-- A step-up token is good for one request, once: a request that succeeds with it records its
-- id here in its own transaction (a failed request leaves it usable for a retry). Kept until the
-- token expires; the clean-up job deletes them after.
CREATE TABLE step_up_uses (
    jti         uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX step_up_uses_expires_idx ON step_up_uses (expires_at);
ALTER TABLE step_up_uses ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON step_up_uses TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
-- Setting up MFA is the one step-up action of the auth function.
GRANT INSERT ON step_up_uses TO stockroom_auth;
CREATE POLICY sign_in_steps_up ON step_up_uses FOR INSERT TO stockroom_auth WITH CHECK (true);

-- ---------------------------------------------------------------------------------------------
-- The clean-up job also deletes sign-up requests past their time, mail sent (or given up) a
-- month ago, used step-up tokens once expired, and the people made for invitations that nobody
-- accepted (no password, no membership left) after a week.
CREATE OR REPLACE FUNCTION stockroom_delete_expired(p_batch integer) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    counts jsonb := '{}';
    n bigint;
BEGIN
    IF p_batch IS NULL OR p_batch < 1 THEN
        RAISE EXCEPTION 'p_batch must be at least 1' USING ERRCODE = '22023';
    END IF;
    -- Rotated refresh tokens are kept until they expire: reuse detection needs them.
    DELETE FROM refresh_tokens WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM refresh_tokens WHERE expires_at < now() LIMIT p_batch));
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('refresh_tokens', n);
    DELETE FROM password_reset_tokens WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM password_reset_tokens WHERE expires_at < now() LIMIT p_batch));
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('password_reset_tokens', n);
    DELETE FROM mfa_challenges WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM mfa_challenges WHERE expires_at < now() LIMIT p_batch));
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('mfa_challenges', n);
    DELETE FROM user_invitations WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM user_invitations WHERE expires_at < now() LIMIT p_batch));
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('user_invitations', n);
    DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM idempotency_keys WHERE expires_at < now() LIMIT p_batch));
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('idempotency_keys', n);
    DELETE FROM rate_limit_hits WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM rate_limit_hits WHERE hit_at < now() - interval '1 hour' LIMIT p_batch));
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('rate_limit_hits', n);
    -- Wise stops redelivering long before a month; the state ordering ignores any later repeat.
    DELETE FROM wise_webhook_deliveries WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM wise_webhook_deliveries
        WHERE received_at < now() - interval '30 days' LIMIT p_batch));
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('wise_webhook_deliveries', n);
    DELETE FROM registrations WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM registrations WHERE expires_at < now() LIMIT p_batch));
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('registrations', n);
    DELETE FROM mail_outbox WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM mail_outbox WHERE done_at < now() - interval '30 days' LIMIT p_batch));
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('mail_outbox', n);
    DELETE FROM step_up_uses WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM step_up_uses WHERE expires_at < now() LIMIT p_batch));
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('step_up_uses', n);
    DELETE FROM trusted_devices WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM trusted_devices WHERE expires_at < now() LIMIT p_batch));
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('trusted_devices', n);
    DELETE FROM users WHERE ctid = ANY (ARRAY(
        SELECT u.ctid FROM users u
        WHERE u.password_hash IS NULL AND u.created_at < now() - interval '7 days'
          AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id)
        LIMIT p_batch));
    GET DIAGNOSTICS n = ROW_COUNT; counts := counts || jsonb_build_object('people_never_joined', n);
    RETURN counts;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- A second person is a second person.
--
-- An approval binds the payment details it approved: the SHA-256 of the supplier's sealed
-- details when it was asked for. Paying re-checks it with the supplier's row locked (FOR SHARE),
-- so details changed meanwhile refuse the payment instead of sending money to them. (Approvals
-- of the previous release carry none and are asked for again.)
ALTER TABLE payment_approvals ADD COLUMN payee_digest bytea;

-- Loosening the payment policy (raising the threshold, turning approvals off, another currency)
-- needs a second owner when the organization has one: it waits here until another owner
-- approves it. At most one waits per organization.
CREATE TABLE payment_policy_changes (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id              uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    status              payment_approval_status NOT NULL DEFAULT 'pending',
    approval_threshold  numeric(14, 2) CHECK (approval_threshold >= 0),
    approval_currency   char(3) CHECK (approval_currency ~ '^[A-Z]{3}$'),
    requested_by        uuid NOT NULL REFERENCES users (id),
    requested_at        timestamptz NOT NULL DEFAULT now(),
    decided_by          uuid REFERENCES users (id),
    decided_at          timestamptz,
    CHECK ((approval_threshold IS NULL) = (approval_currency IS NULL)),
    CHECK ((status = 'pending') = (decided_at IS NULL)),
    CHECK (status <> 'approved' OR decided_by <> requested_by)
);
CREATE UNIQUE INDEX payment_policy_changes_one_pending
    ON payment_policy_changes (org_id) WHERE status = 'pending';
ALTER TABLE payment_policy_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON payment_policy_changes TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
REVOKE DELETE ON payment_policy_changes FROM stockroom_app;

-- ---------------------------------------------------------------------------------------------
-- Sign-in nobody can lock: a device that has signed in to an account before holds a device
-- token for it (OWASP's "device cookies"). Correct credentials from such a device are never
-- refused by the failures others caused; its own failures are counted on it. Only unknown
-- devices share the account's failure limit. Stored as SHA-256 hashes, like every token.
CREATE TABLE trusted_devices (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash    bytea NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX trusted_devices_user_idx ON trusted_devices (user_id);
CREATE INDEX trusted_devices_expires_idx ON trusted_devices (expires_at);
-- Sign-in's alone: no organization's data, no tenant reaches it.
REVOKE ALL ON trusted_devices FROM stockroom_app;
GRANT SELECT, INSERT ON trusted_devices TO stockroom_auth;
GRANT UPDATE (last_used_at, expires_at) ON trusted_devices TO stockroom_auth;

-- The MFA step remembers the device the password step came from.
ALTER TABLE mfa_challenges ADD COLUMN device_id uuid REFERENCES trusted_devices (id) ON DELETE SET NULL;

-- ---------------------------------------------------------------------------------------------
-- Least privilege. Functions that run as the tables' owner (SECURITY DEFINER), and the entry
-- functions, search pg_temp last: by default it is searched first, so a login role's temporary
-- table could stand in for a table inside them (a `purchase_order_payments` of its own making
-- would answer stockroom_wise_transfer_org). And the login roles create no temporary tables at
-- all: TEMPORARY on the database is taken from PUBLIC (the owner keeps it as the owner).
ALTER FUNCTION stockroom_api_key_org(bytea) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION create_default_location() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION stockroom_orgs_with_expired_reservations()
    SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION stockroom_orgs_with_reorder_points() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION stockroom_wise_transfer_org(bigint, bigint)
    SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION stockroom_wise_profile_known(bigint) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION stockroom_enter_user(uuid, uuid, uuid) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION stockroom_enter_api_key(bytea) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION stockroom_enter_org(uuid) SET search_path = pg_catalog, public, pg_temp;
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
