-- A login role for the functions that serve only tenant requests (products, suppliers,
-- inventory, tasks, dashboard, users): it owns nothing, cannot bypass row-level security, is
-- no member of the owner, and has no table privilege of its own (NOINHERIT). Its sessions can
-- do only what the entry functions of migration 8 allow: check a caller and switch the
-- transaction to stockroom_app confined to that caller's organization. Even `RESET ROLE`
-- inside a tenant request leaves it with nothing to read.
--
-- It is created without LOGIN: whoever operates the database gives it a password once
-- (`ALTER ROLE stockroom_api LOGIN PASSWORD '...'`, see the README). Migrations, sign-in,
-- webhooks and the scheduler still run as the owner.
DO $$
BEGIN
    CREATE ROLE stockroom_api NOLOGIN NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- the role is cluster-wide: another database (or a parallel test) made it
END
$$;
-- To switch to the tenant role (SET only: NOINHERIT gives it none of the tenant's privileges).
GRANT stockroom_app TO stockroom_api;
-- To check a caller and confine the transaction.
GRANT EXECUTE ON FUNCTION stockroom_enter_user(uuid, uuid, uuid) TO stockroom_api;
GRANT EXECUTE ON FUNCTION stockroom_enter_api_key(bytea) TO stockroom_api;
GRANT EXECUTE ON FUNCTION stockroom_api_key_org(bytea) TO stockroom_api;
