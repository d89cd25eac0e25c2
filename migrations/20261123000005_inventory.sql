-- Stock per product and location, an append-only movement ledger, reservations and purchase
-- orders.

CREATE TABLE locations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organizations (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX locations_org_name_key ON locations (org_id, lower(name));
CREATE UNIQUE INDEX locations_one_default ON locations (org_id) WHERE is_default;

-- Every organization has a default location from its first moment.
CREATE FUNCTION create_default_location() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO locations (org_id, name, is_default) VALUES (NEW.id, 'Main', true);
    RETURN NEW;
END;
$$;
CREATE TRIGGER organizations_default_location
    AFTER INSERT ON organizations FOR EACH ROW EXECUTE FUNCTION create_default_location();
INSERT INTO locations (org_id, name, is_default) SELECT id, 'Main', true FROM organizations;

-- available = on_hand - reserved, never negative.
CREATE TABLE stock_levels (
    org_id       uuid NOT NULL,
    product_id   uuid NOT NULL,
    location_id  uuid NOT NULL,
    on_hand      integer NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved     integer NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (product_id, location_id),
    FOREIGN KEY (org_id, product_id) REFERENCES products (org_id, id),
    FOREIGN KEY (org_id, location_id) REFERENCES locations (org_id, id)
);
CREATE INDEX stock_levels_org_idx ON stock_levels (org_id, product_id);

CREATE TYPE movement_kind AS ENUM ('receive', 'sell', 'adjust', 'transfer_out', 'transfer_in');

CREATE TABLE stock_movements (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id             uuid NOT NULL,
    product_id         uuid NOT NULL,
    location_id        uuid NOT NULL,
    kind               movement_kind NOT NULL,
    -- Signed change of on_hand.
    quantity           integer NOT NULL CHECK (quantity <> 0),
    reason             text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    -- What caused it: a transfer, a reservation, a purchase order line.
    transfer_id        uuid,
    reservation_id     uuid,
    po_line_id         uuid,
    actor_user_id      uuid,
    actor_api_key_id   uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, product_id) REFERENCES products (org_id, id),
    FOREIGN KEY (org_id, location_id) REFERENCES locations (org_id, id)
);
CREATE INDEX stock_movements_org_idx ON stock_movements (org_id, id DESC);
CREATE INDEX stock_movements_product_idx ON stock_movements (org_id, product_id, id DESC);
CREATE TRIGGER stock_movements_append_only
    BEFORE UPDATE OR DELETE ON stock_movements
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();

CREATE TYPE reservation_status AS ENUM ('active', 'confirmed', 'cancelled', 'expired');

CREATE TABLE reservations (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL,
    product_id   uuid NOT NULL,
    location_id  uuid NOT NULL,
    quantity     integer NOT NULL CHECK (quantity > 0),
    status       reservation_status NOT NULL DEFAULT 'active',
    reference    text CHECK (length(reference) <= 200),
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, product_id) REFERENCES products (org_id, id),
    FOREIGN KEY (org_id, location_id) REFERENCES locations (org_id, id)
);
CREATE INDEX reservations_org_idx ON reservations (org_id, created_at DESC, id DESC);
CREATE INDEX reservations_expiry_idx ON reservations (expires_at) WHERE status = 'active';

CREATE TYPE po_status AS ENUM ('draft', 'submitted', 'partially_received', 'received', 'cancelled');

CREATE TABLE purchase_orders (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL,
    supplier_id   uuid NOT NULL,
    status        po_status NOT NULL DEFAULT 'draft',
    currency      char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    notes         text CHECK (length(notes) <= 5000),
    submitted_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, supplier_id) REFERENCES suppliers (org_id, id)
);
CREATE INDEX purchase_orders_org_idx ON purchase_orders (org_id, created_at DESC, id DESC);

CREATE TABLE purchase_order_lines (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id             uuid NOT NULL,
    purchase_order_id  uuid NOT NULL,
    product_id         uuid NOT NULL,
    quantity           integer NOT NULL CHECK (quantity > 0),
    unit_cost          numeric(14, 2) NOT NULL CHECK (unit_cost >= 0),
    received_quantity  integer NOT NULL DEFAULT 0 CHECK (received_quantity >= 0 AND received_quantity <= quantity),
    position           integer NOT NULL,
    FOREIGN KEY (org_id, purchase_order_id) REFERENCES purchase_orders (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, product_id) REFERENCES products (org_id, id)
);
CREATE INDEX purchase_order_lines_po_idx ON purchase_order_lines (purchase_order_id, position);

-- One low-stock digest per organization and day, however often the job runs.
CREATE TABLE low_stock_digests (
    org_id   uuid NOT NULL REFERENCES organizations (id),
    day      date NOT NULL,
    sent_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, day)
);

ALTER TABLE locations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON locations TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
ALTER TABLE stock_levels ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON stock_levels TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
ALTER TABLE stock_movements ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON stock_movements TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
ALTER TABLE reservations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON reservations TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
ALTER TABLE purchase_orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON purchase_orders TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
ALTER TABLE purchase_order_lines ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON purchase_order_lines TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
