-- Every organization has a default currency (chosen at registration, USD when none is given,
-- changed by owners and admins): products and purchase orders created without a currency take it.
ALTER TABLE organizations
    ADD COLUMN default_currency char(3) NOT NULL DEFAULT 'USD'
        CHECK (default_currency ~ '^[A-Z]{3}$');
