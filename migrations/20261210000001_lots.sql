-- Lots, serial numbers and expiry dates (issue 31, part 2).
--
-- A product's `tracking` says how its units are told apart: `none` (as before: stock per
-- product and location), `lot` (units share a lot number and an expiry date) or `serial`
-- (each unit is a lot of one, named by its serial number). The stock of a tracked product is
-- kept twice: per product and location in `stock_levels`, as for every product (what the
-- totals, reports and reservations read), and split by lot in `lot_levels`. The two always
-- agree: every statement that writes a tracked product's `lot_levels` runs in a transaction
-- that already holds the row of `stock_levels` for that product and location, so the levels
-- are the lock that orders every writer (stock level first, then its lots, the product's row
-- last at commit).

CREATE TYPE product_tracking AS ENUM ('none', 'lot', 'serial');

ALTER TABLE products
    ADD COLUMN tracking product_tracking NOT NULL DEFAULT 'none',
    -- Days from receipt to expiry: the expiry date a receipt without one takes.
    ADD COLUMN shelf_life_days integer CHECK (shelf_life_days BETWEEN 1 AND 36500);

-- Whether units past their expiry date may still be sold or reserved (by default they may
-- not: they stay on hand until written off or moved).
ALTER TABLE organizations ADD COLUMN sell_expired boolean NOT NULL DEFAULT false;

CREATE TABLE lots (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id            uuid NOT NULL REFERENCES organizations (id),
    product_id        uuid NOT NULL,
    -- The lot number, or the unit's serial number.
    number            text NOT NULL CHECK (length(number) BETWEEN 1 AND 100),
    expires_on        date,
    -- The day of its first receipt: an expiry before it is refused.
    received_on       date NOT NULL DEFAULT current_date,
    -- When `lot.expiring` was emitted for it (once per lot).
    expiring_announced_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    UNIQUE (org_id, product_id, number),
    CONSTRAINT lots_expiry_after_receipt CHECK (expires_on IS NULL OR expires_on >= received_on),
    FOREIGN KEY (org_id, product_id) REFERENCES products (org_id, id)
);
CREATE INDEX lots_expiry_idx ON lots (org_id, expires_on) WHERE expires_on IS NOT NULL;
ALTER TABLE lots ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON lots TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

CREATE TABLE lot_levels (
    org_id       uuid NOT NULL,
    lot_id       uuid NOT NULL,
    product_id   uuid NOT NULL,
    location_id  uuid NOT NULL,
    on_hand      integer NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved     integer NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lot_id, location_id),
    FOREIGN KEY (org_id, lot_id) REFERENCES lots (org_id, id),
    FOREIGN KEY (org_id, location_id) REFERENCES locations (org_id, id),
    FOREIGN KEY (product_id, location_id) REFERENCES stock_levels (product_id, location_id)
);
-- The lots a product has at a location, for first-expiry-first-out picking.
CREATE INDEX lot_levels_stock_idx ON lot_levels (product_id, location_id) WHERE on_hand > 0;
ALTER TABLE lot_levels ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON lot_levels TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

-- The lot each ledger line moved (NULL for untracked products).
ALTER TABLE stock_movements ADD COLUMN lot_id uuid;
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_lot_fkey
    FOREIGN KEY (org_id, lot_id) REFERENCES lots (org_id, id);
CREATE INDEX stock_movements_lot_idx ON stock_movements (lot_id, id) WHERE lot_id IS NOT NULL;

-- Which lots a reservation of a tracked product holds, and how many of each.
CREATE TABLE reservation_lots (
    org_id          uuid NOT NULL,
    reservation_id  uuid NOT NULL REFERENCES reservations (id),
    lot_id          uuid NOT NULL,
    quantity        integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, lot_id),
    FOREIGN KEY (org_id, lot_id) REFERENCES lots (org_id, id)
);
CREATE INDEX reservation_lots_lot_idx ON reservation_lots (lot_id);
ALTER TABLE reservation_lots ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON reservation_lots TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

-- Takes `p_quantity` units of a product at a location out of its lots, first expiry first
-- (then first received), and says which: from the lots numbered `p_numbers` only when given,
-- skipping lots past their expiry unless `p_with_expired`. `p_hold` reserves the units
-- instead of removing them. Takes fewer than asked when there are not enough: the caller
-- compares and refuses. Call it holding the product's stock level at the location.
CREATE FUNCTION take_from_lots(p_product uuid, p_location uuid, p_quantity integer,
                               p_numbers text[], p_with_expired boolean, p_hold boolean)
