-- Events: what changed, for tenants' webhooks, the event list and realtime updates.
--
-- An event is written by the database in the transaction that makes its change, so it exists
-- if and only if the change committed, whatever code path made it:
--   * every audited action a client cares about becomes an event (a trigger on audit_log; the
--     SQL function that expires reservations audits too, so its expiries are events as well);
--   * every line of the stock ledger is a `stock.changed` with the level it left (a trigger on
--     stock_movements);
--   * a product whose stock available everywhere falls below its reorder point is a
--     `stock.low`, once per crossing (triggers on stock_levels and on products keep the set of
--     products that are low).
-- Nothing here costs the request a statement: the work is in triggers.
--
-- The request's id and idempotency key come from the transaction's settings
-- `stockroom.request_id` and `stockroom.idempotency_key` (set by the API, when there is one),
-- else from the audit row. The trigger functions are SECURITY DEFINER: whichever login role
-- made the change, the event is the owner's to write (a tenant only reads them).

CREATE TABLE events (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The order events were written in: the event list's cursor and the dispatcher's queue.
    seq                 bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    org_id              uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    type                text NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
    -- Who may read it: a module's name (products, inventory, purchasing, suppliers, tasks) or
    -- `members` (owners and admins).
    module              text NOT NULL,
    -- A task's event: the person whose task it is (they see it without a module grant).
    owner_id            uuid,
    object              jsonb NOT NULL,
    previous_attributes jsonb,
    request_id          text,
    idempotency_key     text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- When the dispatcher turned it into webhook deliveries (NULL: not yet).
    dispatched_at       timestamptz
);
-- Every write pays for these: the list's (by organization, newest first; a type filter reads
-- it too), and the dispatcher's queue. Clean-up walks `seq`, which follows `created_at`.
CREATE INDEX events_org_seq_idx ON events (org_id, seq DESC);
CREATE INDEX events_undispatched_idx ON events (seq) WHERE dispatched_at IS NULL;

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON events TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
-- Written by the triggers below (as the owner) only; a tenant reads them, and the dispatcher
-- marks them handed over.
REVOKE INSERT, UPDATE, DELETE ON events FROM stockroom_app;
GRANT UPDATE (dispatched_at) ON events TO stockroom_app;

