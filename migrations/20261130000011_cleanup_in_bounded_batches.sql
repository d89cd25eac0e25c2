-- The clean-up job deletes in bounded batches: each call deletes at most p_batch rows of each
-- kind and says how many, and the scheduler calls again, each call its own short transaction,
-- until a call finds less than a batch of every kind. A backlog (a job that did not run for a
-- week, a burst of rate-limit hits) then never becomes one long transaction holding locks and
-- growing the WAL while sign-in writes to the same tables.
DROP FUNCTION stockroom_delete_expired();

CREATE FUNCTION stockroom_delete_expired(p_batch integer) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
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
    RETURN counts;
END
$$;

REVOKE EXECUTE ON FUNCTION stockroom_delete_expired(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stockroom_delete_expired(integer) TO stockroom_worker;