RETURNS TABLE (lot_id uuid, number text, quantity integer)
LANGUAGE sql VOLATILE SET search_path = pg_catalog, public
AS $$
    WITH candidates AS (
        SELECT l.lot_id, lo.number, l.on_hand - l.reserved AS free, lo.expires_on, lo.received_on
        FROM lot_levels l
        JOIN lots lo ON lo.id = l.lot_id
        WHERE l.product_id = p_product AND l.location_id = p_location
          AND l.on_hand > l.reserved
          AND (p_numbers IS NULL OR lo.number = ANY (p_numbers))
          AND (p_with_expired OR lo.expires_on IS NULL OR lo.expires_on >= current_date)
        ORDER BY lo.expires_on NULLS LAST, lo.received_on, l.lot_id
        FOR UPDATE OF l
    ), running AS (
        SELECT c.lot_id, c.number, c.free,
               sum(c.free) OVER (ORDER BY c.expires_on NULLS LAST, c.received_on, c.lot_id
                                 ROWS UNBOUNDED PRECEDING) - c.free AS before
        FROM candidates c
    ), taken AS (
        SELECT r.lot_id, r.number, least(r.free, p_quantity - r.before)::integer AS quantity
        FROM running r WHERE r.before < p_quantity
    )
    UPDATE lot_levels l
    SET on_hand = l.on_hand - CASE WHEN p_hold THEN 0 ELSE t.quantity END,
        reserved = l.reserved + CASE WHEN p_hold THEN t.quantity ELSE 0 END,
        updated_at = now()
    FROM taken t
    WHERE l.lot_id = t.lot_id AND l.location_id = p_location
    RETURNING t.lot_id, t.number, t.quantity
$$;

