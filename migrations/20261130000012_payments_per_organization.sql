-- Payments that are safe for many tenants: each organization pays from its own Wise account,
-- payee changes are dated (a payment to details changed in the last 24 hours needs a second
-- person), and payments at or above an organization's threshold need a second owner or admin.

-- An organization's own Wise connection. The API token is sealed with the data key (bound to the
-- organization's id) and never returned; `token_hint` is its last four characters. A profile
-- belongs to one organization only, so a webhook delivery names at most one.
CREATE TABLE wise_connections (
    org_id          uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    api_token       bytea NOT NULL,
    token_hint      text NOT NULL CHECK (length(token_hint) <= 4),
    profile_id      bigint NOT NULL UNIQUE CHECK (profile_id > 0),
    profile_type    text NOT NULL CHECK (length(profile_type) <= 50),
    profile_name    text NOT NULL CHECK (length(profile_name) <= 300),
    connected_by    uuid NOT NULL REFERENCES users (id),
    connected_at    timestamptz NOT NULL DEFAULT now()
);

-- The approval threshold: a payment of at least `approval_threshold` `approval_currency` (or of
-- any amount in another currency, which cannot be compared without a rate) needs the approval
-- of a second owner or admin. No row, or a NULL threshold: no approval by amount.
CREATE TABLE payment_policies (
    org_id              uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    approval_threshold  numeric(14, 2) CHECK (approval_threshold >= 0),
    approval_currency   char(3) CHECK (approval_currency ~ '^[A-Z]{3}$'),
    updated_by          uuid NOT NULL REFERENCES users (id),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((approval_threshold IS NULL) = (approval_currency IS NULL))
);

-- When a supplier's payment details were last set, changed or removed, and by whom.
ALTER TABLE suppliers
    ADD COLUMN payment_details_changed_at timestamptz,
    ADD COLUMN payment_details_changed_by uuid REFERENCES users (id);

-- pending: waits for a second owner or admin; approved: the payment was let through (it stays
-- valid for retries of the same amount to the same details); rejected; cancelled (the order was
-- cancelled, or its amount or payee changed).
CREATE TYPE payment_approval_status AS ENUM ('pending', 'approved', 'rejected', 'cancelled');

CREATE TABLE payment_approvals (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id             uuid NOT NULL,
    purchase_order_id  uuid NOT NULL,
    status             payment_approval_status NOT NULL DEFAULT 'pending',
    amount             numeric(14, 2) NOT NULL CHECK (amount > 0),
    currency           char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    source_currency    char(3) NOT NULL CHECK (source_currency ~ '^[A-Z]{3}$'),
    -- Why it needs a second person: 'threshold', 'payee_changed'.
    reasons            text[] NOT NULL CHECK (cardinality(reasons) > 0),
    -- The version of the supplier's payment details it was asked for.
    payee_changed_at   timestamptz,
    payee_changed_by   uuid REFERENCES users (id),
    requested_by       uuid NOT NULL REFERENCES users (id),
    requested_at       timestamptz NOT NULL DEFAULT now(),
    decided_by         uuid REFERENCES users (id),
    decided_at         timestamptz,
    FOREIGN KEY (org_id, purchase_order_id) REFERENCES purchase_orders (org_id, id) ON DELETE CASCADE,
    CHECK ((status = 'pending') = (decided_at IS NULL)),
    -- Nobody approves their own request (anyone may withdraw it, or cancel the order).
    CHECK (status <> 'approved' OR decided_by <> requested_by)
);
-- At most one open request per order.
CREATE UNIQUE INDEX payment_approvals_one_pending
    ON payment_approvals (purchase_order_id) WHERE status = 'pending';
CREATE INDEX payment_approvals_org_idx ON payment_approvals (org_id, status, requested_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON wise_connections, payment_policies TO stockroom_app;
GRANT SELECT, INSERT, UPDATE ON payment_approvals TO stockroom_app;
ALTER TABLE wise_connections ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON wise_connections TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
ALTER TABLE payment_policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON payment_policies TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
ALTER TABLE payment_approvals ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON payment_approvals TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

-- Deliveries now say which profile they were for and what came of them (an unknown profile or
-- transfer is recorded and changes nothing).
ALTER TABLE wise_webhook_deliveries
    ADD COLUMN profile_id bigint,
    ADD COLUMN outcome text CHECK (length(outcome) <= 50);
GRANT UPDATE (outcome) ON wise_webhook_deliveries TO stockroom_worker;

-- The organization whose payment made a Wise transfer from that profile: both must match.
CREATE OR REPLACE FUNCTION stockroom_wise_transfer_org(p_transfer bigint, p_profile bigint) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT org_id FROM purchase_order_payments
    WHERE wise_transfer_id = p_transfer AND wise_profile_id = p_profile
    ORDER BY updated_at DESC LIMIT 1
$$;

-- Whether any organization holds (or paid from) a Wise profile, for recording what a delivery
-- for an unknown profile was.
CREATE FUNCTION stockroom_wise_profile_known(p_profile bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT EXISTS (SELECT 1 FROM wise_connections WHERE profile_id = p_profile)
        OR EXISTS (SELECT 1 FROM purchase_order_payments WHERE wise_profile_id = p_profile)
$$;
REVOKE EXECUTE ON FUNCTION stockroom_wise_profile_known(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stockroom_wise_profile_known(bigint) TO stockroom_worker;
