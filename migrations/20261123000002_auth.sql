-- Sessions, MFA, password resets, brute-force counters and the audit log.

ALTER TABLE users
    ADD COLUMN mfa_enabled    boolean NOT NULL DEFAULT false,
    -- AES-256-GCM sealed TOTP secret; set by mfa/setup, active once mfa_enabled.
    ADD COLUMN mfa_secret     bytea,
    -- Last accepted TOTP time step: a code is never accepted twice.
    ADD COLUMN mfa_last_step  bigint;

-- Opaque refresh tokens, stored as SHA-256 hashes. One login starts a family; every refresh
-- rotates within it. Presenting a rotated token revokes the whole family.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Second step of a login with MFA: a short-lived single-use token.
CREATE TABLE mfa_challenges (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mfa_challenges_expires_idx ON mfa_challenges (expires_at);

CREATE TABLE mfa_recovery_codes (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   bytea NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, code_hash)
);

CREATE TABLE password_reset_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_reset_tokens_expires_idx ON password_reset_tokens (expires_at);

-- One row per attempt on a limited endpoint; a key is e.g. "login:ip:203.0.113.7".
-- Kept in Postgres so the limit holds across Lambda execution environments.
CREATE TABLE rate_limit_hits (
    key     text NOT NULL,
    hit_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX rate_limit_hits_key_idx ON rate_limit_hits (key, hit_at);

-- Every change, written in the same transaction as the change. Append-only.
CREATE TABLE audit_log (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL only for events that belong to no known organization.
    org_id            uuid REFERENCES organizations (id),
    actor_user_id     uuid,
    actor_api_key_id  uuid,
    action            text NOT NULL,
    entity            text NOT NULL,
    entity_id         uuid,
    before            jsonb,
    after             jsonb,
    request_id        text,
    ip                text,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_org_created_idx ON audit_log (org_id, created_at DESC, id DESC);
CREATE INDEX audit_log_entity_idx ON audit_log (org_id, entity, entity_id);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
