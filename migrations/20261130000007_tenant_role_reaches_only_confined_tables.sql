-- The tenant role reaches only what row-level security confines.
--
-- Migration 3 granted stockroom_app every table of the schema, including those that hold no
-- organization's rows and carry no policies: sqlx's bookkeeping, sign-in challenges, recovery
-- codes, reset tokens, rate-limit hits and the scheduler's digest marks. Tenant requests never
-- read them (sign-in, MFA, password reset, rate limits and the scheduler run before any
-- organization is known, outside the tenant role), so a tenant session has no business seeing
-- them. The test `every_relation_the_tenant_role_can_touch_is_confined` fails for any table
-- added later (default privileges grant it) without row-level security and a policy.
REVOKE ALL ON TABLE
    _sqlx_migrations,
    low_stock_digests,
    mfa_challenges,
    mfa_recovery_codes,
    password_reset_tokens,
    rate_limit_hits
FROM stockroom_app;
