-- Each product carries its stock over all locations, kept by the ledger's own statements: a
-- product list reads one row per product instead of summing stock_levels (and the due
-- reservations of each location) for every product of the page, which cost the list of 50 two
-- thirds of its throughput (docs/benchmarks.md, "Products with their stock").
--
--   stock_on_hand, stock_reserved  sum(on_hand), sum(reserved) of the product's stock_levels
--   stock_holds_until              the earliest deadline of its active reservations (NULL
--                                  without any): until then stock_reserved is what is held;
--                                  from then on a reader subtracts the holds already due, as
--                                  stock_now does, until the release gives them back
--
-- The triggers are SECURITY DEFINER like the stock_low ones (migration 20261207000001): the
-- tenant, the worker's sweep and the owner all change stock. They are deferred to the commit,
-- so a transaction takes the product's row lock last, after every stock level it changes: a
-- transfer (two locations of one product) and a sale at one of them cannot each hold what the
-- other waits for. A transaction changing several products changes them in product order
-- (receipts; the release of due holds below), so their rows are locked at commit in one order.
-- Old code keeps working on this shape: it never writes these columns, and every stock write
-- it makes goes through the triggers.

ALTER TABLE products
    ADD COLUMN stock_on_hand bigint NOT NULL DEFAULT 0,
    ADD COLUMN stock_reserved bigint NOT NULL DEFAULT 0,
    ADD COLUMN stock_holds_until timestamptz;

CREATE FUNCTION stockroom_totals_after_levels() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.product_id = NEW.product_id THEN
        IF OLD.on_hand IS DISTINCT FROM NEW.on_hand OR OLD.reserved IS DISTINCT FROM NEW.reserved THEN
            UPDATE public.products
            SET stock_on_hand = stock_on_hand + (NEW.on_hand - OLD.on_hand),
                stock_reserved = stock_reserved + (NEW.reserved - OLD.reserved)
            WHERE id = NEW.product_id;
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE public.products
        SET stock_on_hand = stock_on_hand - OLD.on_hand,
            stock_reserved = stock_reserved - OLD.reserved
        WHERE id = OLD.product_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        UPDATE public.products
        SET stock_on_hand = stock_on_hand + NEW.on_hand,
            stock_reserved = stock_reserved + NEW.reserved
        WHERE id = NEW.product_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER stock_totals_after_levels
    AFTER INSERT OR UPDATE OR DELETE ON stock_levels
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stockroom_totals_after_levels();

-- A new hold can only bring the earliest deadline forward; any other change (a hold confirmed,
-- cancelled, expired, deleted or given another deadline) looks the earliest one up again, on
-- reservations_active_stock_idx.
CREATE FUNCTION stockroom_holds_after_reservations() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_product uuid;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status = 'active' THEN
            UPDATE public.products
            SET stock_holds_until = least(stock_holds_until, NEW.expires_at)
            WHERE id = NEW.product_id
              AND (stock_holds_until IS NULL OR stock_holds_until > NEW.expires_at);
        END IF;
        RETURN NULL;
    END IF;
    FOREACH v_product IN ARRAY ARRAY[OLD.product_id, CASE WHEN TG_OP = 'UPDATE' THEN NEW.product_id END]
    LOOP
        CONTINUE WHEN v_product IS NULL;
        UPDATE public.products p
        SET stock_holds_until = h.until
        FROM (SELECT min(expires_at) AS until FROM public.reservations
              WHERE product_id = v_product AND status = 'active') h
        WHERE p.id = v_product AND p.stock_holds_until IS DISTINCT FROM h.until;
        EXIT WHEN TG_OP = 'DELETE' OR OLD.product_id = NEW.product_id;
    END LOOP;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER stock_holds_after_reservations
    AFTER INSERT OR UPDATE OF status, expires_at, product_id OR DELETE ON reservations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stockroom_holds_after_reservations();

-- Releasing due holds, one product after the other in product order (the sweep releases
-- many products' holds in one transaction): what migration 20261201000001 did in one
-- statement, whose rows were changed in no particular order. The same answer, audit and locks
-- per product (the due holds in id order, re-checked once locked, so none is released twice).
CREATE OR REPLACE FUNCTION release_expired_reservations(p_product_id uuid, p_limit integer DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_product uuid;
    v_ids uuid[];
    v_count bigint;
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
        SELECT count(*) INTO v_count FROM expired;
        v_released := v_released + v_count;
    END LOOP;
    RETURN v_released;
END
$$;

-- The stock there already is.
UPDATE products p
SET stock_on_hand = s.on_hand, stock_reserved = s.reserved
FROM (SELECT product_id, sum(on_hand)::bigint AS on_hand, sum(reserved)::bigint AS reserved
      FROM stock_levels GROUP BY product_id) s
WHERE p.id = s.product_id;
UPDATE products p
SET stock_holds_until = h.until
FROM (SELECT product_id, min(expires_at) AS until FROM reservations
      WHERE status = 'active' GROUP BY product_id) h
WHERE p.id = h.product_id;
