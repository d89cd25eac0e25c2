//! A payment run cut off, retried or left without an answer (`inventory::payments::run`):
//! takeovers, lost answers, refused funding, and the `Idempotency-Key` freed on every error.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_run_cut_off_while_pending_is_taken_over_after_two_minutes(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    // A run that made the transfer at Wise, then stopped before recording anything more.
    wise.book().lose_next_transfer_answer = true;
    pay(&app, &org, &order).await;
    let set_pending = |age: &'static str| {
        sqlx::query(
            "UPDATE purchase_order_payments SET status = 'pending', started_at = now() - $1::interval",
        )
        .bind(age)
        .execute(&app.pool)
    };
    set_pending("10 seconds").await.unwrap();
    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::CONFLICT,
        "payment_in_progress",
    );
    set_pending("3 minutes").await.unwrap();
    let taken_over = pay(&app, &org, &order).await;
    assert_eq!(taken_over.status, StatusCode::OK, "{}", taken_over.body);
    assert_eq!(taken_over.body["payment"]["status"], "processing");
    assert_eq!(wise.book().transfers.len(), 1);
    assert_eq!(wise.book().fundings.len(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_retry_after_a_lost_answer_reuses_the_customer_transaction_id_and_pays_once(
    pool: PgPool,
) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    // Wise makes the transfer but the answer never arrives intact.
    wise.book().lose_next_transfer_answer = true;

    let failed = pay(&app, &org, &order).await;
    assert_problem(&failed, StatusCode::BAD_GATEWAY, "wise_error");
    assert!(
        failed.body["detail"]
            .as_str()
            .unwrap()
            .contains("Something went wrong"),
        "{}",
        failed.body
    );
    let shown = app
        .by(&org.token)
        .get(&format!("/api/purchase-orders/{order}"))
        .await;
    let payment = &shown.body["payment"];
    assert_eq!(payment["status"], "failed");
    assert_eq!(payment["failure_code"], "internal.error");
    assert_eq!(
        payment["failure_message"],
        "Something went wrong, please try again"
    );
    assert_eq!(payment["wise_transfer_id"], Value::Null);
    let first_id = payment["customer_transaction_id"].clone();

    let retried = pay(&app, &org, &order).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(retried.body["payment"]["status"], "processing");
    assert_eq!(retried.body["payment"]["attempt"], 1);
    assert_eq!(retried.body["payment"]["customer_transaction_id"], first_id);
    assert_eq!(retried.body["payment"]["failure_message"], Value::Null);

    assert_eq!(
        audit_actions(&app, &order).await,
        [
            "purchase_order_payment_started",
            "purchase_order_payment_failed",
            "purchase_order_payment_started",
            "purchase_order_payment_transfer_recorded",
            "purchase_order_payment_processing"
        ]
    );
    let book = wise.book();
    let sent: Vec<&Value> = book
        .transfer_requests
        .iter()
        .map(|r| &r["customerTransactionId"])
        .collect();
    assert_eq!(sent, [&first_id, &first_id]);
    assert_eq!(book.transfers.len(), 1, "one transfer only");
    assert_eq!(book.fundings, [50_000]);
    assert_eq!(retried.body["payment"]["wise_transfer_id"], 50_000);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_refused_funding_fails_the_payment_and_the_retry_funds_the_same_transfer(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    wise.book().reject_next_funding = Some("transfer.insufficient_funds".into());

    let failed = pay(&app, &org, &order).await;
    assert_problem(&failed, StatusCode::BAD_GATEWAY, "wise_error");
    let shown = app
        .by(&org.token)
        .get(&format!("/api/purchase-orders/{order}"))
        .await;
    assert_eq!(shown.body["payment"]["status"], "failed");
    assert_eq!(
        shown.body["payment"]["failure_code"],
        "transfer.insufficient_funds"
    );
    assert_eq!(shown.body["payment"]["wise_transfer_id"], 50_000);
    assert_eq!(
        shown.body["payment"]["wise_state"],
        "incoming_payment_waiting"
    );

    let retried = pay(&app, &org, &order).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(retried.body["payment"]["status"], "processing");
    let book = wise.book();
    assert_eq!(
        book.quotes.len(),
        1,
        "the known transfer is not quoted again"
    );
    assert_eq!(book.transfers.len(), 1);
    assert_eq!(book.fundings, [50_000, 50_000]);
    assert_eq!(
        book.calls.last().unwrap(),
        &format!("POST /v3/profiles/{PROFILE}/transfers/50000/payments")
    );
}

async fn pay_with_key(app: &TestApp, org: &Registered, order: &str, key: &str) -> TestResponse {
    let path = format!("/api/purchase-orders/{order}/pay");
    let request = http::Request::post(&path)
        .header("authorization", format!("Bearer {}", org.token))
        .header(
            "x-step-up-token",
            shared::testing::step_up_token(&org.token, &format!("POST {path}")),
        )
        .header("idempotency-key", key)
        .body(axum::body::Body::empty())
        .unwrap();
    shared::testing::send(&app.router, request).await
}

/// Makes the run of a `pending` payment look older than the takeover delay.
async fn age_pending_run(app: &TestApp) {
    sqlx::query("UPDATE purchase_order_payments SET started_at = now() - interval '3 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();
}

/// What an unknown outcome must look like: 502 `wise_unreachable`, the payment still pending
/// with its transfer, no failure recorded, and the order neither payable nor cancellable.
async fn assert_unconfirmed(app: &TestApp, org: &Registered, order: &str, r: &TestResponse) {
    assert_problem(r, StatusCode::BAD_GATEWAY, "wise_unreachable");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("stays pending") && detail.contains("50000"),
        "{detail}"
    );
    let payment = shown_payment(app, org, order).await;
    assert_eq!(payment["status"], "pending", "{payment}");
    assert_eq!(payment["wise_transfer_id"], 50_000);
    assert_eq!(payment["failure_code"], Value::Null);
    let cancel = app
        .by(org)
        .post(&format!("/api/purchase-orders/{order}/cancel"), json!({}))
        .await;
    assert_problem(&cancel, StatusCode::CONFLICT, "payment_in_progress");
    assert_problem(
        &pay(app, org, order).await,
        StatusCode::CONFLICT,
        "payment_in_progress",
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_funding_whose_answer_is_lost_leaves_the_payment_pending_until_it_is_checked(
    pool: PgPool,
) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    // Wise funds the transfer, but its gateway answers 502.
    wise.book().lose_next_funding_answer = true;

    let r = pay(&app, &org, &order).await;
    assert_unconfirmed(&app, &org, &order, &r).await;

    // The takeover looks at the transfer first: funded already, so it is not funded again.
    age_pending_run(&app).await;
    let checked = pay(&app, &org, &order).await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
    assert_eq!(checked.body["payment"]["status"], "processing");
    assert_eq!(checked.body["payment"]["attempt"], 1);
    assert_eq!(
        audit_actions(&app, &order).await,
        [
            "purchase_order_payment_started",
            "purchase_order_payment_transfer_recorded",
            "purchase_order_payment_unconfirmed",
            "purchase_order_payment_started",
            "purchase_order_payment_processing"
        ]
    );
    let book = wise.book();
    assert_eq!(book.transfers.len(), 1);
    assert_eq!(book.fundings, [50_000], "funded once");
    assert_eq!(book.calls.last().unwrap(), "GET /v1/transfers/50000");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_funding_answer_that_never_comes_leaves_the_payment_pending(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    // Wise funds the transfer but answers after the client's 10 s request timeout.
    wise.book().stall_next_funding = Some(std::time::Duration::from_secs(12));

    let r = pay(&app, &org, &order).await;
    assert_unconfirmed(&app, &org, &order, &r).await;
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("did not answer in time"),
        "{}",
        r.body
    );
    assert_eq!(wise.book().fundings, [50_000]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_idempotency_key_is_freed_by_every_error_after_its_claim(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;

    // An unknown outcome: a retry with the key runs again (and finds the payment pending)...
    let order = submitted_order(&app, &org, &supplier).await;
    wise.book().lose_next_funding_answer = true;
    let first = pay_with_key(&app, &org, &order, "pay-1").await;
    assert_problem(&first, StatusCode::BAD_GATEWAY, "wise_unreachable");
    let retried = pay_with_key(&app, &org, &order, "pay-1").await;
    assert_problem(&retried, StatusCode::CONFLICT, "payment_in_progress");
    // ...and once the outcome is checked, the key replays that answer.
    age_pending_run(&app).await;
    let checked = pay_with_key(&app, &org, &order, "pay-1").await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
    let replayed = pay_with_key(&app, &org, &order, "pay-1").await;
    assert_eq!(replayed.headers["idempotent-replayed"], "true");
    assert_eq!(replayed.body, checked.body);

    // A failure of our own after the claim (here the database refuses what Wise answered).
    let order = submitted_order(&app, &org, &supplier).await;
    wise.book().next_transfer_status = Some("x".repeat(101));
    let failed = pay_with_key(&app, &org, &order, "pay-2").await;
    assert_problem(&failed, StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    let retried = pay_with_key(&app, &org, &order, "pay-2").await;
    assert_problem(&retried, StatusCode::CONFLICT, "payment_in_progress");

    // A refusal, as before.
    let order = submitted_order(&app, &org, &supplier).await;
    wise.book().reject_next_funding = Some("transfer.insufficient_funds".into());
    let refused = pay_with_key(&app, &org, &order, "pay-3").await;
    assert_problem(&refused, StatusCode::BAD_GATEWAY, "wise_error");
    let retried = pay_with_key(&app, &org, &order, "pay-3").await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);

    let keys: Vec<String> =
        sqlx::query_scalar("SELECT key FROM idempotency_keys WHERE response IS NULL")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(keys.is_empty(), "no key is left claimed: {keys:?}");
}
