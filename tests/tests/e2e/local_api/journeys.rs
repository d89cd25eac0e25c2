//! What a shop does through one base URL: people and keys, the catalogue, stock, to-dos, the
//! dashboard, a scheduled job, Wise's webhooks.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_owner_manages_people_and_keys_through_one_base_url(pool: PgPool) {
    let api = start(&pool).await;
    let client = reqwest::Client::new();
    let session = sign_up(&client, &api).await;
    let token = session["access_token"].as_str().unwrap();
    let created = client
        .post(format!("{}/api/users", api.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"email": "bob@example.com", "name": "Bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(created.json::<Value>().await.unwrap()["status"], "invited");
    let step_up: Value = client
        .post(format!("{}/api/auth/step-up", api.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"password": "Corr3ct-horse", "action": "POST /api/api-keys"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key: Value = client
        .post(format!("{}/api/api-keys", api.base))
        .bearer_auth(token)
        .header(
            "x-step-up-token",
            step_up["step_up_token"].as_str().unwrap(),
        )
        .json(&serde_json::json!({"name": "Till", "scopes": ["products:read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(key["key"].as_str().unwrap().starts_with("sk_"));
    let log: Value = get_json(
        &client,
        format!("{}/api/audit-log?limit=10", api.base),
        token,
    )
    .await;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "api_key_created",
            "step_up",
            "user_invited",
            "login",
            "register"
        ]
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_catalogue_is_built_through_one_base_url(pool: PgPool) {
    let api = start(&pool).await;
    let client = reqwest::Client::new();
    let session = sign_up(&client, &api).await;
    let token = session["access_token"].as_str().unwrap();
    let supplier: Value = client
        .post(format!("{}/api/suppliers", api.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": "Bolt Co"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = client
        .post(format!("{}/api/products", api.base))
        .bearer_auth(token)
        .header("idempotency-key", "e2e-1")
        .json(
            &serde_json::json!({"sku": "B-1", "name": "Bolt", "price": "0.25", "currency": "GBP",
            "supplier_id": supplier["id"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let list: Value = get_json(&client, format!("{}/api/products?q=bolt", api.base), token).await;
    assert_eq!(list["items"][0]["price"], "0.25");
    let id = list["items"][0]["id"].as_str().unwrap();
    let detail: Value = get_json(&client, format!("{}/api/products/{id}", api.base), token).await;
    assert_eq!(detail["supplier"]["name"], "Bolt Co");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn stock_is_received_and_reserved_through_one_base_url(pool: PgPool) {
    let api = start(&pool).await;
    let client = reqwest::Client::new();
    let session = sign_up(&client, &api).await;
    let token = session["access_token"].as_str().unwrap();
    let product: Value = client
        .post(format!("{}/api/products", api.base))
        .bearer_auth(token)
        .json(
            &serde_json::json!({"sku": "B-1", "name": "Bolt", "price": "0.25", "currency": "GBP"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let received = client
        .post(format!("{}/api/inventory/movements", api.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"kind": "receive", "product_id": product["id"], "quantity": 3, "reason": "delivery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(received.status(), 201);
    let too_many = client
        .post(format!("{}/api/inventory/reservations", api.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"product_id": product["id"], "quantity": 4, "expires_in_seconds": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(too_many.status(), 409);
    assert_eq!(too_many.json::<Value>().await.unwrap()["available"], 3);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_scheduler_runs_a_job_from_an_example_event(pool: PgPool) {
    let url = shared::testing::database_url(&pool).to_string();
    let api = LocalApi::start(
        &["scheduler"],
        &[("DATABASE_URL", &url), ("SECRET_KEY", e2e::SECRET_KEY)],
    );
    // What `cargo lambda invoke scheduler --data-file events/expire_reservations.json` sends.
    let event = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/expire_reservations.json"
    ))
    .unwrap();
    let response = reqwest::Client::new()
        .post(format!(
            "{}/2015-03-31/functions/scheduler/invocations",
            api.base
        ))
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        serde_json::json!({"expired_reservations": 0})
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_user_keeps_to_dos_at_both_task_paths(pool: PgPool) {
    let api = start(&pool).await;
    let client = reqwest::Client::new();
    let session = sign_up(&client, &api).await;
    let token = session["access_token"].as_str().unwrap();
    let user_id = session["user"]["id"].as_str().unwrap();
    let created = client
        .post(format!("{}/api/{user_id}/tasks", api.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"title": "Count the bolts"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let task: Value = created.json().await.unwrap();
    let id = task["id"].as_str().unwrap();
    let toggled = client
        .patch(format!("{}/api/tasks/{id}/complete", api.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(toggled.status(), 200);
    assert_eq!(
        toggled.json::<Value>().await.unwrap()["status"],
        "Completed"
    );
    let list: Value = get_json(
        &client,
        format!("{}/api/tasks?status=Completed", api.base),
        token,
    )
    .await;
    assert_eq!(list["items"][0]["id"], id);
    let other = client
        .get(format!(
            "{}/api/{}/tasks",
            api.base, "00000000-0000-4000-8000-000000000001"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    // The owner may reach their team's to-dos, but this id is nobody in the organization: an id
    // they may not manage (403), whether or not it is anyone anywhere.
    assert_eq!(other.status(), 403);
    assert_eq!(other.headers()["content-type"], "application/problem+json");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_dashboard_summarises_and_exports_through_one_base_url(pool: PgPool) {
    let api = start(&pool).await;
    let client = reqwest::Client::new();
    let session = sign_up(&client, &api).await;
    let token = session["access_token"].as_str().unwrap();
    let created = client
        .post(format!("{}/api/products", api.base))
        .bearer_auth(token)
        .json(
            &serde_json::json!({"sku": "B-1", "name": "Bolt", "price": "0.25", "currency": "GBP"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let summary: Value = get_json(
        &client,
        format!("{}/api/dashboard/summary", api.base),
        token,
    )
    .await;
    assert_eq!(summary["products"], 1);
    assert_eq!(summary["recent_activity"][0]["action"], "product_created");

    let csv = client
        .get(format!("{}/api/dashboard/export/products.csv", api.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let body = csv.text().await.unwrap();
    assert!(body.starts_with("sku,name,price,"), "{body}");
    assert!(body.contains("B-1,Bolt,0.25,GBP"), "{body}");

    let xlsx = client
        .get(format!("{}/api/dashboard/export/stock.xlsx", api.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(xlsx.status(), 200);
    assert!(
        xlsx.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .ends_with(".xlsx\"")
    );
    // An XLSX file is a zip archive; the binary body must arrive intact through the event path.
    assert!(xlsx.bytes().await.unwrap().starts_with(b"PK\x03\x04"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn wise_webhooks_reach_their_function_and_are_refused_without_a_key(pool: PgPool) {
    let api = start(&pool).await;
    let response = reqwest::Client::new()
        .post(format!("{}/webhooks/wise", api.base))
        .header("content-type", "application/json")
        .body(r#"{"event_type": "transfers#state-change"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "webhooks_not_configured"
    );
}
