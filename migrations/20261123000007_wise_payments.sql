-- Paying suppliers for purchase orders through Wise: one payment per order, the Wise recipient
-- account created for each supplier's bank details, and the webhook deliveries already handled.

-- pending: Stockroom is talking to Wise; processing: the transfer is funded and on its way;
-- paid: Wise sent the money out; failed: Wise refused (a retry is possible) or the money came
-- back; cancelled: the transfer was cancelled at Wise (a retry starts a new transfer).
CREATE TYPE payment_status AS ENUM ('pending', 'processing', 'paid', 'failed', 'cancelled');

CREATE TABLE purchase_order_payments (
    purchase_order_id        uuid PRIMARY KEY,
    org_id                   uuid NOT NULL,
    status                   payment_status NOT NULL,
    -- A new attempt (and a new transfer) starts only after Wise closed the previous transfer
    -- unpaid; retries within an attempt reuse its customer transaction id, Wise's idempotency
    -- key, so they can never create a second transfer.
    attempt                  integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    customer_transaction_id  uuid NOT NULL UNIQUE,
    amount                   numeric(14, 2) NOT NULL CHECK (amount > 0),
    currency                 char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    source_currency          char(3) NOT NULL CHECK (source_currency ~ '^[A-Z]{3}$'),
    -- What the transfer costs in source_currency, from Wise's quote (fees included).
    source_amount            numeric(14, 2),
    wise_profile_id          bigint NOT NULL,
    wise_quote_id            uuid,
    wise_recipient_id        bigint,
    wise_transfer_id         bigint,
    -- The latest transfer state Wise reported, and when it happened (NULL when it came from an
    -- API answer rather than an event): older events never overwrite newer ones.
    wise_state               text CHECK (length(wise_state) <= 100),
    wise_state_at            timestamptz,
    failure_code             text CHECK (length(failure_code) <= 200),
    failure_message          text CHECK (length(failure_message) <= 1000),
    -- When the latest /pay call began talking to Wise; a `pending` older than a few minutes was
    -- interrupted and may be retried.
    started_at               timestamptz NOT NULL DEFAULT now(),
    paid_at                  timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, purchase_order_id) REFERENCES purchase_orders (org_id, id) ON DELETE CASCADE
);
-- Webhooks find the payment by its transfer.
CREATE UNIQUE INDEX purchase_order_payments_transfer_key
    ON purchase_order_payments (wise_profile_id, wise_transfer_id);
CREATE INDEX purchase_order_payments_org_idx ON purchase_order_payments (org_id, status);

-- A supplier's Wise recipient account, created once per version of its bank details and Wise
-- profile: new details (a new sealed value, so a new digest) get a new recipient.
CREATE TABLE wise_recipients (
    org_id             uuid NOT NULL,
    supplier_id        uuid NOT NULL,
    wise_profile_id    bigint NOT NULL,
    -- SHA-256 of the sealed payment details (never of the plaintext).
    details_digest     bytea NOT NULL,
    wise_recipient_id  bigint NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (supplier_id, wise_profile_id, details_digest),
    FOREIGN KEY (org_id, supplier_id) REFERENCES suppliers (org_id, id) ON DELETE CASCADE
);

-- Webhook deliveries already handled, by Wise's X-Delivery-Id: a repeated delivery is answered
-- without being processed again. Not tenant data: written by the webhooks function only.
CREATE TABLE wise_webhook_deliveries (
    delivery_id   text PRIMARY KEY CHECK (length(delivery_id) BETWEEN 1 AND 200),
    event_type    text NOT NULL CHECK (length(event_type) <= 200),
    transfer_id   bigint,
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wise_webhook_deliveries_received_idx ON wise_webhook_deliveries (received_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON purchase_order_payments, wise_recipients TO stockroom_app;
ALTER TABLE purchase_order_payments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON purchase_order_payments TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
ALTER TABLE wise_recipients ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON wise_recipients TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
-- No tenant reads or writes deliveries.
REVOKE ALL ON wise_webhook_deliveries FROM stockroom_app;
ALTER TABLE wise_webhook_deliveries ENABLE ROW LEVEL SECURITY;
