//! The contracts frontends written against the original apps rely on, through the real binaries
//! behind `cargo lambda watch`: PUT like PATCH, the organization's default currency, tasks'
//! `completed`, registering with an email and a password only, unknown query parameters and
//! body members named, strict money strings and the refresh token's reuse grace window.
//!
//! Every refusal also checks the database: nothing was written. The auth routes allow 5
//! attempts a minute per client IP, and every request through `cargo lambda watch` comes from
//! the same IP, so no test makes more than 5 register, login or refresh calls.

use std::time::Duration;

use e2e::LocalApi;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

const PASSWORD: &str = "Corr3ct-horse";

/// The API on the test database, with `env` on top of the database URL and secret key.
fn start_with(pool: &PgPool, env: &[(&str, &str)]) -> LocalApi {
    LocalApi::on_database(shared::testing::database_url(pool).as_str(), env)
}

fn start(pool: &PgPool) -> LocalApi {
    start_with(pool, &[])
}

/// An answer: its status and its body as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: Value,
}

/// Someone calling the API: anonymous, or with a bearer token (a user's or an API key).
struct Caller {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
    /// Whether this caller confirms each change with a step-up (as `POST /api/auth/step-up`
    /// would give, signed with the functions' keys), for the actions that need one.
    steps_up: bool,
}

