-- What "low stock" means, once: an active product with a reorder point whose available units
-- (on hand less reserved, over every location, as stock stands now) are below it. The
-- inventory report, the dashboard's count and the scheduler's digest all read this view.
-- `gap` (available - reorder_point, negative) orders the most short first.
-- security_invoker: row-level security applies to the caller, as on the tables below it.
CREATE VIEW low_stock WITH (security_invoker = true) AS
SELECT p.org_id, p.id AS product_id, p.sku, p.name, p.reorder_point, p.supplier_id,
       coalesce(sum(s.on_hand), 0)::bigint AS on_hand,
       coalesce(sum(s.on_hand - s.reserved), 0)::bigint AS available,
       (coalesce(sum(s.on_hand - s.reserved), 0) - p.reorder_point)::bigint AS gap
FROM products p
LEFT JOIN stock_now s ON s.org_id = p.org_id AND s.product_id = p.id
WHERE p.is_active AND p.reorder_point > 0
-- org_id among the grouping columns lets a filter on it reach the tables (one tenant's rows).
GROUP BY p.org_id, p.id
HAVING coalesce(sum(s.on_hand - s.reserved), 0) < p.reorder_point;

-- Read only (the default privileges of migration 3 grant writes on every new relation).
REVOKE INSERT, UPDATE, DELETE ON low_stock FROM stockroom_app;

-- A time as the API writes it everywhere: RFC 3339 in UTC with a Z, to the microsecond.
CREATE FUNCTION stockroom_rfc3339(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- A reservation that expires is audited in the shape of every other reservation change: the
-- reservation as the API shows it (times in RFC 3339 UTC), as `after`.
CREATE OR REPLACE FUNCTION release_expired_reservations(p_product_id uuid, p_limit integer DEFAULT NULL)
RETURNS bigint LANGUAGE sql AS $$
    WITH due AS (
        SELECT id FROM reservations
        WHERE status = 'active' AND expires_at <= now()
          AND (p_product_id IS NULL OR product_id = p_product_id)
        ORDER BY expires_at, id
        LIMIT p_limit
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
    SELECT count(*) FROM expired
$$;
