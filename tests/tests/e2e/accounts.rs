//! People, organizations and sign-in through the real binaries behind `cargo lambda watch`,
//! logged in as each function's own role: one person in two organizations sees each one's data
//! only with that organization's token, and a flood of failed sign-ins never keeps an account's
//! owner out on a device they signed in from before.
//!
//! Routes: `GET /api/auth/organizations`, `POST /api/auth/switch`.

use e2e::LocalApi;
use reqwest::Client;
use serde_json::{Value, json};
use shared::db::Login;
use sqlx::PgPool;

const PASSWORD: &str = "Corr3ct-horse";

async fn start(pool: &PgPool) -> LocalApi {
    let tenant = shared::testing::login_url(pool, Login::Tenant).await;
    let auth = shared::testing::login_url(pool, Login::Auth).await;
    let worker = shared::testing::login_url(pool, Login::Worker).await;
    LocalApi::on_database(
        shared::testing::database_url(pool).as_str(),
        &[
            ("TENANT_DATABASE_URL", tenant.as_str()),
            ("AUTH_DATABASE_URL", auth.as_str()),
            ("WORKER_DATABASE_URL", worker.as_str()),
        ],
    )
}

/// `method path` with a bearer token and a JSON body: the status and the body.
async fn call(
    client: &Client,
    api: &LocalApi,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, format!("{}{path}", api.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn token(body: &Value, name: &str) -> String {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {body}"))
        .to_owned()
}

/// The SKUs of the products `token` sees.
async fn skus(client: &Client, api: &LocalApi, token: &str) -> Vec<String> {
    let (status, body) = call(
        client,
        api,
        reqwest::Method::GET,
        "/api/products",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn one_person_in_two_organizations_sees_each_only_with_its_token(pool: PgPool) {
    let api = start(&pool).await;
    let client = Client::new();
    use reqwest::Method;
    // Ann's shop and Bea's books, each with a product of its own.
    let ann = api.sign_up_as(&client, "ann@shop.example", "Shop").await;
    let bea = api.sign_up_as(&client, "bea@books.example", "Books").await;
    let (ann_token, bea_books) = (token(&ann, "access_token"), token(&bea, "access_token"));
    for (who, sku) in [(&ann_token, "SHOP-1"), (&bea_books, "BOOKS-1")] {
        let product = json!({"sku": sku, "name": sku, "price": "1.00", "currency": "USD"});
        let (status, body) = call(
            &client,
            &api,
            Method::POST,
            "/api/products",
            Some(who),
            Some(product),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    // Ann invites Bea, who accepts signed in: her session (this device) moves to the shop.
    let invite = json!({"email": "bea@books.example", "name": "Bea", "role": "user",
                        "permissions": {"products": "read"}});
    let (status, body) = call(
        &client,
        &api,
        Method::POST,
        "/api/users",
        Some(&ann_token),
        Some(invite),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "invited");
    let link = api
        .mailed_token("bea@books.example", "/accept-invitation")
        .await;
    let (status, accepted) = call(
        &client,
        &api,
        Method::POST,
        "/api/auth/invitation/accept",
        Some(&bea_books),
        Some(json!({ "token": link })),
    )
    .await;
    assert_eq!(status, 200, "{accepted}");
    let bea_shop = token(&accepted, "access_token");

    // Each token sees its own organization's rows, and only them.
    assert_eq!(skus(&client, &api, &bea_shop).await, ["SHOP-1"]);
    assert_eq!(skus(&client, &api, &bea_books).await, ["BOOKS-1"]);
    // In the shop Bea may read, not write; in her books she is the owner.
    let product = json!({"sku": "X", "name": "X", "price": "1.00", "currency": "USD"});
    let (status, _) = call(
        &client,
        &api,
        Method::POST,
        "/api/products",
        Some(&bea_shop),
        Some(product.clone()),
    )
    .await;
    assert_eq!(status, 403);
    let (_, orgs) = call(
        &client,
        &api,
        Method::GET,
        "/api/auth/organizations",
        Some(&bea_shop),
        None,
    )
    .await;
    let names: Vec<(&str, bool)> = orgs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap(), o["current"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        names,
        [("Shop", true), ("Books", false)],
        "the one used last first"
    );

    // Back to her books: new tokens there, and the refresh token follows the session.
    let books_id = bea["organization"]["id"].clone();
    let (status, switched) = call(
        &client,
        &api,
        Method::POST,
        "/api/auth/switch",
        Some(&bea_shop),
        Some(json!({ "organization_id": books_id })),
    )
    .await;
    assert_eq!(status, 200, "{switched}");
    assert_eq!(
        skus(&client, &api, &token(&switched, "access_token")).await,
        ["BOOKS-1"]
    );
    let (status, refreshed) = call(
        &client,
        &api,
        Method::POST,
        "/api/auth/refresh",
        None,
        Some(json!({"refresh_token": switched["refresh_token"]})),
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(
        skus(&client, &api, &token(&refreshed, "access_token")).await,
        ["BOOKS-1"]
    );
    // Ann's organization is nothing to Bea's token for her books, and an organization she is
    // not in cannot be switched to.
    let (status, _) = call(
        &client,
        &api,
        Method::POST,
        "/api/auth/switch",
        Some(&ann_token),
        Some(json!({ "organization_id": books_id })),
    )
    .await;
    assert_eq!(status, 404);
    // Deactivated in the shop, Bea keeps her books.
    let (_, shop_members) = call(
        &client,
        &api,
        Method::GET,
        "/api/users",
        Some(&ann_token),
        None,
    )
    .await;
    let bea_id = shop_members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "bea@books.example")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = call(
        &client,
        &api,
        Method::POST,
        &format!("/api/users/{bea_id}/deactivate"),
        Some(&ann_token),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &client,
        &api,
        Method::GET,
        "/api/products",
        Some(&bea_shop),
        None,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        skus(&client, &api, &token(&refreshed, "access_token")).await,
        ["BOOKS-1"]
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_flood_of_failed_sign_ins_never_keeps_the_owner_out_on_a_known_device(pool: PgPool) {
    let api = start(&pool).await;
    let client = Client::new();
    api.sign_up(&client).await;
    let login = |password: &'static str, device: Option<String>| {
        let (client, api) = (&client, &api);
        async move {
            let mut body = json!({"email": "ann@example.com", "password": password});
            if let Some(device) = device {
                body["device_token"] = json!(device);
            }
            call(
                client,
                api,
                reqwest::Method::POST,
                "/api/auth/login",
                None,
                Some(body),
            )
            .await
        }
    };
    // The owner signs in once on her device: it gets its token.
    let (status, first) = login(PASSWORD, None).await;
    assert_eq!(status, 200, "{first}");
    let device = token(&first, "device_token");
    // Someone else guesses at her account from the same address (every request through
    // `cargo lambda watch` comes from one): ten failures an hour from devices it does not know.
    for _ in 0..10 {
        assert_eq!(login("Wrong-passw0rd", None).await.0, 401);
    }
    let (status, refused) = login(PASSWORD, None).await;
    assert_eq!(
        status, 429,
        "an unknown device is held to the account's limit: {refused}"
    );
    // Her device is not.
    let (status, body) = login(PASSWORD, Some(device.clone())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["device_token"], device.as_str());
}

/// A POST of `body` to `path` by `token`, with a step-up for that request as
/// `POST /api/auth/step-up` would sign it (the functions' keys).
async fn stepped_up(
    client: &Client,
    api: &LocalApi,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let step_up = shared::testing::step_up_token_with(&e2e::keys(), token, &format!("POST {path}"));
    let response = client
        .post(format!("{}{path}", api.base))
        .bearer_auth(token)
        .header("x-step-up-token", step_up)
        .json(&body)
        .send()
        .await
        .expect("the API answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Invites `email` as `role` into the organization of `inviter` and accepts as someone new:
/// the new member's access token.
async fn invited_and_joined(
    client: &Client,
    api: &LocalApi,
    inviter: &str,
    email: &str,
    role: &str,
) -> String {
    let body = json!({"email": email, "name": "Invitee", "role": role});
    let (status, body) = stepped_up(client, api, "/api/users", inviter, body).await;
    assert_eq!(status, 201, "{body}");
    let link = api.mailed_token(email, "/accept-invitation").await;
    let (status, joined) = call(
        client,
        api,
        reqwest::Method::POST,
        "/api/auth/invitation/accept",
        None,
        Some(json!({"token": link, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 200, "{joined}");
    token(&joined, "access_token")
}

/// The attack of the issue, replayed through the real binaries: an admin puts their own bank
/// account on a supplier, pays, invites a second address of theirs as an admin, accepts, and
/// approves their own payment. The approval is refused (the new admin is in their cooling-off),
/// and the owner hears of the new admin.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_admin_cannot_approve_their_own_payment_through_an_admin_of_their_making(pool: PgPool) {
    use reqwest::Method;
    let api = start(&pool).await;
    let client = Client::new();
    let owner = api.sign_up(&client).await;
    let (owner_token, org) = (
        token(&owner, "access_token"),
        owner["organization"]["id"].clone(),
    );
    let org_id: uuid::Uuid = org.as_str().unwrap().parse().unwrap();
    // The organization pays through its Wise account (connected as `PUT /api/payments/wise`
    // stores it; nothing here calls Wise).
    let sealed = shared::wise::connection::seal_token(&e2e::keys(), org_id, "wise-token-1234");
    sqlx::query(
        "INSERT INTO wise_connections (org_id, api_token, token_hint, profile_id, profile_type,
                                       profile_name, connected_by)
         VALUES ($1, $2, '1234', 42, 'BUSINESS', 'Acme', $3::uuid)",
    )
    .bind(org_id)
    .bind(sealed)
    .bind(owner["user"]["id"].as_str().unwrap())
    .execute(&pool)
    .await
    .unwrap();
    // Mallory, an admin for long (her cooling-off long over).
    let mallory =
        invited_and_joined(&client, &api, &owner_token, "mallory@example.com", "admin").await;
    sqlx::query("UPDATE memberships SET admin_granted_at = now() - interval '100 days', joined_at = now() - interval '100 days' WHERE user_id = (SELECT id FROM users WHERE email = 'mallory@example.com')")
        .execute(&pool)
        .await
        .unwrap();

    // She creates a supplier with her own account and an order to it, submitted, and pays.
    let supplier = json!({"name": "Mallory Supplies", "payment_details": {
        "account_holder_name": "Mallory", "currency": "EUR", "type": "iban",
        "details": {"iban": "GB33BUKB20201555555555"}}});
    let (status, supplier) = stepped_up(&client, &api, "/api/suppliers", &mallory, supplier).await;
    assert_eq!(status, 201, "{supplier}");
    let product = json!({"sku": "X-1", "name": "X", "price": "1.00", "currency": "EUR"});
    let (status, product) = call(
        &client,
        &api,
        Method::POST,
        "/api/products",
        Some(&mallory),
        Some(product),
    )
    .await;
    assert_eq!(status, 201, "{product}");
    let order = json!({"supplier_id": supplier["id"], "currency": "EUR",
                       "lines": [{"product_id": product["id"], "quantity": 1, "unit_cost": "900.00"}]});
    let (status, order) = call(
        &client,
        &api,
        Method::POST,
        "/api/purchase-orders",
        Some(&mallory),
        Some(order),
    )
    .await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &client,
        &api,
        Method::POST,
        &format!("/api/purchase-orders/{id}/submit"),
        Some(&mallory),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let pay = format!("/api/purchase-orders/{id}/pay");
    let (status, asked) = stepped_up(&client, &api, &pay, &mallory, json!({})).await;
    assert_eq!(
        status, 202,
        "new bank details wait for a second person: {asked}"
    );

    // A second person of her own making: invited by her as an admin, accepted by her.
    let sock =
        invited_and_joined(&client, &api, &mallory, "mallory.two@example.com", "admin").await;
    let approve = format!("/api/purchase-orders/{id}/pay/approve");
    let (status, refused) = stepped_up(&client, &api, &approve, &sock, json!({})).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["code"], "admin_cooling_off");
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM purchase_order_payments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(payments, 0, "nothing was paid");
    // The owner was told of both new admins.
    let told = shared::testing::queued_mail_with(&pool, "ann@example.com", &e2e::keys()).await;
    let subjects: Vec<&str> = told.iter().map(|m| m.subject.as_str()).collect();
    assert!(
        subjects
            .iter()
            .filter(|s| s.contains("is now an admin"))
            .count()
            == 2,
        "{subjects:?}"
    );
}