-- Reservations past their deadline give their units back: to the levels, then to the lots
-- they held (a statement of its own, after the levels, as every writer orders them).
CREATE OR REPLACE FUNCTION release_expired_reservations(p_product_id uuid, p_limit integer DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_product uuid;
    v_ids uuid[];
    v_expired uuid[];
    v_released bigint := 0;
BEGIN
    FOR v_product, v_ids IN
        SELECT d.product_id, array_agg(d.id ORDER BY d.id)
        FROM (SELECT id, product_id FROM reservations
              WHERE status = 'active' AND expires_at <= now()
                AND (p_product_id IS NULL OR product_id = p_product_id)
              ORDER BY expires_at, id
              LIMIT p_limit) d
        GROUP BY d.product_id
        ORDER BY d.product_id
    LOOP
        WITH due AS (
            SELECT id FROM reservations
            WHERE id = ANY(v_ids) AND status = 'active' AND expires_at <= now()
            ORDER BY id
            FOR UPDATE
        ), expired AS (
            UPDATE reservations r SET status = 'expired', updated_at = now()
            FROM due WHERE r.id = due.id
            RETURNING r.*
        ), released AS (
            UPDATE stock_levels s SET reserved = s.reserved - x.quantity, updated_at = now()
            FROM (SELECT product_id, location_id, sum(quantity)::integer AS quantity
                  FROM expired GROUP BY product_id, location_id) x
            WHERE s.product_id = x.product_id AND s.location_id = x.location_id
        ), audited AS (
            INSERT INTO audit_log (org_id, action, entity, entity_id, after)
            SELECT org_id, 'reservation_expired', 'reservation', id,
                   jsonb_build_object(
                       'id', id, 'product_id', product_id, 'location_id', location_id,
                       'quantity', quantity, 'status', status, 'reference', reference,
                       'expires_at', stockroom_rfc3339(expires_at),
                       'created_at', stockroom_rfc3339(created_at),
                       'updated_at', stockroom_rfc3339(updated_at))
            FROM expired
        )
        SELECT coalesce(array_agg(id), '{}') INTO v_expired FROM expired;
        UPDATE lot_levels l SET reserved = l.reserved - x.quantity, updated_at = now()
        FROM (SELECT rl.lot_id, r.location_id, sum(rl.quantity)::integer AS quantity
              FROM reservation_lots rl JOIN reservations r ON r.id = rl.reservation_id
              WHERE rl.reservation_id = ANY(v_expired)
              GROUP BY rl.lot_id, r.location_id) x
        WHERE l.lot_id = x.lot_id AND l.location_id = x.location_id;
        v_released := v_released + cardinality(v_expired);
    END LOOP;
    RETURN v_released;
END
$$;

-- `stock.changed` carries the lot a ledger line moved, with what the lot has left there.
CREATE OR REPLACE FUNCTION stockroom_event_from_movement() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_level record;
    v_lot jsonb;
BEGIN
    SELECT on_hand, reserved INTO v_level FROM public.stock_levels
    WHERE product_id = NEW.product_id AND location_id = NEW.location_id;
    IF NEW.lot_id IS NOT NULL THEN
        SELECT jsonb_build_object('id', lo.id, 'number', lo.number, 'expires_on', lo.expires_on,
                                  'on_hand', coalesce(ll.on_hand, 0))
        INTO v_lot
        FROM public.lots lo
        LEFT JOIN public.lot_levels ll ON ll.lot_id = lo.id AND ll.location_id = NEW.location_id
        WHERE lo.id = NEW.lot_id;
    END IF;
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
            'lot', v_lot,
            'on_hand', coalesce(v_level.on_hand, 0),
            'reserved', coalesce(v_level.reserved, 0),
            'available', coalesce(v_level.on_hand - v_level.reserved, 0),
            'created_at', public.stockroom_rfc3339(NEW.created_at)), NULL,
            nullif(current_setting('stockroom.request_id', true), ''),
            nullif(current_setting('stockroom.idempotency_key', true), ''));
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION stockroom_event_module(p_type text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog
AS $$
    SELECT CASE split_part(p_type, '.', 1)
        WHEN 'product' THEN 'products'
        WHEN 'stock' THEN 'inventory'
        WHEN 'reservation' THEN 'inventory'
        WHEN 'stocktake' THEN 'inventory'
        WHEN 'lot' THEN 'inventory'
        WHEN 'purchase_order' THEN 'purchasing'
        WHEN 'payment' THEN 'purchasing'
        WHEN 'supplier' THEN 'suppliers'
        WHEN 'task' THEN 'tasks'
        WHEN 'member' THEN 'members'
    END
$$;

-- One `lot.expiring` per lot of the caller's organization that has units on hand and expires
-- within `p_days` (or has expired), the first time it is seen so; returns how many.
CREATE FUNCTION stockroom_announce_expiring_lots(p_days integer) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_org uuid := public.app_org_id();
    v_count bigint;
BEGIN
    WITH due AS (
        SELECT lo.id FROM public.lots lo
        WHERE lo.org_id = v_org AND lo.expiring_announced_at IS NULL
          AND lo.expires_on <= current_date + p_days
          AND EXISTS (SELECT 1 FROM public.lot_levels ll WHERE ll.lot_id = lo.id AND ll.on_hand > 0)
        ORDER BY lo.id
        FOR UPDATE SKIP LOCKED
    ), marked AS (
        UPDATE public.lots lo SET expiring_announced_at = now()
        FROM due WHERE lo.id = due.id
        RETURNING lo.*
    ), announced AS (
        INSERT INTO public.events (org_id, type, module, owner_id, object)
        SELECT m.org_id, 'lot.expiring', 'inventory', NULL, jsonb_build_object(
                   'lot_id', m.id,
                   'number', m.number,
                   'expires_on', m.expires_on,
                   'product_id', m.product_id,
                   'sku', p.sku,
                   'name', p.name,
                   'on_hand', (SELECT coalesce(sum(ll.on_hand), 0) FROM public.lot_levels ll
                               WHERE ll.lot_id = m.id),
                   'expired', m.expires_on < current_date)
        FROM marked m JOIN public.products p ON p.id = m.product_id
        RETURNING 1
    )
    SELECT count(*) INTO v_count FROM announced;
    RETURN v_count;
END
$$;
REVOKE EXECUTE ON FUNCTION stockroom_announce_expiring_lots(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stockroom_announce_expiring_lots(integer) TO stockroom_app;

-- The daily digest goes to organizations with products to reorder or lots about to expire.
CREATE FUNCTION stockroom_orgs_with_digest_items(p_days integer) RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT org_id FROM products WHERE is_active AND reorder_point > 0
    UNION
    SELECT lo.org_id FROM lots lo
    WHERE lo.expires_on <= current_date + p_days
      AND EXISTS (SELECT 1 FROM lot_levels ll WHERE ll.lot_id = lo.id AND ll.on_hand > 0)
$$;
REVOKE EXECUTE ON FUNCTION stockroom_orgs_with_digest_items(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stockroom_orgs_with_digest_items(integer) TO stockroom_worker;