impl Caller {
    fn anonymous(api: &LocalApi) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: api.base.clone(),
            token: None,
            steps_up: false,
        }
    }

    fn with_token(api: &LocalApi, token: &str) -> Self {
        Self {
            token: Some(token.to_owned()),
            ..Self::anonymous(api)
        }
    }

    /// The owner of Ann's organization (Acme), registered with `e2e::sign_up`.
    async fn owner(api: &LocalApi) -> Self {
        let session = api.sign_up(&reqwest::Client::new()).await;
        let mut owner = Self::with_token(api, session["access_token"].as_str().unwrap());
        // The API's own step-up is tested through it once (local_api); here each change gets
        // its proof as that route signs it.
        owner.steps_up = true;
        owner
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let (true, Some(token)) = (self.steps_up && method != Method::GET, &self.token) {
            let action = format!("{method} {}", path.split('?').next().unwrap_or(path));
            let step_up = shared::testing::step_up_token_with(&e2e::keys(), token, &action);
            request = request.header("x-step-up-token", step_up);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        let bytes = response.bytes().await.expect("a body");
        Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PUT, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// `POST path` that must answer 201; the created resource.
    async fn created(&self, path: &str, body: Value) -> Value {
        let answer = self.post(path, body).await;
        assert_eq!(answer.status, 201, "POST {path}: {}", answer.body);
        answer.body
    }

    /// `GET path` that must answer 200; the body.
    async fn read(&self, path: &str) -> Value {
        let answer = self.get(path).await;
        assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
        answer.body
    }
}

/// `POST /api/auth/register` with `body`, as a new visitor.
async fn register(api: &LocalApi, body: Value) -> Answer {
    Caller::anonymous(api)
        .post("/api/auth/register", body)
        .await
}

/// [`register`], then `POST /api/auth/register/confirm` with the link mailed: the sign-in.
async fn registered(api: &LocalApi, body: Value) -> Answer {
    let email = body["email"].as_str().expect("an email").to_owned();
    let asked = register(api, body).await;
    assert_eq!(asked.status, 202, "{}", asked.body);
    let token = api.mailed_token(&email, "/confirm-registration").await;
    Caller::anonymous(api)
        .post("/api/auth/register/confirm", json!({ "token": token }))
        .await
}

/// A `user`-role member of the caller's organization without module permissions, invited by
/// the owner, accepting with the mailed link (and so signed in: one sign-in attempt).
async fn member(api: &LocalApi, owner: &Caller, email: &str) -> Caller {
    owner
        .created(
            "/api/users",
            json!({"email": email, "name": "Bob", "role": "user"}),
        )
        .await;
    let token = api.mailed_token(email, "/accept-invitation").await;
    let accepted = Caller::anonymous(api)
        .post(
            "/api/auth/invitation/accept",
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    assert_eq!(accepted.status, 200, "accept: {}", accepted.body);
    Caller::with_token(api, accepted.body["access_token"].as_str().unwrap())
}

/// Asserts a 422 `validation_failed` problem whose errors name exactly `fields`, in order.
fn assert_refused(answer: &Answer, fields: &[&str]) {
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(answer.body["code"], "validation_failed", "{}", answer.body);
    let named: Vec<&str> = errors(answer).into_iter().map(|(f, _)| f).collect();
    assert_eq!(named, fields, "{}", answer.body);
}

/// The `(field, code)` of each error of a 422 problem.
fn errors(answer: &Answer) -> Vec<(&str, &str)> {
    answer.body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {}", answer.body))
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect()
}

/// A count from the test database (`SELECT count(*) ...`).
async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// The stored default currency of the (only) organization.
async fn stored_default_currency(pool: &PgPool) -> String {
    sqlx::query_scalar("SELECT default_currency::text FROM organizations")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The titles of a page of tasks.
fn titles(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect()
}

/// A supplier and a product of the caller's organization, through the API; their ids.
async fn supplier_and_product(caller: &Caller) -> (String, String) {
    let supplier = caller
        .created("/api/suppliers", json!({"name": "Bolt Works"}))
        .await;
    let product = caller
        .created(
            "/api/products",
            json!({"sku": "BOLT-10", "name": "Bolt M10", "price": "0.40"}),
        )
        .await;
    (
        supplier["id"].as_str().unwrap().to_owned(),
        product["id"].as_str().unwrap().to_owned(),
    )
}

// 1. PUT on products and suppliers is PATCH.

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn put_on_a_product_changes_only_the_fields_sent(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let product = ann
        .created(
            "/api/products",
            json!({"sku": "BOLT-10", "name": "Bolt M10", "description": "Zinc plated",
                   "price": "10.00", "currency": "EUR", "reorder_point": 20}),
        )
        .await;
    let path = format!("/api/products/{}", product["id"].as_str().unwrap());

    let put = ann.put(&path, json!({"price": "12.50"})).await;
    assert_eq!(put.status, 200, "{}", put.body);
    let after = ann.read(&path).await;
    assert_eq!(after["price"], "12.50");
    for kept in ["sku", "name", "description", "currency", "reorder_point"] {
        assert_eq!(after[kept], product[kept], "{kept} was not sent");
    }
    let stored: (String, String, String, Option<String>) = sqlx::query_as(
        "SELECT sku, name, price::text, description FROM products WHERE id = $1::uuid",
    )
    .bind(product["id"].as_str().unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        stored,
        (
            "BOLT-10".into(),
            "Bolt M10".into(),
            "12.50".into(),
            Some("Zinc plated".into())
        )
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn put_on_a_supplier_changes_only_the_fields_sent(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let supplier = ann
        .created(
            "/api/suppliers",
            json!({"name": "Bolt Works", "email": "sales@boltworks.example",
                   "notes": "Ships on Mondays"}),
        )
        .await;
    let path = format!("/api/suppliers/{}", supplier["id"].as_str().unwrap());

    let put = ann.put(&path, json!({"notes": "Ships on Tuesdays"})).await;
    assert_eq!(put.status, 200, "{}", put.body);
    let after = ann.read(&path).await;
    assert_eq!(after["notes"], "Ships on Tuesdays");
    for kept in ["name", "email", "is_active"] {
        assert_eq!(after[kept], supplier[kept], "{kept} was not sent");
    }
    let stored: (String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT name, email, notes FROM suppliers WHERE id = $1::uuid")
            .bind(supplier["id"].as_str().unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        stored,
        (
            "Bolt Works".into(),
            Some("sales@boltworks.example".into()),
            Some("Ships on Tuesdays".into())
        )
    );
}

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

// 3. Tasks' `completed`.

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_task_is_completed_exactly_when_its_status_is_completed(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let open = ann
        .created("/api/tasks", json!({"title": "Count bolts"}))
        .await;
    assert_eq!(
        (&open["status"], &open["completed"]),
        (&json!("Pending"), &json!(false))
    );
    let done = ann
        .created(
            "/api/tasks",
            json!({"title": "Order nuts", "status": "Completed"}),
        )
        .await;
    assert_eq!(
        (&done["status"], &done["completed"]),
        (&json!("Completed"), &json!(true))
    );

    let id = open["id"].as_str().unwrap();
    let toggled = ann
        .send(Method::PATCH, &format!("/api/tasks/{id}/complete"), None)
        .await;
    assert_eq!(toggled.status, 200, "{}", toggled.body);
    assert_eq!(
        (&toggled.body["status"], &toggled.body["completed"]),
        (&json!("Completed"), &json!(true))
    );
    let listed = ann.read("/api/tasks").await;
    for task in listed["items"].as_array().unwrap() {
        assert_eq!(task["completed"], task["status"] == "Completed", "{task}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn completed_on_create_and_put_sets_the_status(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let task = ann
        .created(
            "/api/tasks",
            json!({"title": "Count bolts", "completed": true}),
        )
        .await;
    assert_eq!(
        (&task["status"], &task["completed"]),
        (&json!("Completed"), &json!(true))
    );

    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    let reopened = ann.put(&path, json!({"completed": false})).await;
    assert_eq!(reopened.status, 200, "{}", reopened.body);
    assert_eq!(
        (&reopened.body["status"], &reopened.body["completed"]),
        (&json!("Pending"), &json!(false))
    );
    assert_eq!(
        reopened.body["title"], "Count bolts",
        "the title was not sent"
    );
    let stored: String = sqlx::query_scalar("SELECT status::text FROM tasks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, "Pending");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn tasks_are_filtered_by_completed(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    ann.created("/api/tasks", json!({"title": "Open"})).await;
    ann.created("/api/tasks", json!({"title": "Done", "completed": true}))
        .await;

    assert_eq!(
        titles(&ann.read("/api/tasks?completed=true").await),
        ["Done"]
    );
    assert_eq!(
        titles(&ann.read("/api/tasks?completed=false").await),
        ["Open"]
    );
    let agreeing = ann.read("/api/tasks?completed=true&status=Completed").await;
    assert_eq!(titles(&agreeing), ["Done"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn completed_contradicting_status_is_422_naming_completed(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let r = ann
        .post(
            "/api/tasks",
            json!({"title": "Count bolts", "status": "Pending", "completed": true}),
        )
        .await;
    assert_refused(&r, &["completed"]);
    assert_eq!(count(&pool, "SELECT count(*) FROM tasks").await, 0);

    let task = ann
        .created("/api/tasks", json!({"title": "Order nuts"}))
        .await;
    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    let r = ann
        .put(
            &path,
            json!({"title": "Renamed", "status": "Completed", "completed": false}),
        )
        .await;
    assert_refused(&r, &["completed"]);

    let stored: (String, String) = sqlx::query_as("SELECT title, status::text FROM tasks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, ("Order nuts".into(), "Pending".into()));
    let audited = "SELECT count(*) FROM audit_log WHERE entity = 'task'";
    assert_eq!(count(&pool, audited).await, 1, "only the creation");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_completed_filter_that_is_not_a_boolean_is_422(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let r = ann.get("/api/tasks?completed=yes").await;
    assert_refused(&r, &["completed"]);
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

// 5. Query parameters.

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn unknown_query_parameters_are_422_naming_each(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let r = ann.get("/api/products?colour=red&q=bolt&size=L").await;
    assert_refused(&r, &["colour", "size"]);
    assert!(
        errors(&r)
            .iter()
            .all(|(_, code)| *code == "unknown_parameter"),
        "{}",
        r.body
    );

    // On a write, the refusal comes before anything is stored.
    let r = ann
        .post(
            "/api/products?draft=true",
            json!({"sku": "BOLT-10", "name": "Bolt M10", "price": "0.40"}),
        )
        .await;
    assert_refused(&r, &["draft"]);
    assert_eq!(errors(&r)[0].1, "unknown_parameter");
    assert_eq!(count(&pool, "SELECT count(*) FROM products").await, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn routes_without_query_parameters_refuse_any(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    for path in [
        "/api/auth/me?x=1",
        "/api/organization?x=1",
        "/api/dashboard/summary?x=1",
    ] {
        let r = ann.get(path).await;
        assert_refused(&r, &["x"]);
        assert_eq!(errors(&r)[0].1, "unknown_parameter", "{path}");
    }
    let r = ann
        .patch("/api/organization?x=1", json!({"default_currency": "EUR"}))
        .await;
    assert_refused(&r, &["x"]);
    assert_eq!(stored_default_currency(&pool).await, "USD");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_empty_query_value_means_the_parameter_is_absent(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    ann.created("/api/tasks", json!({"title": "Open"})).await;
    ann.created("/api/tasks", json!({"title": "Done", "completed": true}))
        .await;
    ann.created(
        "/api/products",
        json!({"sku": "BOLT-10", "name": "Bolt M10", "price": "0.40"}),
    )
    .await;

    let tasks = ann
        .read("/api/tasks?status=&completed=&q=&cursor=&limit=")
        .await;
    let mut listed = titles(&tasks);
    listed.sort();
    assert_eq!(listed, ["Done", "Open"]);
    let products = ann
        .read("/api/products?cursor=&active=&sort=&supplier_id=")
        .await;
    assert_eq!(products["items"].as_array().unwrap().len(), 1);
}

// 6. Missing and unknown body members.

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_missing_body_field_is_422_naming_it(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let r = ann
        .post("/api/products", json!({"sku": "BOLT-10", "price": "0.40"}))
        .await;
    assert_refused(&r, &["name"]);
    assert_eq!(errors(&r)[0].1, "required");
    let r = ann.post("/api/tasks", json!({"completed": true})).await;
    assert_refused(&r, &["title"]);
    assert_eq!(errors(&r)[0].1, "required");
    assert_eq!(count(&pool, "SELECT count(*) FROM products").await, 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM tasks").await, 0);

    // In a nested object: the member's full path.
    let (supplier, product) = supplier_and_product(&ann).await;
    let r = ann
        .post(
            "/api/purchase-orders",
            json!({"supplier_id": supplier,
                   "lines": [{"product_id": product, "quantity": 1}]}),
        )
        .await;
    assert_refused(&r, &["lines[0].unit_cost"]);
    assert_eq!(errors(&r)[0].1, "required");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM purchase_orders").await,
        0
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_unknown_body_field_is_422_naming_it(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let r = ann
        .post(
            "/api/products",
            json!({"sku": "BOLT-10", "name": "Bolt M10", "price": "0.40", "colour": "silver"}),
        )
        .await;
    assert_refused(&r, &["colour"]);
    assert_eq!(errors(&r)[0].1, "unknown_field");
    assert_eq!(count(&pool, "SELECT count(*) FROM products").await, 0);

    let (supplier, product) = supplier_and_product(&ann).await;
    let r = ann
        .post(
            "/api/purchase-orders",
            json!({"supplier_id": supplier, "lines": [{"product_id": product,
                   "quantity": 1, "unit_cost": "0.25", "discount": "0.05"}]}),
        )
        .await;
    assert_refused(&r, &["lines[0].discount"]);
    assert_eq!(errors(&r)[0].1, "unknown_field");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM purchase_orders").await,
        0
    );
}

// 7. Money strings.

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn money_strings_outside_the_pattern_are_422_on_price_and_store_nothing(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    for price in ["1e3", "+5", "5.", ".5", "1_000", "1_00"] {
        let r = ann
            .post(
                "/api/products",
                json!({"sku": "BOLT-10", "name": "Bolt M10", "price": price}),
            )
            .await;
        assert_eq!(r.status, 422, "{price}: {}", r.body);
        assert_refused(&r, &["price"]);
    }
    assert_eq!(count(&pool, "SELECT count(*) FROM products").await, 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM price_history").await, 0);
}

// 8. Refresh tokens: a grace window for concurrent refreshes, then reuse revokes the family.

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_refreshes_with_one_token_get_the_same_successor_pair(pool: PgPool) {
    let api = start(&pool);
    let session = api.sign_up(&reqwest::Client::new()).await;
    let token = json!({"refresh_token": session["refresh_token"]});
    let visitor = Caller::anonymous(&api);
    let refresh = || visitor.post("/api/auth/refresh", token.clone());

    let (a, b, c, d) = tokio::join!(refresh(), refresh(), refresh(), refresh());
    let pairs: Vec<(&Value, &Value)> = [&a, &b, &c, &d]
        .iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{}", r.body);
            (&r.body["access_token"], &r.body["refresh_token"])
        })
        .collect();
    assert!(
        pairs[0].0.is_string() && pairs[0].1.is_string(),
        "{}",
        a.body
    );
    assert_ne!(pairs[0].1, &session["refresh_token"], "a new refresh token");
    assert!(pairs.iter().all(|p| *p == pairs[0]), "{pairs:?}");

    let me = Caller::with_token(&api, pairs[0].0.as_str().unwrap())
        .get("/api/auth/me")
        .await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["user"]["email"], "ann@example.com");
    let live =
        "SELECT count(*) FROM refresh_tokens WHERE rotated_at IS NULL AND revoked_at IS NULL";
    assert_eq!(count(&pool, live).await, 1, "one successor session");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_refresh_token_replayed_after_the_grace_window_revokes_its_family(pool: PgPool) {
    let api = start_with(&pool, &[("REFRESH_REUSE_GRACE_SECONDS", "1")]);
    let session = api.sign_up(&reqwest::Client::new()).await;
    let visitor = Caller::anonymous(&api);
    let first = json!({"refresh_token": session["refresh_token"]});
    let rotated = visitor.post("/api/auth/refresh", first.clone()).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let replay = visitor.post("/api/auth/refresh", first).await;
    assert_eq!(replay.status, 401, "{}", replay.body);
    assert_eq!(replay.body["code"], "refresh_token_reused");
    let successor = json!({"refresh_token": rotated.body["refresh_token"]});
    let after = visitor.post("/api/auth/refresh", successor).await;
    assert_eq!(after.status, 401, "{}", after.body);
    assert_eq!(after.body["code"], "invalid_refresh_token");

    let live = "SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL";
    assert_eq!(count(&pool, live).await, 0, "the whole family is revoked");
}
