-- Catalogue: suppliers and their contacts, products, price history; idempotency keys.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE suppliers (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL REFERENCES organizations (id),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email            text CHECK (length(email) <= 254),
    phone            text CHECK (length(phone) <= 50),
    website          text CHECK (length(website) <= 500),
    address          text CHECK (length(address) <= 1000),
    notes            text CHECK (length(notes) <= 5000),
    -- Bank details for Wise payouts: AES-256-GCM sealed JSON, bound to the supplier id.
    payment_details  bytea,
    -- What may be shown: holder name, currency and the last digits of the account.
    payment_summary  jsonb,
    is_active        boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);
CREATE INDEX suppliers_org_name_idx ON suppliers (org_id, lower(name), id);

CREATE TABLE supplier_contacts (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL,
    supplier_id  uuid NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email        text CHECK (length(email) <= 254),
    phone        text CHECK (length(phone) <= 50),
    role         text CHECK (length(role) <= 100),
    is_primary   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- A contact belongs to a supplier of the same organization.
    FOREIGN KEY (org_id, supplier_id) REFERENCES suppliers (org_id, id) ON DELETE CASCADE
);
CREATE INDEX supplier_contacts_supplier_idx ON supplier_contacts (supplier_id, created_at, id);
CREATE UNIQUE INDEX supplier_contacts_one_primary ON supplier_contacts (supplier_id) WHERE is_primary;

CREATE TABLE products (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id         uuid NOT NULL REFERENCES organizations (id),
    sku            text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description    text CHECK (length(description) <= 5000),
    price          numeric(14, 2) NOT NULL CHECK (price >= 0),
    currency       char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    cost           numeric(14, 2) CHECK (cost >= 0),
    unit           text NOT NULL DEFAULT 'each' CHECK (length(unit) BETWEEN 1 AND 20),
    barcode        text CHECK (length(barcode) <= 64),
    reorder_point  integer NOT NULL DEFAULT 0 CHECK (reorder_point >= 0),
    best_seller    boolean NOT NULL DEFAULT false,
    supplier_id    uuid,
    is_active      boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    -- A product's supplier is one of the same organization.
    FOREIGN KEY (org_id, supplier_id) REFERENCES suppliers (org_id, id)
);
CREATE UNIQUE INDEX products_org_sku_key ON products (org_id, lower(sku));
-- Keyset pagination for each sort order, active rows first-class.
CREATE INDEX products_org_name_idx ON products (org_id, is_active, lower(name), id);
CREATE INDEX products_org_created_idx ON products (org_id, is_active, created_at, id);
CREATE INDEX products_org_updated_idx ON products (org_id, is_active, updated_at, id);
CREATE INDEX products_org_price_idx ON products (org_id, is_active, price, id);
CREATE INDEX products_org_sku_idx ON products (org_id, is_active, lower(sku), id);
CREATE INDEX products_supplier_idx ON products (org_id, supplier_id);
-- Text search on name and SKU ("contains").
CREATE INDEX products_search_idx ON products USING gin ((lower(name) || ' ' || lower(sku)) gin_trgm_ops);

CREATE TABLE price_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id      uuid NOT NULL,
    product_id  uuid NOT NULL,
    price       numeric(14, 2) NOT NULL,
    currency    char(3) NOT NULL,
    cost        numeric(14, 2),
    changed_by_user_id     uuid,
    changed_by_api_key_id  uuid,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, product_id) REFERENCES products (org_id, id)
);
CREATE INDEX price_history_product_idx ON price_history (product_id, changed_at DESC, id DESC);

-- Idempotency-Key: a retried create replays its first response (24 h).
CREATE TABLE idempotency_keys (
    org_id        uuid NOT NULL REFERENCES organizations (id),
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash  bytea NOT NULL,
    status        smallint,
    response      jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (org_id, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

-- Second wall: row-level security for tenant requests (see migration 3).
ALTER TABLE suppliers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON suppliers TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
ALTER TABLE supplier_contacts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON supplier_contacts TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
ALTER TABLE products ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON products TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
ALTER TABLE price_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON price_history TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
