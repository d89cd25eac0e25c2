-- Organization administration: invitations, API keys, and row-level security as a second wall
-- behind the org_id filter every query carries.

CREATE TABLE user_invitations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_invitations_expires_idx ON user_invitations (expires_at);

-- A key acts for its organization with its scopes only ({"products": "read", ...}).
CREATE TABLE api_keys (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL REFERENCES organizations (id),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- The first characters of the key, shown in lists so a key can be recognised.
    prefix        text NOT NULL,
    key_hash      bytea NOT NULL UNIQUE,
    scopes        jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(scopes) = 'object'),
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    created_by    uuid REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_org_idx ON api_keys (org_id, created_at DESC);

-- Row-level security. Requests made for a tenant run as the role stockroom_app with
-- app.org_id set (see shared::auth::caller); as that role a query sees and writes only its
-- organization's rows even if it forgot its org_id filter. The migrating/login role owns the
-- tables and is not subject to the policies (sign-in looks users up before any org is known).
DO $$
BEGIN
    CREATE ROLE stockroom_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- the role is cluster-wide: another database (or a parallel test) made it
END
$$;
DO $$
BEGIN
    -- Superusers may already act as any role; others (e.g. the RDS master user) need membership.
    IF NOT pg_has_role(current_user, 'stockroom_app', 'MEMBER') THEN
        EXECUTE format('GRANT stockroom_app TO %I', current_user);
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO stockroom_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO stockroom_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO stockroom_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO stockroom_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO stockroom_app;

-- The organization of the current tenant request.
CREATE FUNCTION app_org_id() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('app.org_id', true), '')::uuid
$$;

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON organizations TO stockroom_app
    USING (id = app_org_id()) WITH CHECK (id = app_org_id());

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

-- Tables keyed by user: visible through their user's organization.
ALTER TABLE user_invitations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_invitations TO stockroom_app
    USING (EXISTS (SELECT 1 FROM users u WHERE u.id = user_id));
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refresh_tokens TO stockroom_app
    USING (EXISTS (SELECT 1 FROM users u WHERE u.id = user_id));
