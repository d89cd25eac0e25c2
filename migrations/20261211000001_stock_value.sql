-- What the stock is worth (issue 31, part 3): the cost of every receipt, a moving-average cost
-- per product, and the history of that average so the stock can be valued at a past date.
--
-- A product's costs are in its own currency (`products.currency`, that of its price and its
-- standard `cost`). A receipt costed in that currency moves the average:
--
--     average after = (units on hand before × average before + units received × unit cost)
--                     / (units on hand before + units received)
--
-- (the units on hand over all locations, never fewer than none; before the first costed
-- receipt the average is the standard cost, or that first unit cost). A receipt without a cost,
-- or costed in another currency (a purchase order in USD for a product kept in EUR: Stockroom
-- keeps no exchange rates), leaves the average as it is: its units are worth the average. Its
-- ledger rows still record what it cost, in its currency.

-- What each ledger row's units were worth apiece: a receipt's cost as given (a purchase order
-- line's, or the one given on a receipt or an adjustment in), else the product's average at the
-- time, in `cost_currency`. NULL for rows written before this, and for a product without any
-- cost.
ALTER TABLE stock_movements
    ADD COLUMN unit_cost numeric(20, 6),
    ADD COLUMN cost_currency char(3);
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_cost_check
    CHECK (unit_cost >= 0 AND (unit_cost IS NULL) = (cost_currency IS NULL)) NOT VALID;

-- The product's moving-average cost now, in its currency (NULL until its first costed receipt:
-- the standard `cost` stands in for it).
ALTER TABLE products ADD COLUMN average_cost numeric(20, 6);
ALTER TABLE products ADD CONSTRAINT products_average_cost_check
    CHECK (average_cost >= 0) NOT VALID;

-- Every change of a product's average: the stock's value at a past date takes, for each
-- product, the last average at or before that date.
CREATE TABLE product_costs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id           uuid NOT NULL,
    product_id       uuid NOT NULL,
    -- The receipt's (first) ledger row.
    movement_id      bigint NOT NULL,
    currency         char(3) NOT NULL,
    on_hand_before   bigint NOT NULL,
    average_before   numeric(20, 6),
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_cost        numeric(20, 6) NOT NULL CHECK (unit_cost >= 0),
    average_cost     numeric(20, 6) NOT NULL CHECK (average_cost >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, product_id) REFERENCES products (org_id, id)
);
CREATE INDEX product_costs_at_idx ON product_costs (org_id, product_id, created_at DESC, id DESC);
ALTER TABLE product_costs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON product_costs TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

-- The stock's value at a past date sums the ledger up to that date per product and location.
CREATE INDEX stock_movements_at_idx ON stock_movements (org_id, created_at)
    INCLUDE (product_id, location_id, quantity);

-- Records a costed receipt of `p_quantity` units (already added to the product's stock level in
-- this transaction, ledger row `p_movement`) at `p_unit_cost` `p_currency` apiece, and moves
-- the product's average: the new average, or NULL when the cost is in another currency than
-- the product's (then nothing changes).
--
-- It locks the product's row first, after the stock level the caller changed (the order every
-- stock writer keeps: levels, then the product), and then sums the levels in a statement of
-- its own, so the units on hand before include every receipt and sale committed before it: two
-- receipts of one product at two locations never both start from the same average.
CREATE FUNCTION stockroom_cost_receipt(p_product uuid, p_movement bigint, p_quantity integer,
                                       p_unit_cost numeric, p_currency text)
RETURNS numeric LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_org uuid;
    v_currency text;
    v_average numeric;
    v_before bigint;
    v_after numeric;
BEGIN
    SELECT org_id, currency, coalesce(average_cost, cost)
    INTO v_org, v_currency, v_average
    FROM products WHERE id = p_product FOR NO KEY UPDATE;
    IF NOT FOUND OR v_currency <> p_currency OR p_quantity <= 0 THEN
        RETURN NULL;
    END IF;
    SELECT greatest(coalesce(sum(on_hand), 0) - p_quantity, 0) INTO v_before
    FROM stock_levels WHERE product_id = p_product;
    v_after := round((v_before * coalesce(v_average, p_unit_cost) + p_quantity * p_unit_cost)
                     / (v_before + p_quantity), 6);
    UPDATE products SET average_cost = v_after WHERE id = p_product;
    INSERT INTO product_costs (org_id, product_id, movement_id, currency, on_hand_before,
                               average_before, quantity, unit_cost, average_cost)
    VALUES (v_org, p_product, p_movement, p_currency, v_before, v_average, p_quantity,
            p_unit_cost, v_after);
    RETURN v_after;
END
$$;

-- A product given another currency starts again from its standard cost: an average in the old
-- currency means nothing in the new one.
CREATE FUNCTION stockroom_average_in_currency() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.currency IS DISTINCT FROM OLD.currency THEN
        NEW.average_cost := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER products_average_in_currency BEFORE UPDATE OF currency ON products
    FOR EACH ROW EXECUTE FUNCTION stockroom_average_in_currency();

-- The stock of an organization valued, per product and location: now (`p_at` NULL: the stock
-- levels and each product's average) or at a past moment (the ledger summed up to `p_at`, and
-- each product's last average at or before it). A product without an average then is valued
-- at its standard cost (`source` 'standard'), one without either is not valued (NULL). An
-- average kept in a currency the product no longer has is not used. Row-level security
-- applies: it is the caller's own organization or nothing.
CREATE FUNCTION stockroom_stock_value(p_org uuid, p_at timestamptz)
RETURNS TABLE (product_id uuid, location_id uuid, quantity bigint, unit_cost numeric,
               currency text, source text, value numeric)
LANGUAGE sql STABLE AS $$
    SELECT s.product_id, s.location_id, s.on_hand::bigint, coalesce(p.average_cost, p.cost),
           p.currency::text,
           CASE WHEN p.average_cost IS NOT NULL THEN 'average'
                WHEN p.cost IS NOT NULL THEN 'standard' END,
           round(s.on_hand * coalesce(p.average_cost, p.cost), 2)
    FROM stock_levels s
    JOIN products p ON p.id = s.product_id
    WHERE p_at IS NULL AND s.org_id = p_org AND s.on_hand <> 0
    UNION ALL
    SELECT q.product_id, q.location_id, q.quantity, coalesce(h.average_cost, p.cost),
           p.currency::text,
           CASE WHEN h.average_cost IS NOT NULL THEN 'average'
                WHEN p.cost IS NOT NULL THEN 'standard' END,
           round(q.quantity * coalesce(h.average_cost, p.cost), 2)
    FROM (SELECT m.product_id, m.location_id, sum(m.quantity)::bigint AS quantity
          FROM stock_movements m
          WHERE p_at IS NOT NULL AND m.org_id = p_org AND m.created_at <= p_at
          GROUP BY m.product_id, m.location_id
          HAVING sum(m.quantity) <> 0) q
    JOIN products p ON p.id = q.product_id
    LEFT JOIN (SELECT DISTINCT ON (c.product_id) c.product_id, c.average_cost, c.currency
               FROM product_costs c
               WHERE p_at IS NOT NULL AND c.org_id = p_org AND c.created_at <= p_at
               ORDER BY c.product_id, c.created_at DESC, c.id DESC) h
           ON h.product_id = q.product_id AND h.currency = p.currency
$$;

-- Every row there is satisfies the checks (the columns are new); validating them takes no lock
-- that stops writers.
ALTER TABLE stock_movements VALIDATE CONSTRAINT stock_movements_cost_check;
ALTER TABLE products VALIDATE CONSTRAINT products_average_cost_check;
