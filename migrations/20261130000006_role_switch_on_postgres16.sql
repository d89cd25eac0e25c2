-- The tenant role switch on PostgreSQL 16 and later, where the migrating role is an RDS/Aurora
-- style master (LOGIN CREATEROLE CREATEDB, not a superuser).
--
-- Since PostgreSQL 16 a CREATEROLE user that creates a role is given an ADMIN-only membership
-- in it (no SET, no INHERIT). `pg_has_role(..., 'MEMBER')` is then true, so the membership
-- check of migration 3 skipped its GRANT, and `set_config('role', 'stockroom_app', false)` was
-- refused with "permission denied to set role". What the switch needs is the SET option; it is
-- granted without INHERIT, because the owner needs none of the tenant role's privileges.
-- Superusers pass `pg_has_role` for every role, so a local superuser run changes nothing; on
-- PostgreSQL 15 and older migration 3's plain GRANT already allows SET.
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 160000
       AND NOT pg_has_role(current_user, 'stockroom_app', 'SET') THEN
        EXECUTE format('GRANT stockroom_app TO %I WITH INHERIT FALSE, SET TRUE', current_user);
    END IF;
END
$$;
