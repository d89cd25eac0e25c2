-- Stocktakes and cycle counts (issue 31, part 1). A stocktake snapshots what a location is
-- expected to hold of some products; counters record what they find; applying it turns every
-- difference into one `adjust` movement, in one transaction.
--
-- A count is compared with the stock as it stood when it was recorded (`on_hand_at_count`),
-- not with the snapshot: what was sold or received between the snapshot and the count is on
-- the shelf the counter saw, and what moved after the count is in the level the adjustment
-- is added to, so nothing is lost or counted twice.

-- When each product was last counted, and how often it should be (NULL: the organization's
-- interval); the organization's interval, for every product without one.
ALTER TABLE products
    ADD COLUMN last_counted_at timestamptz,
    ADD COLUMN count_interval_days integer CHECK (count_interval_days BETWEEN 1 AND 3650);
ALTER TABLE organizations
    ADD COLUMN count_interval_days integer NOT NULL DEFAULT 90
        CHECK (count_interval_days BETWEEN 1 AND 3650);

CREATE TYPE stocktake_status AS ENUM ('open', 'applied', 'cancelled');
CREATE TYPE stocktake_scope AS ENUM ('all', 'supplier', 'products');

CREATE TABLE stocktakes (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id             uuid NOT NULL REFERENCES organizations (id),
    location_id        uuid NOT NULL,
    scope              stocktake_scope NOT NULL,
    -- One supplier's products (scope `supplier`), or of those listed, the supplier's only.
    supplier_id        uuid,
    -- A blind count: the expected figures are hidden from callers without inventory write.
    blind              boolean NOT NULL DEFAULT false,
    status             stocktake_status NOT NULL DEFAULT 'open',
    note               text CHECK (length(note) <= 500),
    created_by         uuid,
    created_by_api_key uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    applied_at         timestamptz,
    -- The answer of the apply, given again to a second apply.
    result             jsonb,
    UNIQUE (org_id, id),
    CHECK (scope <> 'supplier' OR supplier_id IS NOT NULL),
    FOREIGN KEY (org_id, location_id) REFERENCES locations (org_id, id),
    FOREIGN KEY (org_id, supplier_id) REFERENCES suppliers (org_id, id)
);
CREATE INDEX stocktakes_org_idx ON stocktakes (org_id, created_at DESC, id DESC);
ALTER TABLE stocktakes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON stocktakes TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

CREATE TABLE stocktake_lines (
    org_id            uuid NOT NULL,
    stocktake_id      uuid NOT NULL,
    product_id        uuid NOT NULL,
    -- On hand at the location when the stocktake began.
    expected          integer NOT NULL,
    counted           integer CHECK (counted >= 0),
    -- On hand at the location when `counted` was recorded: what the count is compared with.
    on_hand_at_count  integer,
    counted_at        timestamptz,
    counted_by        uuid,
    counted_by_api_key uuid,
    times_counted     integer NOT NULL DEFAULT 0,
    -- The adjustment the apply made (0: none was needed).
    applied_difference integer,
    PRIMARY KEY (stocktake_id, product_id),
    CHECK ((counted IS NULL) = (on_hand_at_count IS NULL)),
    FOREIGN KEY (org_id, stocktake_id) REFERENCES stocktakes (org_id, id),
    FOREIGN KEY (org_id, product_id) REFERENCES products (org_id, id)
);
CREATE INDEX stocktake_lines_product_idx ON stocktake_lines (org_id, product_id);
ALTER TABLE stocktake_lines ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON stocktake_lines TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

-- `stocktake.applied` (audit action `stocktake_applied`), read with the inventory module.
CREATE OR REPLACE FUNCTION stockroom_event_type(p_action text, p_before jsonb, p_after jsonb) RETURNS text
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
        WHEN 'stocktake_applied' THEN 'stocktake.applied'
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

CREATE OR REPLACE FUNCTION stockroom_event_module(p_type text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog
AS $$
    SELECT CASE split_part(p_type, '.', 1)
        WHEN 'product' THEN 'products'
        WHEN 'stock' THEN 'inventory'
        WHEN 'reservation' THEN 'inventory'
        WHEN 'stocktake' THEN 'inventory'
        WHEN 'purchase_order' THEN 'purchasing'
        WHEN 'payment' THEN 'purchasing'
        WHEN 'supplier' THEN 'suppliers'
        WHEN 'task' THEN 'tasks'
        WHEN 'member' THEN 'members'
    END
$$;

