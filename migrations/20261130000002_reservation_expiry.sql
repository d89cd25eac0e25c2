-- A reservation past its deadline holds nothing from that moment on, not from the scheduler's
-- next sweep: every stock change first releases the due reservations of its product
-- (release_expired_reservations, which the sweep calls too), and reads see them released at
-- once (stock_now, reservations_now).

CREATE INDEX reservations_active_stock_idx ON reservations (product_id, location_id, expires_at)
    WHERE status = 'active';

-- Marks due reservations expired, gives their units back and audits each; of one product, or
-- of every product (the sweep, in batches of p_limit). Rows are locked in one order, so
-- concurrent callers queue instead of deadlocking, and none releases a reservation twice.
CREATE FUNCTION release_expired_reservations(p_product_id uuid, p_limit integer DEFAULT NULL)
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
        RETURNING r.id, r.org_id, r.product_id, r.location_id, r.quantity, r.expires_at
    ), released AS (
        UPDATE stock_levels s SET reserved = s.reserved - x.quantity, updated_at = now()
        FROM (SELECT product_id, location_id, sum(quantity)::integer AS quantity
              FROM expired GROUP BY product_id, location_id) x
        WHERE s.product_id = x.product_id AND s.location_id = x.location_id
    ), audited AS (
        INSERT INTO audit_log (org_id, action, entity, entity_id, after)
        SELECT org_id, 'reservation_expired', 'reservation', id,
               jsonb_build_object('quantity', quantity, 'product_id', product_id,
                                  'location_id', location_id, 'expires_at', expires_at)
        FROM expired
    )
    SELECT count(*) FROM expired
$$;

-- Stock as it stands now: units held by reservations past their deadline are not reserved.
-- security_invoker: row-level security applies to the caller, as on the tables.
CREATE VIEW stock_now WITH (security_invoker = true) AS
SELECT s.org_id, s.product_id, s.location_id, s.on_hand,
       s.reserved - coalesce(due.quantity, 0) AS reserved, s.updated_at
FROM stock_levels s
LEFT JOIN LATERAL (
    SELECT sum(r.quantity)::integer AS quantity FROM reservations r
    WHERE r.product_id = s.product_id AND r.location_id = s.location_id
      AND r.status = 'active' AND r.expires_at <= now()
) due ON true;

-- Reservations with their status as it stands now: an active one past its deadline is expired.
CREATE VIEW reservations_now WITH (security_invoker = true) AS
SELECT id, org_id, product_id, location_id, quantity,
       CASE WHEN status = 'active' AND expires_at <= now() THEN 'expired'::reservation_status
            ELSE status END AS status,
       reference, expires_at, created_at, updated_at
FROM reservations;
