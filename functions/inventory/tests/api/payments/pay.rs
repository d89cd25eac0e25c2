//! `POST /api/purchase-orders/{id}/pay`: what may be paid, by whom, with which step-up, and a
//! payment run from quote to funding.
//!
//! Routes: `POST /api/purchase-orders/{id}/pay`.

use super::*;

/// While Wise answers, the payment holds no transaction: each step commits before the next
/// call, so a transaction pooler can lend the server connection to other requests meanwhile.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn no_transaction_waits_on_wise(pool: PgPool) {
    let wise = FakeWise::start_watching(pool.clone()).await;
    let settings = wise.settings();
    let overrides: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = app_with(pool, &overrides);
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;

    let r = pay(&app, &org, &order).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let book = wise.book();
    assert_eq!(book.calls.len(), 4, "{:?}", book.calls);
    assert_eq!(book.idle_in_transaction, [0, 0, 0, 0], "{:?}", book.calls);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn paying_runs_quote_recipient_transfer_and_funding_and_records_the_payment(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;

    let r = pay(&app, &org, &order).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let payment = &r.body["payment"];
    assert_eq!(payment["status"], "processing");
    assert_eq!(payment["amount"], "25.00");
    assert_eq!(payment["currency"], "EUR");
    assert_eq!(payment["source_currency"], "EUR");
    assert_eq!(payment["source_amount"], "25.42");
    assert_eq!(payment["attempt"], 1);
    assert_eq!(payment["wise_transfer_id"], 50_000);
    assert_eq!(payment["failure_message"], Value::Null);

    // The order shows its payment, the list its payment status, the audit log each step.
    let shown = app
        .by(&org.token)
        .get(&format!("/api/purchase-orders/{order}"))
        .await;
    assert_eq!(shown.body["payment"], r.body["payment"]);
    let list = app.by(&org.token).get("/api/purchase-orders").await;
    assert_eq!(list.body["items"][0]["payment_status"], "processing");
    assert_eq!(
        audit_actions(&app, &order).await,
        [
            "purchase_order_payment_started",
            "purchase_order_payment_transfer_recorded",
            "purchase_order_payment_processing"
        ]
    );
    // The ids Wise gave are audited as they are written: the recipient on the supplier, the
    // quote and recipient with the transfer on the order.
    let (created,): (Value,) = sqlx::query_as(
        "SELECT after FROM audit_log WHERE action = 'wise_recipient_created' AND entity = 'supplier' AND entity_id = $1::uuid",
    )
    .bind(&supplier)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        created,
        json!({"wise_profile_id": PROFILE, "wise_recipient_id": 10_000})
    );
    let (recorded,): (Value,) = sqlx::query_as(
        "SELECT after FROM audit_log WHERE action = 'purchase_order_payment_transfer_recorded'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(recorded["wise_transfer_id"], 50_000);
    assert_eq!(recorded["wise_recipient_id"], 10_000);

    let book = wise.book();
    assert_eq!(
        book.calls,
        [
            format!("POST /v3/profiles/{PROFILE}/quotes"),
            "POST /v1/accounts".to_owned(),
            "POST /v1/transfers".to_owned(),
            format!("POST /v3/profiles/{PROFILE}/transfers/50000/payments"),
        ]
    );
    let quote = &book.quotes[0];
    assert_eq!(
        quote["request"],
        json!({"sourceCurrency": "EUR", "targetCurrency": "EUR", "targetAmount": 25.0, "payOut": "BANK_TRANSFER"})
    );
    let recipient = &book.recipients[0];
    assert_eq!(recipient["accountHolderName"], "Acme Tools GmbH");
    assert_eq!(recipient["type"], "iban");
    assert_eq!(recipient["profile"], PROFILE);
    assert_eq!(
        recipient["details"],
        json!({"legalType": "BUSINESS", "iban": IBAN})
    );
    let transfer = &book.transfers[0];
    assert_eq!(transfer["targetAccount"], recipient["id"]);
    assert_eq!(transfer["quoteUuid"], quote["answer"]["id"]);
    assert_eq!(
        transfer["customerTransactionId"],
        payment["customer_transaction_id"]
    );
    let reference = transfer["reference"].as_str().unwrap();
    assert!(
        reference.len() == 10 && order.to_uppercase().starts_with(&reference[3..]),
        "{reference}"
    );
    assert_eq!(transfer["status"], "processing");
    assert_eq!(recorded["wise_quote_id"], quote["answer"]["id"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_order_being_paid_or_paid_is_not_paid_again_nor_cancelled(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    assert_eq!(pay(&app, &org, &order).await.status, StatusCode::OK);

    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::CONFLICT,
        "payment_in_progress",
    );
    let cancel = app
        .by(&org)
        .post(&format!("/api/purchase-orders/{order}/cancel"), json!({}))
        .await;
    assert_problem(&cancel, StatusCode::CONFLICT, "payment_in_progress");

    sqlx::query("UPDATE purchase_order_payments SET status = 'paid'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::CONFLICT,
        "already_paid",
    );
    assert_eq!(wise.book().transfer_requests.len(), 1);
    assert_eq!(wise.book().fundings.len(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn two_pays_at_once_make_one_transfer(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    let (a, b) = tokio::join!(pay(&app, &org, &order), pay(&app, &org, &order));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let refused = if a.status == StatusCode::CONFLICT {
        &a
    } else {
        &b
    };
    assert_problem(refused, StatusCode::CONFLICT, "payment_in_progress");
    assert_eq!(wise.book().transfer_requests.len(), 1);
    assert_eq!(wise.book().fundings.len(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn orders_that_cannot_be_paid_are_refused_before_wise_is_called(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let payable = payable_supplier(&app, &org, "EUR").await;
    let product = product(&app, &org, "BOLT", 0).await;

    let draft = app
        .by(&org)
        .post(
            "/api/purchase-orders",
            json!({"supplier_id": payable, "currency": "EUR",
        "lines": [{"product_id": product, "quantity": 1, "unit_cost": "1.00"}]}),
        )
        .await;
    let draft = draft.body["id"].as_str().unwrap();
    assert_problem(
        &pay(&app, &org, draft).await,
        StatusCode::CONFLICT,
        "invalid_status",
    );

    let without_details = supplier(&app, &org).await;
    let order = submitted_order(&app, &org, &without_details).await;
    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::CONFLICT,
        "missing_payment_details",
    );

    let in_pounds = payable_supplier(&app, &org, "GBP").await;
    let order = submitted_order(&app, &org, &in_pounds).await;
    let r = pay(&app, &org, &order).await;
    assert_problem(&r, StatusCode::CONFLICT, "currency_mismatch");

    let bad = app
        .by(&org.token)
        .stepped_up()
        .post(
            &format!("/api/purchase-orders/{order}/pay"),
            json!({"source_currency": "euro"}),
        )
        .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    assert!(wise.book().calls.is_empty());
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM purchase_order_payments")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(payments, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_organizations_order_is_404(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let a = org(&app, "a@example.com").await;
    let b = app.register("b@example.com").await;
    connect(&app, &b, TOKEN_B, PROFILE_B).await;
    let supplier = payable_supplier(&app, &b, "EUR").await;
    let theirs = submitted_order(&app, &b, &supplier).await;
    assert_problem(
        &pay(&app, &a, &theirs).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert!(wise.book().calls.is_empty());
}

/// The stranger of issue 18: anyone may register, add a supplier with their own IBAN, raise an
/// order and pay it. Without their own Wise connection it ends at 409, and Wise is never asked.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_stranger_without_a_wise_connection_cannot_pay(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    // A legitimate tenant has connected its Wise account.
    let _tenant = org(&app, "ann@example.com").await;
    let stranger = app.register("mallory@example.com").await;
    let supplier = payable_supplier(&app, &stranger, "EUR").await;
    let order = submitted_order(&app, &stranger, &supplier).await;
    let r = pay(&app, &stranger, &order).await;
    assert_problem(&r, StatusCode::CONFLICT, "wise_not_connected");
    assert!(wise.book().calls.is_empty(), "{:?}", wise.book().calls);
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM purchase_order_payments")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(payments, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn paying_needs_write_access_to_purchasing(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    let path = format!("/api/purchase-orders/{order}/pay");
    let anonymous = app.anonymous().send(Method::POST, &path, None).await;
    assert_problem(&anonymous, StatusCode::UNAUTHORIZED, "missing_token");

    let reader = app
        .member(&org.org_id, "r@example.com", json!({"purchasing": "read"}))
        .await
        .token;
    let reader = reader.as_str();
    let r = app.by(reader).post(&path, json!({})).await;
    assert_problem(&r, StatusCode::FORBIDDEN, "missing_permission");
    assert!(wise.book().calls.is_empty());
}

/// Paying needs a step-up of the payer's own session, recent: none, another user's, another
/// session's or an expired one is 401 `step_up_required`; a fresh one of the payer's session,
/// signed as `POST /api/auth/step-up` signs it, is honoured (the end-to-end tests take theirs
/// from the endpoint); an API key can never pay.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn paying_needs_a_recent_step_up_of_the_payers_own_session(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    let path = format!("/api/purchase-orders/{order}/pay");
    let pay_with = |step_up: Option<String>| {
        let (app, path, token) = (&app, path.clone(), org.token.clone());
        async move {
            let call = app.by(&token);
            let call = match &step_up {
                Some(s) => call.header("x-step-up-token", s),
                None => call,
            };
            call.post(&path, json!({})).await
        }
    };
    assert_problem(
        &pay_with(None).await,
        StatusCode::UNAUTHORIZED,
        "step_up_required",
    );
    let other = colleague(&app, &org, "bob@example.com", shared::auth::Role::Admin).await;
    let action = format!("POST {path}");
    let others = shared::testing::step_up_token(&other.token, &action);
    assert_problem(
        &pay_with(Some(others)).await,
        StatusCode::UNAUTHORIZED,
        "step_up_required",
    );
    let mine = shared::testing::claims_of(&org.token);
    let id = |name: &str| mine[name].as_str().unwrap().parse::<Uuid>().unwrap();
    let (user, org_id) = (UserId(id("sub")), OrgId(id("org")));
    let keys = shared::testing::settings(&[]).keys.snapshot();
    let ten_minutes_ago = chrono::Utc::now().timestamp() - 600;
    let expired = shared::testing::step_up_token_at(&org.token, &action, ten_minutes_ago);
    assert_problem(
        &pay_with(Some(expired)).await,
        StatusCode::UNAUTHORIZED,
        "step_up_required",
    );
    let another = shared::auth::step_up::Holder {
        user,
        org: org_id,
        sid: SessionId(Uuid::new_v4()),
    };
    let (other_session, _) =
        shared::auth::step_up::issue(&keys, another, "password", &action).unwrap();
    assert_problem(
        &pay_with(Some(other_session)).await,
        StatusCode::UNAUTHORIZED,
        "step_up_required",
    );
    // An access token is not a step-up token.
    assert_problem(
        &pay_with(Some(org.token.clone())).await,
        StatusCode::UNAUTHORIZED,
        "step_up_required",
    );
    assert!(wise.book().calls.is_empty());

    // One made for another order's payment is not this one's.
    let another_order = format!("POST /api/purchase-orders/{}/pay", Uuid::new_v4());
    let elsewhere = shared::testing::step_up_token(&org.token, &another_order);
    assert_problem(
        &pay_with(Some(elsewhere)).await,
        StatusCode::UNAUTHORIZED,
        "step_up_required",
    );
    let proved = shared::testing::step_up_token(&org.token, &action);
    let r = pay_with(Some(proved.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Used once: it does not pay again (the order is paid anyway, but the proof goes first).
    assert_problem(
        &pay_with(Some(proved)).await,
        StatusCode::UNAUTHORIZED,
        "step_up_used",
    );

    // An API key with purchasing:write still cannot pay.
    let key = format!("sk_test_{}", Uuid::new_v4().simple());
    sqlx::query(
        "INSERT INTO api_keys (org_id, name, prefix, key_hash, scopes)
         VALUES ($1::uuid, 'till', left($2, 12), $3, '{\"purchasing\": \"write\"}')",
    )
    .bind(&org.org_id)
    .bind(&key)
    .bind(shared::auth::tokens::hash(&key).to_vec())
    .execute(&app.pool)
    .await
    .unwrap();
    let second = submitted_order(&app, &org, &supplier).await;
    let by_key = app
        .anonymous()
        .header("x-api-key", key.as_str())
        .post(&format!("/api/purchase-orders/{second}/pay"), json!({}))
        .await;
    assert_problem(&by_key, StatusCode::FORBIDDEN, "step_up_unavailable");
}

/// The rule of `purchase_orders::order::payable`: a cancelled order is off, so paying it is a
/// 409 `invalid_status` and Wise is never asked.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_cancelled_order_cannot_be_paid(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    app.by(&org)
        .post(&format!("/api/purchase-orders/{order}/cancel"), json!({}))
        .await
        .assert(200);
    let r = pay(&app, &org, &order).await;
    assert_problem(&r, StatusCode::CONFLICT, "invalid_status");
    assert!(
        r.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("cancelled")),
        "{}",
        r.body
    );
    assert!(wise.book().calls.is_empty());
}
