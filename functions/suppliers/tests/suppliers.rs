mod support;

use http::{Method, StatusCode};
use serde_json::json;
use shared::testing::{Registered, TestApp, assert_problem, member, register};
use sqlx::PgPool;
use support::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn payment_details_are_sealed_and_only_summarised(pool: PgPool) {
    let app = app(pool.clone());
    let org = register(&app, "ann@example.com").await;
    let supplier = create(&app, &org, json!({"name": "Acme Tools", "email": "Sales@Acme.example", "payment_details": iban_details()})).await;
    assert_eq!(supplier["email"], "sales@acme.example");
    assert_eq!(
        supplier["payment_details"],
        json!({"account_holder_name": "Acme Tools GmbH", "currency": "EUR", "type": "iban", "account_ending": "3000"})
    );
    let id: uuid::Uuid = supplier["id"].as_str().unwrap().parse().unwrap();
    let detail = app
        .get_with(&format!("/api/suppliers/{id}"), &org.token)
        .await;
    assert!(!detail.body.to_string().contains("DE89"), "{}", detail.body);

    let sealed: Vec<u8> = sqlx::query_scalar("SELECT payment_details FROM suppliers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("DE89"));
    let opened = suppliers::PaymentDetails::open(&shared::testing::settings(&[]).keys, id, &sealed)
        .await
        .unwrap();
    assert_eq!(opened.details["iban"], "DE89370400440532013000");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn invalid_payment_details_are_422(pool: PgPool) {
    let app = app(pool.clone());
    let org = register(&app, "ann@example.com").await;
    let mut details = iban_details();
    details["details"]["iban"] = json!("DE00 1234");
    let r = app
        .stepped_up(
            Method::POST,
            "/api/suppliers",
            Some(json!({"name": "X", "payment_details": details})),
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
    let app = app(pool);
    let org = register(&app, "ann@example.com").await;
    let supplier = create(&app, &org, json!({"name": "Acme"})).await;
    let base = format!(
        "/api/suppliers/{}/contacts",
        supplier["id"].as_str().unwrap()
    );
    let pat = app
        .post_with(
            &base,
            json!({"name": "Pat", "email": "pat@acme.example", "is_primary": true}),
            &org.token,
        )
        .await;
    assert_eq!(pat.status, StatusCode::CREATED, "{}", pat.body);
    let sam = app
        .post_with(
            &base,
            json!({"name": "Sam", "role": "Accounts", "is_primary": true}),
            &org.token,
        )
        .await;
    let contacts = app.get_with(&base, &org.token).await;
    let primaries: Vec<&str> = contacts.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["is_primary"] == true)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(primaries, ["Sam"]);

    let sam_path = format!("{base}/{}", sam.body["id"].as_str().unwrap());
    let updated = app
        .request(
            Method::PATCH,
            &sam_path,
            Some(json!({"phone": "+44 20 7946 0000", "role": null})),
            Some(&org.token),
        )
        .await;
    assert_eq!(updated.body["phone"], "+44 20 7946 0000");
    assert!(updated.body["role"].is_null());
    let removed = app
        .request(Method::DELETE, &sam_path, None, Some(&org.token))
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let detail = app
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
    let app = app(pool);
    let org = register(&app, "ann@example.com").await;
    let a = create(&app, &org, json!({"name": "Bravo"})).await;
    create(&app, &org, json!({"name": "alpha"})).await;
    let names = |r: &shared::testing::TestResponse| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&app.get_with("/api/suppliers", &org.token).await),
        ["alpha", "Bravo"]
    );
    let off = app
        .post_with(
            &format!("/api/suppliers/{}/deactivate", a["id"].as_str().unwrap()),
            json!({}),
            &org.token,
        )
        .await;
    assert_eq!(off.body["is_active"], false);
    assert_eq!(
        names(&app.get_with("/api/suppliers", &org.token).await),
        ["alpha"]
    );
    assert_eq!(
        names(
            &app.get_with("/api/suppliers?active=false", &org.token)
                .await
        ),
        ["Bravo"]
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_update_changes_only_what_was_sent(pool: PgPool) {
    let app = app(pool);
    let org = register(&app, "ann@example.com").await;
    let s = create(
        &app,
        &org,
        json!({"name": "Acme", "phone": "123", "payment_details": iban_details()}),
    )
    .await;
    let path = format!("/api/suppliers/{}", s["id"].as_str().unwrap());
    let r = app
        .stepped_up(
            Method::PATCH,
            &path,
            Some(json!({"notes": "Closed in August", "payment_details": null})),
            &org.token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["phone"], "123");
    assert_eq!(r.body["notes"], "Closed in August");
    assert!(r.body["payment_details"].is_null());
    let bad = app
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
    let app = app(pool.clone());
    let org = register(&app, "ann@example.com").await;
    let send = || {
        let request = http::Request::post("/api/suppliers")
            .header("authorization", format!("Bearer {}", org.token))
            .header("content-type", "application/json")
            .header("idempotency-key", "supplier-1")
            .body(axum::body::Body::from(json!({"name": "Acme"}).to_string()))
            .unwrap();
        shared::testing::send(&app.router, request)
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
    let app = app(pool.clone());
    let org = register(&app, "ann@example.com").await;
    let reader = member(
        &app,
        &org.org_id,
        "r@example.com",
        json!({"suppliers": "read"}),
    )
    .await
    .token;
    assert_eq!(
        app.get_with("/api/suppliers", &reader).await.status,
        StatusCode::OK
    );
    let r = app
        .post_with("/api/suppliers", json!({"name": "Nope"}), &reader)
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "missing_permission");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_organizations_supplier_is_404_everywhere_and_unchanged(pool: PgPool) {
    let app = app(pool.clone());
    let a = register(&app, "a@example.com").await;
    let b = register(&app, "b@example.com").await;
    let theirs = create(&app, &b, json!({"name": "B Supplies"})).await;
    let id = theirs["id"].as_str().unwrap();
    let contact = app
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
        let r = app
            .request(method.clone(), &path, body, Some(&a.token))
            .await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(snapshot().await, before, "{method} {path}");
    }
    assert_eq!(
        app.get_with("/api/suppliers", &a.token).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

/// The sealed details, their summary, and when and by whom they last changed.
type PayeeRow = (
    Option<Vec<u8>>,
    Option<serde_json::Value>,
    Option<chrono::DateTime<chrono::Utc>>,
    Option<uuid::Uuid>,
);

async fn payee(pool: &PgPool, id: &str) -> PayeeRow {
    sqlx::query_as(
        "SELECT payment_details, payment_summary, payment_details_changed_at,
                payment_details_changed_by
         FROM suppliers WHERE id = $1::uuid",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A person of `role` in `org`, named `name`, signed in.
async fn person(
    app: &TestApp,
    org: &Registered,
    email: &str,
    name: &str,
    role: shared::auth::Role,
    permissions: serde_json::Value,
) -> shared::testing::Registered {
    let person = shared::testing::person(app, &org.org_id, email, role, permissions).await;
    sqlx::query("UPDATE users SET name = $2 WHERE id = $1::uuid")
        .bind(&person.user_id)
        .bind(name)
        .execute(&app.pool)
        .await
        .unwrap();
    person
}

/// An API key of `org` with `scopes` (as stored: `{"suppliers": "write"}`).
async fn api_key(app: &TestApp, org: &Registered, scopes: serde_json::Value) -> String {
    let (key, hash) = shared::auth::tokens::generate("sk");
    sqlx::query(
        "INSERT INTO api_keys (org_id, name, prefix, key_hash, scopes)
         VALUES ($1::uuid, 'till', left($2, 10), $3, $4)",
    )
    .bind(&org.org_id)
    .bind(&key)
    .bind(hash)
    .bind(scopes)
    .execute(&app.pool)
    .await
    .unwrap();
    key
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn changing_payment_details_needs_a_step_up(pool: PgPool) {
    let app = app(pool.clone());
    let org = register(&app, "ann@example.com").await;
    let supplier = create(
        &app,
        &org,
        json!({"name": "Acme", "payment_details": iban_details()}),
    )
    .await;
    let id = supplier["id"].as_str().unwrap();
    let path = format!("/api/suppliers/{id}");
    let before = payee(&pool, id).await;

    for details in [other_iban_details(), serde_json::Value::Null] {
        let r = app
            .request(
                Method::PATCH,
                &path,
                Some(json!({"name": "Renamed", "payment_details": details})),
                Some(&org.token),
            )
            .await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "step_up_required");
        // An expired proof is no better.
        let ten_minutes_ago = chrono::Utc::now().timestamp() - 600;
        let action = format!("PATCH {path}");
        let expired = shared::testing::step_up_token_at(&org.token, &action, ten_minutes_ago);
        let r = app
            .request_with(
                Method::PATCH,
                &path,
                Some(json!({"payment_details": details})),
                Some(&org.token),
                None,
                &[("X-Step-Up-Token", &expired)],
            )
            .await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "step_up_required");
    }
    assert_eq!(payee(&pool, id).await, before, "nothing changed");
    let name: String = sqlx::query_scalar("SELECT name FROM suppliers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name, "Acme", "not even the other fields of the request");

    // Creating with details needs one too; without details it does not.
    let r = app
        .post_with(
            "/api/suppliers",
            json!({"name": "Bravo", "payment_details": iban_details()}),
            &org.token,
        )
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "step_up_required");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM suppliers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);

    // Other fields change without a step-up.
    let r = app
        .request(
            Method::PATCH,
            &path,
            Some(json!({"name": "Renamed"})),
            Some(&org.token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["name"], "Renamed");
    assert_eq!(payee(&pool, id).await, before);

    // With a step-up (as `POST /api/auth/step-up` signs it), the details change.
    let proved = shared::testing::step_up_token(&org.token, &format!("PATCH {path}"));
    let r = app
        .request_with(
            Method::PATCH,
            &path,
            Some(json!({"payment_details": other_iban_details()})),
            Some(&org.token),
            None,
            &[("X-Step-Up-Token", &proved)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["payment_details"]["account_ending"], "5432");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_payee_change_is_emailed_to_every_owner_and_admin(pool: PgPool) {
    let smtp = shared::testing::SmtpServer::start();
    let app = app_with(pool.clone(), &[("SMTP_URL", &smtp.url())]);
    let org = register(&app, "ann@example.com").await;
    use shared::auth::Role;
    person(
        &app,
        &org,
        "otto@example.com",
        "Otto",
        Role::Owner,
        json!({}),
    )
    .await;
    let ada = person(
        &app,
        &org,
        "ada@example.com",
        "Ada Admin",
        Role::Admin,
        json!({}),
    )
    .await;
    person(
        &app,
        &org,
        "uma@example.com",
        "Uma",
        Role::User,
        json!({"suppliers": "write"}),
    )
    .await;
    let gone = person(&app, &org, "gil@example.com", "Gil", Role::Admin, json!({})).await;
    sqlx::query("UPDATE memberships SET is_active = false WHERE user_id = $1::uuid")
        .bind(&gone.user_id)
        .execute(&pool)
        .await
        .unwrap();
    let owners_and_admins = ["ada@example.com", "ann@example.com", "otto@example.com"];
    let recipients = |mail: &[shared::testing::ReceivedEmail]| {
        let mut to: Vec<String> = mail.iter().map(|m| m.to.clone()).collect();
        to.sort();
        to
    };

    // No details at creation: nothing to announce.
    let supplier = create(&app, &org, json!({"name": "Acme"})).await;
    assert!(smtp.settled().await.is_empty());
    let path = format!("/api/suppliers/{}", supplier["id"].as_str().unwrap());

    // Ada sets them, through her own step-up.
    let proved = shared::testing::step_up_token(&ada.token, &format!("PATCH {path}"));
    let r = app
        .request_with(
            Method::PATCH,
            &path,
            Some(json!({"payment_details": iban_details()})),
            Some(&ada.token),
            None,
            &[("X-Step-Up-Token", &proved)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let first = smtp.wait_for(3).await;
    assert_eq!(recipients(&first), owners_and_admins);
    for mail in &first {
        assert_eq!(mail.subject, "Payment details of Acme changed");
        assert!(mail.body.contains("Before: none"), "{}", mail.body);
        assert!(
            mail.body.contains("After:  account ending 3000"),
            "{}",
            mail.body
        );
        assert!(
            mail.body.contains("By:     Ada Admin <ada@example.com>"),
            "{}",
            mail.body
        );
        assert!(mail.body.contains("At:     "), "{}", mail.body);
    }

    // Ann changes them to another account.
    let r = app
        .stepped_up(
            Method::PATCH,
            &path,
            Some(json!({"payment_details": other_iban_details()})),
            &org.token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let all = smtp.wait_for(6).await;
    let second: Vec<_> = all
        .iter()
        .filter(|m| m.body.contains("After:  account ending 5432"))
        .cloned()
        .collect();
    assert_eq!(all.len(), 6);
    assert_eq!(recipients(&second), owners_and_admins);
    for mail in &second {
        assert_eq!(mail.subject, "Payment details of Acme changed");
        assert!(
            mail.body.contains("Before: account ending 3000"),
            "{}",
            mail.body
        );
        assert!(
            mail.body.contains("By:     Owner <ann@example.com>"),
            "{}",
            mail.body
        );
    }
    let (_, _, _, by) = payee(&pool, supplier["id"].as_str().unwrap()).await;
    assert_eq!(by.unwrap().to_string(), org_owner_id(&pool, &org).await);

    // Removing them is a change too.
    let r = app
        .stepped_up(
            Method::PATCH,
            &path,
            Some(json!({"payment_details": null})),
            &org.token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let all = smtp.wait_for(9).await;
    assert_eq!(all.len(), 9);
    let removed: Vec<_> = all
        .iter()
        .filter(|m| m.body.contains("After:  none"))
        .cloned()
        .collect();
    assert_eq!(recipients(&removed), owners_and_admins);
    assert!(
        removed[0].body.contains("Before: account ending 5432"),
        "{}",
        removed[0].body
    );
}

async fn org_owner_id(pool: &PgPool, org: &Registered) -> String {
    sqlx::query_scalar::<_, uuid::Uuid>(
        "SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id
         WHERE m.org_id = $1::uuid AND u.email = 'ann@example.com'",
    )
    .bind(&org.org_id)
    .fetch_one(pool)
    .await
    .unwrap()
    .to_string()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_same_details_again_change_nothing_and_send_nothing(pool: PgPool) {
    let smtp = shared::testing::SmtpServer::start();
    let app = app_with(pool.clone(), &[("SMTP_URL", &smtp.url())]);
    let org = register(&app, "ann@example.com").await;
    let ada = shared::testing::person(
        &app,
        &org.org_id,
        "ada@example.com",
        shared::auth::Role::Admin,
        json!({}),
    )
    .await;
    let supplier = create(
        &app,
        &org,
        json!({"name": "Acme", "payment_details": iban_details()}),
    )
    .await;
    let id = supplier["id"].as_str().unwrap();
    // Setting them at creation is announced.
    assert_eq!(smtp.wait_for(2).await.len(), 2);
    let (_, summary, at, by) = payee(&pool, id).await;

    // The same account, written differently (no spaces, lower case), by someone else.
    let mut same = iban_details();
    same["details"]["iban"] = json!("de89370400440532013000");
    let r = app
        .stepped_up(
            Method::PATCH,
            &format!("/api/suppliers/{id}"),
            Some(json!({"payment_details": same})),
            &ada.token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (sealed, summary_after, at_after, by_after) = payee(&pool, id).await;
    assert_eq!(summary_after, summary);
    assert_eq!(at_after, at, "payment_details_changed_at is kept");
    assert_eq!(by_after, by, "payment_details_changed_by is kept");
    assert_eq!(smtp.settled().await.len(), 2, "nothing more was sent");
    let opened = suppliers::PaymentDetails::open(
        &shared::testing::settings(&[]).keys,
        id.parse().unwrap(),
        &sealed.unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(opened.details["iban"], "DE89370400440532013000");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn creating_with_payment_details_dates_them(pool: PgPool) {
    let app = app(pool.clone());
    let org = register(&app, "ann@example.com").await;
    let started = chrono::Utc::now();
    let with = create(
        &app,
        &org,
        json!({"name": "Acme", "payment_details": iban_details()}),
    )
    .await;
    let (sealed, summary, at, by) = payee(&pool, with["id"].as_str().unwrap()).await;
    assert!(sealed.is_some());
    assert_eq!(summary.unwrap()["account_ending"], "3000");
    let at = at.expect("payment_details_changed_at is set");
    assert!(
        at >= started - chrono::Duration::seconds(5) && at <= chrono::Utc::now(),
        "{at}"
    );
    assert_eq!(by.unwrap().to_string(), org_owner_id(&pool, &org).await);

    let without = create(&app, &org, json!({"name": "Bravo"})).await;
    assert_eq!(
        payee(&pool, without["id"].as_str().unwrap()).await,
        (None, None, None, None)
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_api_key_cannot_change_payment_details_but_can_rename(pool: PgPool) {
    let app = app(pool.clone());
    let org = register(&app, "ann@example.com").await;
    let supplier = create(
        &app,
        &org,
        json!({"name": "Acme", "payment_details": iban_details()}),
    )
    .await;
    let id = supplier["id"].as_str().unwrap();
    let path = format!("/api/suppliers/{id}");
    let before = payee(&pool, id).await;
    let key = api_key(&app, &org, json!({"suppliers": "write"})).await;
    // Carrying the owner's valid step-up token changes nothing for a key.
    let step_up = shared::testing::step_up_token(&org.token, &format!("PATCH {path}"));
    let as_key = |method: Method, path: String, body: serde_json::Value| {
        let (key, step_up) = (key.clone(), step_up.clone());
        let app = &app;
        async move {
            app.request_with(
                method,
                &path,
                Some(body),
                None,
                None,
                &[("x-api-key", &key), ("x-step-up-token", &step_up)],
            )
            .await
        }
    };

    for details in [other_iban_details(), serde_json::Value::Null] {
        let r = as_key(
            Method::PATCH,
            path.clone(),
            json!({"payment_details": details}),
        )
        .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "step_up_unavailable");
    }
    let r = as_key(
        Method::POST,
        "/api/suppliers".into(),
        json!({"name": "Bravo", "payment_details": iban_details()}),
    )
    .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "step_up_unavailable");
    assert_eq!(payee(&pool, id).await, before);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM suppliers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);

    let renamed = as_key(Method::PATCH, path.clone(), json!({"name": "Acme Ltd"})).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["name"], "Acme Ltd");
    let created = as_key(
        Method::POST,
        "/api/suppliers".into(),
        json!({"name": "Bravo"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(payee(&pool, id).await, before);
}
