//! A supplier's payment details: sealed and only summarised, changed only with a step-up by a
//! settled owner or admin (never an API key), dated, and announced to every owner and admin.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn payment_details_are_sealed_and_only_summarised(pool: PgPool) {
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    let supplier = create(&app, &org, json!({"name": "Acme Tools", "email": "Sales@Acme.example", "payment_details": iban_details()})).await;
    assert_eq!(supplier["email"], "sales@acme.example");
    assert_eq!(
        supplier["payment_details"],
        json!({"account_holder_name": "Acme Tools GmbH", "currency": "EUR", "type": "iban", "account_ending": "3000"})
    );
    let id: uuid::Uuid = supplier["id"].as_str().unwrap().parse().unwrap();
    let detail = app
        .by(&org.token)
        .get(&format!("/api/suppliers/{id}"))
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
    let org = app.register("ann@example.com").await;
    let mut details = iban_details();
    details["details"]["iban"] = json!("DE00 1234");
    let r = app
        .by(&org.token)
        .stepped_up()
        .post(
            "/api/suppliers",
            json!({"name": "X", "payment_details": details}),
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
    let person = app.person(&org.org_id, email, role, permissions).await;
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
    let org = app.register("ann@example.com").await;
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
            .by(&org.token)
            .patch(
                &path,
                json!({"name": "Renamed", "payment_details": details}),
            )
            .await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "step_up_required");
        // An expired proof is no better.
        let ten_minutes_ago = chrono::Utc::now().timestamp() - 600;
        let action = format!("PATCH {path}");
        let expired = shared::testing::step_up_token_at(&org.token, &action, ten_minutes_ago);
        let r = app
            .by(&org.token)
            .header("X-Step-Up-Token", &expired)
            .patch(&path, json!({"payment_details": details}))
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
        .by(&org.token)
        .post(
            "/api/suppliers",
            json!({"name": "Bravo", "payment_details": iban_details()}),
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
        .by(&org.token)
        .patch(&path, json!({"name": "Renamed"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["name"], "Renamed");
    assert_eq!(payee(&pool, id).await, before);

    // With a step-up (as `POST /api/auth/step-up` signs it), the details change.
    let proved = shared::testing::step_up_token(&org.token, &format!("PATCH {path}"));
    let r = app
        .by(&org.token)
        .header("X-Step-Up-Token", &proved)
        .patch(&path, json!({"payment_details": other_iban_details()}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["payment_details"]["account_ending"], "5432");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_payee_change_is_emailed_to_every_owner_and_admin(pool: PgPool) {
    let smtp = shared::testing::SmtpServer::start();
    let app = app_with(pool.clone(), &[("SMTP_URL", &smtp.url())]);
    let org = app.register("ann@example.com").await;
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
        .by(&ada.token)
        .header("X-Step-Up-Token", &proved)
        .patch(&path, json!({"payment_details": iban_details()}))
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
        .by(&org.token)
        .stepped_up()
        .patch(&path, json!({"payment_details": other_iban_details()}))
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
        .by(&org.token)
        .stepped_up()
        .patch(&path, json!({"payment_details": null}))
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
    let org = app.register("ann@example.com").await;
    let ada = app
        .person(
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
        .by(&ada.token)
        .stepped_up()
        .patch(
            &format!("/api/suppliers/{id}"),
            json!({"payment_details": same}),
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
    let org = app.register("ann@example.com").await;
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
    let org = app.register("ann@example.com").await;
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
            app.anonymous()
                .header("x-api-key", &key)
                .header("x-step-up-token", &step_up)
                .send(method, &path, Some(body))
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
