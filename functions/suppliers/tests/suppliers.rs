mod support;

use http::{Method, StatusCode};
use serde_json::json;
use shared::testing::assert_problem;
use sqlx::PgPool;
use support::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn payment_details_are_sealed_and_only_summarised(pool: PgPool) {
    let apps = apps(pool.clone());
    let org = org(&apps, "ann@example.com").await;
    let supplier = create(&apps, &org, json!({"name": "Acme Tools", "email": "Sales@Acme.example", "payment_details": iban_details()})).await;
    assert_eq!(supplier["email"], "sales@acme.example");
    assert_eq!(
        supplier["payment_details"],
        json!({"account_holder_name": "Acme Tools GmbH", "currency": "EUR", "type": "iban", "account_ending": "3000"})
    );
    let id: uuid::Uuid = supplier["id"].as_str().unwrap().parse().unwrap();
    let detail = apps
        .suppliers
        .get_with(&format!("/api/suppliers/{id}"), &org.token)
        .await;
    assert!(!detail.body.to_string().contains("DE89"), "{}", detail.body);

    let sealed: Vec<u8> = sqlx::query_scalar("SELECT payment_details FROM suppliers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("DE89"));
    let opened = suppliers::PaymentDetails::open(&apps.state.settings.keys, id, &sealed)
        .await
        .unwrap();
    assert_eq!(opened.details["iban"], "DE89370400440532013000");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn invalid_payment_details_are_422(pool: PgPool) {
    let apps = apps(pool.clone());
    let org = org(&apps, "ann@example.com").await;
    let mut details = iban_details();
    details["details"]["iban"] = json!("DE00 1234");
    let r = apps
        .suppliers
        .post_with(
            "/api/suppliers",
            json!({"name": "X", "payment_details": details}),
            &org.token,
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "payment_details.details.iban");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM suppliers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn contacts_are_added_updated_and_removed_with_one_primary(pool: PgPool) {
    let apps = apps(pool);
    let org = org(&apps, "ann@example.com").await;
    let supplier = create(&apps, &org, json!({"name": "Acme"})).await;
    let base = format!(
        "/api/suppliers/{}/contacts",
        supplier["id"].as_str().unwrap()
    );
    let pat = apps
        .suppliers
        .post_with(
            &base,
            json!({"name": "Pat", "email": "pat@acme.example", "is_primary": true}),
            &org.token,
        )
        .await;
    assert_eq!(pat.status, StatusCode::CREATED, "{}", pat.body);
    let sam = apps
        .suppliers
        .post_with(
            &base,
            json!({"name": "Sam", "role": "Accounts", "is_primary": true}),
            &org.token,
        )
        .await;
    let contacts = apps.suppliers.get_with(&base, &org.token).await;
    let primaries: Vec<&str> = contacts.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["is_primary"] == true)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(primaries, ["Sam"]);

    let sam_path = format!("{base}/{}", sam.body["id"].as_str().unwrap());
    let updated = apps
        .suppliers
        .request(
            Method::PATCH,
            &sam_path,
            Some(json!({"phone": "+44 20 7946 0000", "role": null})),
            Some(&org.token),
        )
        .await;
    assert_eq!(updated.body["phone"], "+44 20 7946 0000");
    assert!(updated.body["role"].is_null());
    let removed = apps
        .suppliers
        .request(Method::DELETE, &sam_path, None, Some(&org.token))
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let detail = apps
        .suppliers
        .get_with(
            &format!("/api/suppliers/{}", supplier["id"].as_str().unwrap()),
            &org.token,
        )
        .await;
    assert_eq!(detail.body["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(detail.body["contacts"][0]["name"], "Pat");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn deactivated_suppliers_leave_the_list(pool: PgPool) {
    let apps = apps(pool);
    let org = org(&apps, "ann@example.com").await;
    let a = create(&apps, &org, json!({"name": "Bravo"})).await;
    create(&apps, &org, json!({"name": "alpha"})).await;
    let names = |r: &shared::testing::TestResponse| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&apps.suppliers.get_with("/api/suppliers", &org.token).await),
        ["alpha", "Bravo"]
    );
    let off = apps
        .suppliers
        .post_with(
            &format!("/api/suppliers/{}/deactivate", a["id"].as_str().unwrap()),
            json!({}),
            &org.token,
        )
        .await;
    assert_eq!(off.body["is_active"], false);
    assert_eq!(
        names(&apps.suppliers.get_with("/api/suppliers", &org.token).await),
        ["alpha"]
    );
    assert_eq!(
        names(
            &apps
                .suppliers
                .get_with("/api/suppliers?active=false", &org.token)
                .await
        ),
        ["Bravo"]
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_update_changes_only_what_was_sent(pool: PgPool) {
    let apps = apps(pool);
    let org = org(&apps, "ann@example.com").await;
    let s = create(
        &apps,
        &org,
        json!({"name": "Acme", "phone": "123", "payment_details": iban_details()}),
    )
    .await;
    let path = format!("/api/suppliers/{}", s["id"].as_str().unwrap());
    let r = apps
        .suppliers
        .request(
            Method::PATCH,
            &path,
            Some(json!({"notes": "Closed in August", "payment_details": null})),
            Some(&org.token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["phone"], "123");
    assert_eq!(r.body["notes"], "Closed in August");
    assert!(r.body["payment_details"].is_null());
    let bad = apps
        .suppliers
        .request(
            Method::PATCH,
            &path,
            Some(json!({"website": "ftp://x"})),
            Some(&org.token),
        )
        .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn creating_twice_with_one_idempotency_key_creates_one_supplier(pool: PgPool) {
    let apps = apps(pool.clone());
    let org = org(&apps, "ann@example.com").await;
    let send = || {
        let request = http::Request::post("/api/suppliers")
            .header("authorization", format!("Bearer {}", org.token))
            .header("content-type", "application/json")
            .header("idempotency-key", "supplier-1")
            .body(axum::body::Body::from(json!({"name": "Acme"}).to_string()))
            .unwrap();
        shared::testing::send(&apps.suppliers.router, request)
    };
    let first = send().await;
    let second = send().await;
    assert_eq!(first.body["id"], second.body["id"]);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM suppliers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn read_access_cannot_write(pool: PgPool) {
    let apps = apps(pool.clone());
    let org = org(&apps, "ann@example.com").await;
    let reader = reader(&apps, &org, "r@example.com").await;
    assert_eq!(
        apps.suppliers
            .get_with("/api/suppliers", &reader)
            .await
            .status,
        StatusCode::OK
    );
    let r = apps
        .suppliers
        .post_with("/api/suppliers", json!({"name": "Nope"}), &reader)
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "missing_permission");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_organizations_supplier_is_404_everywhere_and_unchanged(pool: PgPool) {
    let apps = apps(pool.clone());
    let a = org(&apps, "a@example.com").await;
    let b = org(&apps, "b@example.com").await;
    let theirs = create(&apps, &b, json!({"name": "B Supplies"})).await;
    let id = theirs["id"].as_str().unwrap();
    let contact = apps
        .suppliers
        .post_with(
            &format!("/api/suppliers/{id}/contacts"),
            json!({"name": "Bea"}),
            &b.token,
        )
        .await;
    let contact_id = contact.body["id"].as_str().unwrap();
    let snapshot = || async {
        sqlx::query_as::<_, (String, bool, i64)>(
            "SELECT name, is_active, (SELECT count(*) FROM supplier_contacts) FROM suppliers",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let before = snapshot().await;
    for (method, path, body) in [
        (Method::GET, format!("/api/suppliers/{id}"), None),
        (
            Method::PATCH,
            format!("/api/suppliers/{id}"),
            Some(json!({"name": "Mine"})),
        ),
        (
            Method::POST,
            format!("/api/suppliers/{id}/deactivate"),
            None,
        ),
        (
            Method::POST,
            format!("/api/suppliers/{id}/reactivate"),
            None,
        ),
        (Method::GET, format!("/api/suppliers/{id}/contacts"), None),
        (
            Method::POST,
            format!("/api/suppliers/{id}/contacts"),
            Some(json!({"name": "Spy"})),
        ),
        (
            Method::PATCH,
            format!("/api/suppliers/{id}/contacts/{contact_id}"),
            Some(json!({"name": "Spy"})),
        ),
        (
            Method::DELETE,
            format!("/api/suppliers/{id}/contacts/{contact_id}"),
            None,
        ),
    ] {
        let r = apps
            .suppliers
            .request(method.clone(), &path, body, Some(&a.token))
            .await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(snapshot().await, before, "{method} {path}");
    }
    assert_eq!(
        apps.suppliers
            .get_with("/api/suppliers", &a.token)
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}
