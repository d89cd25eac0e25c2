//! The steps at Wise (`inventory::payments::send`): Wise's refusals recorded, recipients
//! created once and dropped only when Wise refuses them, the transfer Wise made recorded.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn wise_error_messages_are_recorded_and_nothing_is_sent(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    wise.book().fail_next_quote = Some((
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"errors": [{"code": "error.route.not.supported", "message": "We don't support this currency route", "path": "targetCurrency"}]}),
    ));

    let r = pay(&app, &org, &order).await;
    assert_problem(&r, StatusCode::BAD_GATEWAY, "wise_error");
    assert_eq!(
        r.body["detail"],
        "Wise refused the payment: We don't support this currency route"
    );
    let shown = app
        .by(&org.token)
        .get(&format!("/api/purchase-orders/{order}"))
        .await;
    assert_eq!(
        shown.body["payment"]["failure_code"],
        "error.route.not.supported"
    );
    assert!(wise.book().transfer_requests.is_empty());
}

async fn wise_ids(app: &TestApp) -> (Option<Uuid>, Option<i64>, Option<i64>) {
    sqlx::query_as(
        "SELECT wise_quote_id, wise_recipient_id, wise_transfer_id FROM purchase_order_payments",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_retry_records_the_quote_and_recipient_of_the_transfer_wise_made(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    // Wise makes the transfer, its answer is lost, and the stored recipient is gone by the retry
    // (say the supplier's details were edited), so the retry sends a new quote and recipient.
    wise.book().lose_next_transfer_answer = true;
    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::BAD_GATEWAY,
        "wise_error",
    );
    sqlx::query("DELETE FROM wise_recipients")
        .execute(&app.pool)
        .await
        .unwrap();

    let retried = pay(&app, &org, &order).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    let (quote, recipient, transfer) = wise_ids(&app).await;
    let book = wise.book();
    assert_eq!((book.quotes.len(), book.recipients.len()), (2, 2));
    assert_eq!(book.transfer_requests[1]["targetAccount"], 10_001);
    // Wise answered with the transfer made the first time: its quote and recipient are recorded.
    let made = &book.transfers[0];
    assert_eq!(json!(quote), made["quoteUuid"]);
    assert_eq!(json!(recipient), made["targetAccount"]);
    assert_eq!((recipient, transfer), (Some(10_000), Some(50_000)));
    assert_eq!(retried.body["payment"]["source_amount"], "25.42");
}

async fn stored_recipients(app: &TestApp) -> Vec<i64> {
    sqlx::query_scalar("SELECT wise_recipient_id FROM wise_recipients ORDER BY created_at")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_stored_recipient_is_dropped_only_when_wise_refuses_that_recipient(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let a = submitted_order(&app, &org, &supplier).await;
    assert_eq!(pay(&app, &org, &a).await.status, StatusCode::OK);
    assert_eq!(stored_recipients(&app).await, [10_000]);

    // A refusal about something else (a limit) keeps the recipient.
    let b = submitted_order(&app, &org, &supplier).await;
    wise.book().fail_next_transfer = Some((
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"errors": [{"code": "error.transfer.limit", "message": "This transfer is over your limit"}]}),
    ));
    assert_problem(
        &pay(&app, &org, &b).await,
        StatusCode::BAD_GATEWAY,
        "wise_error",
    );
    assert_eq!(stored_recipients(&app).await, [10_000]);
    // So does an outage.
    wise.book().fail_next_transfer = Some((
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"errors": [{"code": "service.unavailable", "message": "Try later", "path": "targetAccount"}]}),
    ));
    assert_problem(
        &pay(&app, &org, &b).await,
        StatusCode::BAD_GATEWAY,
        "wise_error",
    );
    assert_eq!(stored_recipients(&app).await, [10_000]);

    // Deactivated at Wise: Wise refuses the target account, so it is forgotten (and audited),
    // and the retry creates a new one.
    wise.book().deactivated_recipients.push(10_000);
    let r = pay(&app, &org, &b).await;
    assert_problem(&r, StatusCode::BAD_GATEWAY, "wise_error");
    assert!(stored_recipients(&app).await.is_empty());
    let removed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'wise_recipient_removed' AND before->>'wise_recipient_id' = '10000'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(removed, 1);
    let retried = pay(&app, &org, &b).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(stored_recipients(&app).await, [10_001]);
    assert_eq!(wise.book().transfers.len(), 2);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_supplier_recipient_is_created_once_and_an_idempotent_retry_replays(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let a = submitted_order(&app, &org, &supplier).await;
    let b = submitted_order(&app, &org, &supplier).await;
    assert_eq!(pay(&app, &org, &a).await.status, StatusCode::OK);

    let send = || {
        // A client that always sends a JSON Content-Type, here with no body.
        let path = format!("/api/purchase-orders/{b}/pay");
        let request = http::Request::post(&path)
            .header("authorization", format!("Bearer {}", org.token))
            .header(
                "x-step-up-token",
                shared::testing::step_up_token(&org.token, &format!("POST {path}")),
            )
            .header("content-type", "application/json")
            .header("idempotency-key", "pay-b-once")
            .body(axum::body::Body::empty())
            .unwrap();
        shared::testing::send(&app.router, request)
    };
    let first = send().await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let again = send().await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body);

    let book = wise.book();
    assert_eq!(book.recipients.len(), 1);
    assert_eq!(book.transfers.len(), 2);
    assert_eq!(book.fundings.len(), 2);
}
