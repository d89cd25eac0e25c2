//! `/api/payments/wise` and `/api/payments/wise/profiles`: each organization connects its own
//! Wise account and pays from it.
//!
//! Routes: `GET /api/payments/wise`, `PUT /api/payments/wise`, `DELETE /api/payments/wise`,
//!  `POST /api/payments/wise/profiles`.

use super::*;

/// Two organizations, each connected to its own Wise account through the API, pay their own
/// suppliers: every call with one organization's token names only its own profile, and each
/// payment records the profile it was made from.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn each_organization_pays_from_its_own_wise_profile(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let a = app.register("ann@example.com").await;
    let b = app.register("bob@example.com").await;
    for (org, token, profile) in [(&a, TOKEN, PROFILE), (&b, TOKEN_B, PROFILE_B)] {
        let r = app
            .by(&org.token)
            .stepped_up()
            .put(
                "/api/payments/wise",
                json!({"api_token": token, "profile_id": profile}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["profile_id"], profile);
        assert_eq!(r.body["token_ending"], &token[token.len() - 4..]);
        assert!(!r.body.to_string().contains(token));
    }
    let supplier_a = payable_supplier(&app, &a, "EUR").await;
    let supplier_b = payable_supplier(&app, &b, "EUR").await;
    let order_a = submitted_order(&app, &a, &supplier_a).await;
    let order_b = submitted_order(&app, &b, &supplier_b).await;
    assert_eq!(pay(&app, &a, &order_a).await.status, StatusCode::OK);
    assert_eq!(pay(&app, &b, &order_b).await.status, StatusCode::OK);

    {
        let book = wise.book();
        for (call, token) in book.calls.iter().zip(&book.tokens) {
            let (own, other) = match token.as_str() {
                TOKEN => (PROFILE, PROFILE_B),
                TOKEN_B => (PROFILE_B, PROFILE),
                _ => panic!("a call without a connected token: {call}"),
            };
            assert!(!call.contains(&format!("/{other}/")), "{token}: {call}");
            if call.contains("/profiles/") {
                assert!(call.contains(&format!("/{own}/")), "{token}: {call}");
            }
        }
        let recipient_profiles: Vec<Value> = book
            .recipients
            .iter()
            .map(|r| r["profile"].clone())
            .collect();
        assert_eq!(recipient_profiles, [json!(PROFILE), json!(PROFILE_B)]);
        let transfer_profiles: Vec<Value> = book
            .transfers
            .iter()
            .map(|t| t["profile"].clone())
            .collect();
        assert_eq!(transfer_profiles, [json!(PROFILE), json!(PROFILE_B)]);
    }
    let recorded: Vec<(String, i64)> = sqlx::query_as(
        "SELECT org_id::text, wise_profile_id FROM purchase_order_payments ORDER BY wise_profile_id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        recorded,
        [(a.org_id.clone(), PROFILE), (b.org_id.clone(), PROFILE_B)]
    );
    // The token is stored sealed, never as sent.
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT api_token FROM wise_connections")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    for sealed in stored {
        assert!(!String::from_utf8_lossy(&sealed).contains("wise-token"));
    }
}

/// Connecting checks the token and the profile with Wise and stores nothing when either is
/// wrong; listing profiles stores nothing; only an owner with a step-up may connect; the token
/// never appears in an answer or the audit log; disconnecting stops payments.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn connecting_wise_checks_the_token_and_profile_and_only_owners_may(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let owner = app.register("ann@example.com").await;
    let connect = |body: Value, who: &Registered| {
        let token = who.token.clone();
        let app = &app;
        async move {
            app.by(&token)
                .stepped_up()
                .put("/api/payments/wise", body)
                .await
        }
    };
    let stored = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM wise_connections")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };

    let rejected = connect(
        json!({"api_token": "not-a-wise-token", "profile_id": PROFILE}),
        &owner,
    )
    .await;
    assert_problem(
        &rejected,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(rejected.body["errors"][0]["field"], "api_token");
    assert!(
        rejected.body.to_string().contains("Invalid token"),
        "{}",
        rejected.body
    );
    let foreign = connect(json!({"api_token": TOKEN, "profile_id": PROFILE_B}), &owner).await;
    assert_problem(
        &foreign,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(foreign.body["errors"][0]["field"], "profile_id");
    assert_eq!(stored().await, 0);

    let listed = app
        .by(&owner.token)
        .stepped_up()
        .post("/api/payments/wise/profiles", json!({"api_token": TOKEN}))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(
        listed.body["profiles"],
        json!([{"id": PROFILE, "type": "BUSINESS", "name": "Acme Tools Ltd"},
               {"id": 43, "type": "PERSONAL", "name": "Ann Owner"}])
    );
    assert_eq!(stored().await, 0);

    // Without a step-up, or as an admin who is not an owner: refused.
    let plain = app
        .by(&owner.token)
        .put(
            "/api/payments/wise",
            json!({"api_token": TOKEN, "profile_id": PROFILE}),
        )
        .await;
    assert_problem(&plain, StatusCode::UNAUTHORIZED, "step_up_required");
    let admin = colleague(&app, &owner, "adam@example.com", shared::auth::Role::Admin).await;
    let by_admin = connect(json!({"api_token": TOKEN, "profile_id": PROFILE}), &admin).await;
    assert_problem(&by_admin, StatusCode::FORBIDDEN, "owner_required");
    assert_eq!(stored().await, 0);

    let connected = connect(json!({"api_token": TOKEN, "profile_id": PROFILE}), &owner).await;
    assert_eq!(connected.status, StatusCode::OK, "{}", connected.body);
    assert_eq!(connected.body["profile_name"], "Acme Tools Ltd");
    let shown = app.by(&admin.token).get("/api/payments/wise").await;
    assert_eq!(shown.body["connection"]["token_ending"], "oken");
    assert_eq!(shown.body["connection"]["profile_id"], PROFILE);
    let audit: Vec<String> = sqlx::query_scalar(
        "SELECT coalesce(after::text, '') FROM audit_log WHERE action = 'wise_connected'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(audit.len(), 1);
    assert!(!audit[0].contains(TOKEN), "{}", audit[0]);

    let supplier = payable_supplier(&app, &owner, "EUR").await;
    let order = submitted_order(&app, &owner, &supplier).await;
    let disconnected = app
        .by(&owner.token)
        .stepped_up()
        .delete("/api/payments/wise")
        .await;
    assert_eq!(
        disconnected.status,
        StatusCode::NO_CONTENT,
        "{}",
        disconnected.body
    );
    let shown = app.by(&owner.token).get("/api/payments/wise").await;
    assert_eq!(shown.body["connection"], Value::Null);
    assert_problem(
        &pay(&app, &owner, &order).await,
        StatusCode::CONFLICT,
        "wise_not_connected",
    );
    assert!(
        wise.book().calls.iter().all(|c| c == "GET /v2/profiles"),
        "{:?}",
        wise.book().calls
    );
}