-- The event type an audited action is, or NULL when clients are not told of it (sign-ins,
-- keys, settings). Conditions read the row before and after the change.
CREATE FUNCTION stockroom_event_type(p_action text, p_before jsonb, p_after jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog
AS $$
    SELECT CASE p_action
        WHEN 'product_created' THEN 'product.created'
        WHEN 'product_updated' THEN 'product.updated'
        WHEN 'product_deleted' THEN 'product.deleted'
        WHEN 'reservation_created' THEN 'reservation.created'
        WHEN 'reservation_confirmed' THEN 'reservation.fulfilled'
        WHEN 'reservation_cancelled' THEN 'reservation.released'
        WHEN 'reservation_expired' THEN 'reservation.expired'
        WHEN 'supplier_created' THEN 'supplier.created'
        WHEN 'supplier_updated' THEN 'supplier.updated'
        WHEN 'supplier_deactivated' THEN 'supplier.deactivated'
        WHEN 'supplier_reactivated' THEN 'supplier.reactivated'
        WHEN 'purchase_order_created' THEN 'purchase_order.created'
        WHEN 'purchase_order_updated' THEN 'purchase_order.updated'
        WHEN 'purchase_order_submitted' THEN 'purchase_order.submitted'
        WHEN 'purchase_order_cancelled' THEN 'purchase_order.cancelled'
        WHEN 'purchase_order_received' THEN
            CASE p_after ->> 'status' WHEN 'received' THEN 'purchase_order.received'
                                      ELSE 'purchase_order.partially_received' END
        WHEN 'purchase_order_payment_started' THEN 'payment.pending'
        WHEN 'purchase_order_payment_pending' THEN 'payment.pending'
        WHEN 'purchase_order_payment_processing' THEN 'payment.processing'
        WHEN 'purchase_order_payment_paid' THEN 'payment.paid'
        WHEN 'purchase_order_payment_failed' THEN 'payment.failed'
        WHEN 'purchase_order_payment_cancelled' THEN 'payment.cancelled'
        WHEN 'purchase_order_payment_approval_requested' THEN 'payment.approval_requested'
        WHEN 'purchase_order_payment_approval_approved' THEN 'payment.approved'
        WHEN 'purchase_order_payment_approval_rejected' THEN 'payment.rejected'
        WHEN 'purchase_order_payment_approval_cancelled' THEN 'payment.approval_cancelled'
        WHEN 'task_created' THEN 'task.created'
        WHEN 'task_updated' THEN
            CASE WHEN (p_after ->> 'completed')::boolean
                      AND NOT coalesce((p_before ->> 'completed')::boolean, false)
                 THEN 'task.completed' ELSE 'task.updated' END
        WHEN 'task_deleted' THEN 'task.deleted'
        WHEN 'user_created' THEN 'member.joined'
        WHEN 'invitation_accepted' THEN 'member.joined'
        WHEN 'user_invited' THEN 'member.invited'
        WHEN 'user_updated' THEN
            CASE WHEN p_before ->> 'role' IS DISTINCT FROM p_after ->> 'role'
                 THEN 'member.role_changed' ELSE 'member.updated' END
        WHEN 'user_deactivated' THEN 'member.deactivated'
        WHEN 'user_reactivated' THEN 'member.reactivated'
    END
$$;

-- Who may read events of a type (see events.module).
CREATE FUNCTION stockroom_event_module(p_type text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog
AS $$
    SELECT CASE split_part(p_type, '.', 1)
        WHEN 'product' THEN 'products'
        WHEN 'stock' THEN 'inventory'
        WHEN 'reservation' THEN 'inventory'
        WHEN 'purchase_order' THEN 'purchasing'
        WHEN 'payment' THEN 'purchasing'
        WHEN 'supplier' THEN 'suppliers'
        WHEN 'task' THEN 'tasks'
        WHEN 'member' THEN 'members'
    END
$$;

-- The fields of `p_after` that changed, with their values in `p_before` (Stripe's
-- previous_attributes); NULL when either side is missing.
CREATE FUNCTION stockroom_previous_attributes(p_before jsonb, p_after jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog
AS $$
    SELECT CASE WHEN jsonb_typeof(p_before) = 'object' AND jsonb_typeof(p_after) = 'object' THEN
        coalesce((SELECT jsonb_object_agg(b.key, b.value) FROM jsonb_each(p_before) b
                  WHERE p_after -> b.key IS DISTINCT FROM b.value), '{}'::jsonb)
    END
$$;

CREATE FUNCTION stockroom_event_from_audit() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_type text := public.stockroom_event_type(NEW.action, NEW.before, NEW.after);
    v_object jsonb := coalesce(NEW.after, NEW.before, '{}'::jsonb);
BEGIN
    IF v_type IS NULL OR NEW.org_id IS NULL THEN
        RETURN NULL;
    END IF;
    -- A payment's rows are the payment (or its approval) of the order the row is about.
    IF v_type LIKE 'payment.%' THEN
        v_object := jsonb_build_object('purchase_order_id', NEW.entity_id) || v_object;
    ELSIF NEW.entity_id IS NOT NULL AND NOT v_object ? 'id' THEN
        v_object := jsonb_build_object('id', NEW.entity_id) || v_object;
    END IF;
    -- A member's event names the person (an acceptance's row holds only the role).
    IF v_type LIKE 'member.%' THEN
        v_object := coalesce((SELECT jsonb_build_object('email', u.email, 'name', u.name)
                              FROM public.users u WHERE u.id = NEW.entity_id), '{}'::jsonb)
                    || v_object;
    END IF;
    INSERT INTO public.events (org_id, type, module, owner_id, object, previous_attributes,
                               request_id, idempotency_key)
    VALUES (NEW.org_id, v_type, public.stockroom_event_module(v_type),
            CASE WHEN v_type LIKE 'task.%' THEN (v_object ->> 'user_id')::uuid END, v_object,
            public.stockroom_previous_attributes(NEW.before, NEW.after),
            coalesce(nullif(current_setting('stockroom.request_id', true), ''), NEW.request_id),
            nullif(current_setting('stockroom.idempotency_key', true), ''));
    RETURN NULL;
END
$$;
CREATE TRIGGER events_from_audit AFTER INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION stockroom_event_from_audit();

-- A ledger line: the product, the location, the change and the level it left.
CREATE FUNCTION stockroom_event_from_movement() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_level record;
BEGIN
    SELECT on_hand, reserved INTO v_level FROM public.stock_levels
    WHERE product_id = NEW.product_id AND location_id = NEW.location_id;
    INSERT INTO public.events (org_id, type, module, owner_id, object, previous_attributes,
                               request_id, idempotency_key)
    VALUES (NEW.org_id, 'stock.changed', 'inventory', NULL, jsonb_build_object(
            'movement_id', NEW.id,
            'product_id', NEW.product_id,
            'location_id', NEW.location_id,
            'kind', NEW.kind,
            'quantity', NEW.quantity,
            'reason', NEW.reason,
            'transfer_id', NEW.transfer_id,
            'reservation_id', NEW.reservation_id,
            'on_hand', coalesce(v_level.on_hand, 0),
            'reserved', coalesce(v_level.reserved, 0),
            'available', coalesce(v_level.on_hand - v_level.reserved, 0),
            'created_at', public.stockroom_rfc3339(NEW.created_at)), NULL,
            nullif(current_setting('stockroom.request_id', true), ''),
            nullif(current_setting('stockroom.idempotency_key', true), ''));
    RETURN NULL;
END
$$;
CREATE TRIGGER events_from_movements AFTER INSERT ON stock_movements
    FOR EACH ROW EXECUTE FUNCTION stockroom_event_from_movement();

-- The products whose stock available everywhere is below their reorder point, as last seen:
-- a product entering this set is a `stock.low`; leaving it is silent, so the next fall is a
-- new crossing.
CREATE TABLE stock_low (
    org_id      uuid NOT NULL,
    product_id  uuid PRIMARY KEY,
    since       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, product_id) REFERENCES products (org_id, id) ON DELETE CASCADE
);
ALTER TABLE stock_low ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON stock_low TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
REVOKE INSERT, UPDATE, DELETE ON stock_low FROM stockroom_app;

-- Whether the product is low now (the low_stock view's rule), and a `stock.low` when it just
-- became so.
CREATE FUNCTION stockroom_check_low(p_product uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_product record;
    v_on_hand bigint;
    v_available bigint;
BEGIN
    SELECT org_id, id, sku, name, reorder_point, is_active, supplier_id INTO v_product
    FROM public.products WHERE id = p_product;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT coalesce(sum(on_hand), 0), coalesce(sum(on_hand - reserved), 0)
    INTO v_on_hand, v_available
    FROM public.stock_levels WHERE product_id = p_product;
    IF v_product.is_active AND v_product.reorder_point > 0
       AND v_available < v_product.reorder_point THEN
        INSERT INTO public.stock_low (org_id, product_id) VALUES (v_product.org_id, p_product)
        ON CONFLICT (product_id) DO NOTHING;
        IF FOUND THEN
            INSERT INTO public.events (org_id, type, module, owner_id, object,
                                       previous_attributes, request_id, idempotency_key)
            VALUES (v_product.org_id, 'stock.low', 'inventory', NULL, jsonb_build_object(
                'product_id', p_product,
                'sku', v_product.sku,
                'name', v_product.name,
                'reorder_point', v_product.reorder_point,
                'on_hand', v_on_hand,
                'available', v_available,
                'supplier_id', v_product.supplier_id), NULL,
                nullif(current_setting('stockroom.request_id', true), ''),
                nullif(current_setting('stockroom.idempotency_key', true), ''));
        END IF;
    ELSE
        DELETE FROM public.stock_low WHERE product_id = p_product;
    END IF;
END
$$;

CREATE FUNCTION stockroom_low_after_levels() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    PERFORM public.stockroom_check_low(NEW.product_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER stock_low_after_levels AFTER INSERT OR UPDATE OF on_hand, reserved ON stock_levels
    FOR EACH ROW EXECUTE FUNCTION stockroom_low_after_levels();

CREATE FUNCTION stockroom_low_after_product() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    PERFORM public.stockroom_check_low(NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER stock_low_after_product AFTER UPDATE OF reorder_point, is_active ON products
    FOR EACH ROW
    WHEN (OLD.reorder_point IS DISTINCT FROM NEW.reorder_point
          OR OLD.is_active IS DISTINCT FROM NEW.is_active)
    EXECUTE FUNCTION stockroom_low_after_product();

-- Products already low when this migration runs are not news: they start in the set.
INSERT INTO stock_low (org_id, product_id) SELECT org_id, product_id FROM low_stock;

REVOKE EXECUTE ON FUNCTION stockroom_check_low(uuid) FROM PUBLIC;

-- Events older than 30 days go, in bounded batches (the scheduler's cleanup).
CREATE FUNCTION stockroom_delete_old_events(p_limit integer) RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM public.events WHERE id IN (
            SELECT id FROM public.events WHERE created_at < now() - interval '30 days'
            ORDER BY seq LIMIT p_limit)
        RETURNING 1)
    SELECT count(*)::integer FROM gone
$$;
REVOKE EXECUTE ON FUNCTION stockroom_delete_old_events(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stockroom_delete_old_events(integer) TO stockroom_worker;

-- ---------------------------------------------------------------------------------------------
-- Webhook endpoints: where an organization wants its events POSTed, each delivery and each
-- attempt recorded.

CREATE TABLE webhook_endpoints (
    id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url                         text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    -- Event types, `prefix.*` patterns or `*`.
    event_types                 text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 100),
    description                 text CHECK (length(description) <= 500),
    enabled                     boolean NOT NULL DEFAULT true,
    -- Why it is off: `by_request` (an admin), `gone` (a receiver answered 410), `failing`
    -- (deliveries failed for 3 days).
    disabled_reason             text,
    -- The signing secret, sealed with the data key (bound to the endpoint's id); the one it
    -- replaced signs alongside until previous_secret_expires_at.
    secret                      bytea NOT NULL,
    previous_secret             bytea,
    previous_secret_expires_at  timestamptz,
    -- The first failure since the last success.
    failing_since               timestamptz,
    created_by                  uuid,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);
CREATE INDEX webhook_endpoints_org_idx ON webhook_endpoints (org_id, created_at, id);
ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_endpoints TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL,
    endpoint_id      uuid NOT NULL,
    event_id         uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    -- `pending` (to be tried, at next_attempt_at), `succeeded` (a 2xx), `failed` (given up).
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- Tries go on for 3 days from here (a retry by hand starts them again).
    started_at       timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, endpoint_id) REFERENCES webhook_endpoints (org_id, id) ON DELETE CASCADE,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (org_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx
    ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_deliveries TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

CREATE TABLE webhook_attempts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id        uuid NOT NULL,
    delivery_id   uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    -- The receiver's HTTP status; NULL when it gave none (see error).
    status        integer,
    latency_ms    integer NOT NULL,
    -- The first 1 KB of the receiver's answer.
    response      text,
    -- Why there was no usable answer: refused address, timeout, connection error, redirect.
    error         text
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id DESC);
ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_attempts TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

-- The organizations with webhook work: events not handed over yet (older than
-- `p_undispatched_for`, so the fast path has had its chance) or deliveries due.
CREATE FUNCTION stockroom_orgs_with_webhook_work(p_undispatched_for interval)
RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT org_id FROM public.events
    WHERE dispatched_at IS NULL AND created_at <= now() - p_undispatched_for
    UNION
    SELECT org_id FROM public.webhook_deliveries
    WHERE status = 'pending' AND next_attempt_at <= now()
$$;
REVOKE EXECUTE ON FUNCTION stockroom_orgs_with_webhook_work(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stockroom_orgs_with_webhook_work(interval) TO stockroom_worker;
