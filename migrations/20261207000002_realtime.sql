-- Realtime: the WebSocket connections that committed events are pushed to.
--
-- A connection belongs to one member's session in one organization. It lives as long as that
-- session does there: a logout (the session's tokens revoked), a switch to another organization
-- (the session's live token is then another organization's) or the member's deactivation ends
-- it, and the dispatcher closes it instead of pushing the next event to it. API Gateway closes
-- a connection after 2 hours anyway; a row whose $disconnect never came is forgotten after that.
--
-- The connections are not tenant data: no tenant reads or writes them. The realtime function
-- (the tenant login) reaches them through the functions below, which check the session first;
-- the dispatcher (the worker login) reads an organization's audience and forgets the ended.

CREATE TABLE realtime_connections (
    -- API Gateway's connectionId.
    connection_id text PRIMARY KEY CHECK (length(connection_id) BETWEEN 1 AND 128),
    org_id        uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The session (refresh-token family) of the access token the connection was opened with.
    session_id    uuid NOT NULL,
    -- What the client subscribed to: event types, `<object>.*` or `*` (none: nothing is sent).
    event_types   text[] NOT NULL DEFAULT '{}' CHECK (cardinality(event_types) <= 50),
    connected_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX realtime_connections_org_idx ON realtime_connections (org_id, user_id);
CREATE INDEX realtime_connections_connected_idx ON realtime_connections (connected_at);
ALTER TABLE realtime_connections ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON realtime_connections FROM PUBLIC, stockroom_app;

-- Whether member `p_user`'s session `p_session` is live in `p_org`: the member is active, and
-- the session's live refresh token (not rotated, revoked or expired) is that organization's.
CREATE FUNCTION stockroom_session_live_in(p_user uuid, p_org uuid, p_session uuid)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1 FROM public.memberships m
        JOIN public.refresh_tokens t ON t.user_id = m.user_id AND t.org_id = m.org_id
        WHERE m.user_id = p_user AND m.org_id = p_org AND m.is_active
          AND m.joined_at IS NOT NULL
          AND t.family_id = p_session AND t.rotated_at IS NULL AND t.revoked_at IS NULL
          AND t.expires_at > now())
$$;
REVOKE EXECUTE ON FUNCTION stockroom_session_live_in(uuid, uuid, uuid) FROM PUBLIC;

-- $connect: records the connection of a verified access token's holder if their session is
-- live in the token's organization and the member has fewer than 20 connections there (tabs,
-- devices); `connected`, `session_ended` or `too_many_connections`.
CREATE FUNCTION stockroom_realtime_connect(p_connection text, p_user uuid, p_org uuid,
                                           p_session uuid, p_types text[])
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF NOT public.stockroom_session_live_in(p_user, p_org, p_session) THEN
        RETURN 'session_ended';
    END IF;
    IF (SELECT count(*) FROM public.realtime_connections
        WHERE user_id = p_user AND org_id = p_org AND connection_id <> p_connection) >= 20 THEN
        RETURN 'too_many_connections';
    END IF;
    INSERT INTO public.realtime_connections (connection_id, org_id, user_id, session_id, event_types)
    VALUES (p_connection, p_org, p_user, p_session, p_types)
    ON CONFLICT (connection_id) DO UPDATE
        SET org_id = excluded.org_id, user_id = excluded.user_id,
            session_id = excluded.session_id, event_types = excluded.event_types;
    RETURN 'connected';
END
$$;

-- A message: the connection's new subscription, if the connection is still known and its
-- session live (else it is forgotten); whether it was.
CREATE FUNCTION stockroom_realtime_subscribe(p_connection text, p_types text[])
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    c public.realtime_connections;
BEGIN
    SELECT * INTO c FROM public.realtime_connections WHERE connection_id = p_connection
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF NOT public.stockroom_session_live_in(c.user_id, c.org_id, c.session_id) THEN
        DELETE FROM public.realtime_connections WHERE connection_id = p_connection;
        RETURN false;
    END IF;
    UPDATE public.realtime_connections SET event_types = p_types
    WHERE connection_id = p_connection;
    RETURN true;
END
$$;

-- $disconnect.
CREATE FUNCTION stockroom_realtime_disconnect(p_connection text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
    DELETE FROM public.realtime_connections WHERE connection_id = p_connection
$$;

REVOKE EXECUTE ON FUNCTION stockroom_realtime_connect(text, uuid, uuid, uuid, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION stockroom_realtime_subscribe(text, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION stockroom_realtime_disconnect(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stockroom_realtime_connect(text, uuid, uuid, uuid, text[]) TO stockroom_api;
GRANT EXECUTE ON FUNCTION stockroom_realtime_subscribe(text, text[]) TO stockroom_api;
GRANT EXECUTE ON FUNCTION stockroom_realtime_disconnect(text) TO stockroom_api;

-- An organization's connections with a subscription, each with its member's role and grants
-- now and whether its session is still live there (the dispatcher closes those that are not).
CREATE FUNCTION stockroom_realtime_audience(p_org uuid)
RETURNS TABLE (connection_id text, user_id uuid, role user_role, permissions jsonb,
               event_types text[], live boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT c.connection_id, c.user_id, m.role, m.permissions, c.event_types,
           m.role IS NOT NULL
           AND public.stockroom_session_live_in(c.user_id, c.org_id, c.session_id)
    FROM public.realtime_connections c
    LEFT JOIN public.memberships m ON m.user_id = c.user_id AND m.org_id = c.org_id
    WHERE c.org_id = p_org AND cardinality(c.event_types) > 0
$$;

-- Every organization's connections whose session has ended (at most `p_limit`), for the
-- scheduler to close; and forgets rows older than API Gateway's 2-hour limit, which it has
-- closed already.
CREATE FUNCTION stockroom_realtime_ended(p_limit integer) RETURNS SETOF text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    DELETE FROM public.realtime_connections WHERE connected_at < now() - interval '2 hours 5 minutes';
    RETURN QUERY
        SELECT c.connection_id FROM public.realtime_connections c
        WHERE NOT public.stockroom_session_live_in(c.user_id, c.org_id, c.session_id)
        ORDER BY c.connected_at
        LIMIT p_limit;
END
$$;

-- Connections closed (or found gone) by the dispatcher.
CREATE FUNCTION stockroom_realtime_forget(p_connections text[]) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
    DELETE FROM public.realtime_connections WHERE connection_id = ANY(p_connections)
$$;

REVOKE EXECUTE ON FUNCTION stockroom_realtime_audience(uuid) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION stockroom_realtime_ended(integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION stockroom_realtime_forget(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stockroom_realtime_audience(uuid) TO stockroom_worker;
GRANT EXECUTE ON FUNCTION stockroom_realtime_ended(integer) TO stockroom_worker;
GRANT EXECUTE ON FUNCTION stockroom_realtime_forget(text[]) TO stockroom_worker;
