//! `/api/organization` and registration: the default currency, who reads and changes it, and
//! what takes it.

use super::*;

// 2. The organization's default currency.

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn registering_with_a_currency_makes_it_the_organization_default(pool: PgPool) {
    let api = start(&pool);
    let r = registered(
        &api,
        json!({"email": "eve@example.com", "password": PASSWORD, "currency": "EUR"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["organization"]["default_currency"], "EUR");
    let eve = Caller::with_token(&api, r.body["access_token"].as_str().unwrap());
    assert_eq!(
        eve.read("/api/organization").await["default_currency"],
        "EUR"
    );
    assert_eq!(stored_default_currency(&pool).await, "EUR");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn registering_with_a_lower_case_currency_is_422_and_creates_nothing(pool: PgPool) {
    let api = start(&pool);
    let r = register(
        &api,
        json!({"email": "eve@example.com", "password": PASSWORD, "currency": "eur"}),
    )
    .await;
    assert_refused(&r, &["currency"]);
    assert_eq!(count(&pool, "SELECT count(*) FROM organizations").await, 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM users").await, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn every_member_and_api_key_reads_the_organization(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let bob = member(&api, &ann, "bob@example.com").await;
    let key = ann
        .created(
            "/api/api-keys",
            json!({"name": "Shop sync", "scopes": ["products:read"]}),
        )
        .await;
    let sync = Caller::with_token(&api, key["key"].as_str().unwrap());

    let org_id: String = sqlx::query_scalar("SELECT id::text FROM organizations")
        .fetch_one(&pool)
        .await
        .unwrap();
    for (who, caller) in [("owner", &ann), ("member", &bob), ("API key", &sync)] {
        let org = caller.get("/api/organization").await;
        assert_eq!(org.status, 200, "{who}: {}", org.body);
        assert_eq!(org.body["id"], org_id.as_str(), "{who}");
        assert_eq!(org.body["name"], "Acme", "{who}");
        assert_eq!(org.body["default_currency"], "USD", "{who}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_owner_changes_the_default_currency_and_me_shows_it(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    assert_eq!(
        ann.read("/api/auth/me").await["organization"]["default_currency"],
        "USD"
    );

    let r = ann
        .patch("/api/organization", json!({"default_currency": "GBP"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["default_currency"], "GBP");
    assert_eq!(r.body["name"], "Acme", "the name was not sent");
    assert_eq!(
        ann.read("/api/auth/me").await["organization"]["default_currency"],
        "GBP"
    );
    assert_eq!(stored_default_currency(&pool).await, "GBP");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_member_who_is_not_an_admin_cannot_change_the_organization(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let bob = member(&api, &ann, "bob@example.com").await;

    let r = bob
        .patch(
            "/api/organization",
            json!({"name": "Bob's", "default_currency": "EUR"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["code"], "admin_required");
    let stored: (String, String) =
        sqlx::query_as("SELECT name, default_currency::text FROM organizations")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(stored, ("Acme".into(), "USD".into()));
    let audited = "SELECT count(*) FROM audit_log WHERE action = 'organization_updated'";
    assert_eq!(count(&pool, audited).await, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_null_or_lower_case_default_currency_is_422_naming_the_field(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    for currency in [json!(null), json!("eur"), json!("Eur")] {
        let r = ann
            .patch("/api/organization", json!({"default_currency": currency}))
            .await;
        assert_refused(&r, &["default_currency"]);
    }
    assert_eq!(stored_default_currency(&pool).await, "USD");
    let audited = "SELECT count(*) FROM audit_log WHERE action = 'organization_updated'";
    assert_eq!(count(&pool, audited).await, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn products_created_without_a_currency_take_the_organization_default(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let first = ann
        .created(
            "/api/products",
            json!({"sku": "A", "name": "A", "price": "1.00"}),
        )
        .await;
    assert_eq!(first["currency"], "USD");

    let r = ann
        .patch("/api/organization", json!({"default_currency": "EUR"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let second = ann
        .created(
            "/api/products",
            json!({"sku": "B", "name": "B", "price": "1.00"}),
        )
        .await;
    assert_eq!(second["currency"], "EUR");
    let explicit = ann
        .created(
            "/api/products",
            json!({"sku": "C", "name": "C", "price": "1.00", "currency": "JPY"}),
        )
        .await;
    assert_eq!(explicit["currency"], "JPY");

    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT sku, currency::text FROM products ORDER BY sku")
            .fetch_all(&pool)
            .await
            .unwrap();
    let expected = [("A", "USD"), ("B", "EUR"), ("C", "JPY")].map(|(s, c)| (s.into(), c.into()));
    assert_eq!(
        stored, expected,
        "a product keeps the currency it was made with"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn purchase_orders_created_without_a_currency_take_the_organization_default(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let (supplier, product) = supplier_and_product(&ann).await;
    let order = |currency: Option<&str>| {
        let mut body = json!({"supplier_id": supplier,
            "lines": [{"product_id": product, "quantity": 100, "unit_cost": "0.25"}]});
        if let Some(currency) = currency {
            body["currency"] = json!(currency);
        }
        body
    };

    let usd = ann.created("/api/purchase-orders", order(None)).await;
    assert_eq!(usd["currency"], "USD");
    let r = ann
        .patch("/api/organization", json!({"default_currency": "GBP"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let gbp = ann.created("/api/purchase-orders", order(None)).await;
    assert_eq!(gbp["currency"], "GBP");
    let eur = ann
        .created("/api/purchase-orders", order(Some("EUR")))
        .await;
    assert_eq!(eur["currency"], "EUR");

    let mut stored: Vec<String> = sqlx::query_scalar("SELECT currency::text FROM purchase_orders")
        .fetch_all(&pool)
        .await
        .unwrap();
    stored.sort();
    assert_eq!(stored, ["EUR", "GBP", "USD"], "an order keeps its currency");
}

// 4. Registering with an email and a password only.

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn registering_with_only_email_and_password_names_the_person_and_organization(pool: PgPool) {
    let api = start(&pool);
    let r = registered(
        &api,
        json!({"email": "ann.smith@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user"]["name"], "Ann Smith");
    assert_eq!(r.body["user"]["role"], "owner");
    assert_eq!(r.body["organization"]["name"], "Ann Smith's organization");
    assert_eq!(r.body["organization"]["default_currency"], "USD");

    let stored: (String, String) = sqlx::query_as(
        "SELECT u.name, o.name FROM users u JOIN memberships m ON m.user_id = u.id
         JOIN organizations o ON o.id = m.org_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        stored,
        ("Ann Smith".into(), "Ann Smith's organization".into())
    );
}
