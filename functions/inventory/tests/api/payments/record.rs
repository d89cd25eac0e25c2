//! The transfer's states recorded on the payment (`inventory::payments::record`): cancelled,
//! bounced, made under another Wise profile, read from Wise after a webhook.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn after_wise_cancels_a_transfer_the_next_pay_starts_a_new_one(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    let first = pay(&app, &org, &order).await;
    // What a transfers#state-change webhook records when Wise cancels the transfer.
    sqlx::query("UPDATE purchase_order_payments SET status = 'cancelled', wise_state = 'cancelled', wise_state_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();

    let second = pay(&app, &org, &order).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.body["payment"]["attempt"], 2);
    assert_ne!(
        second.body["payment"]["customer_transaction_id"],
        first.body["payment"]["customer_transaction_id"]
    );
    assert_eq!(second.body["payment"]["wise_transfer_id"], 50_001);
    assert_eq!(second.body["payment"]["wise_state_at"], Value::Null);
    let book = wise.book();
    assert_eq!(book.transfers.len(), 2);
    assert_eq!(book.recipients.len(), 1, "the recipient account is reused");
}

/// Records a transfer state as a `transfers#state-change` webhook would (status, state, time).
async fn webhook_recorded(app: &TestApp, status: &str, state: &str) {
    sqlx::query(
        "UPDATE purchase_order_payments SET status = $1::payment_status, wise_state = $2, wise_state_at = now()",
    )
    .bind(status)
    .bind(state)
    .execute(&app.pool)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_bounced_transfer_blocks_paying_and_cancelling_until_wise_refunds_it(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    assert_eq!(pay(&app, &org, &order).await.status, StatusCode::OK);

    // The supplier's bank returned the money: Wise may still resend this same transfer.
    webhook_recorded(&app, "failed", "bounced_back").await;
    let r = pay(&app, &org, &order).await;
    assert_problem(&r, StatusCode::CONFLICT, "payment_bounced");
    let cancel = app
        .by(&org)
        .post(&format!("/api/purchase-orders/{order}/cancel"), json!({}))
        .await;
    assert_problem(&cancel, StatusCode::CONFLICT, "payment_bounced");
    assert_eq!(wise.book().transfer_requests.len(), 1, "no second transfer");

    // Charged back: settled with Wise, never by a second transfer from here.
    webhook_recorded(&app, "failed", "charged_back").await;
    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::CONFLICT,
        "payment_charged_back",
    );

    // Once Wise refunds it, the transfer is closed for good and a new attempt may start.
    webhook_recorded(&app, "failed", "funds_refunded").await;
    let again = pay(&app, &org, &order).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["payment"]["attempt"], 2);
    assert_eq!(again.body["payment"]["wise_transfer_id"], 50_001);
    assert_eq!(wise.book().transfers.len(), 2);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_new_wise_profile_starts_a_new_attempt_only_once_the_old_transfer_is_closed(
    pool: PgPool,
) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    // A payment made from another profile, whose funding that profile's Wise refused.
    wise.book().reject_next_funding = Some("transfer.insufficient_funds".into());
    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::BAD_GATEWAY,
        "wise_error",
    );
    sqlx::query("UPDATE purchase_order_payments SET wise_profile_id = $1")
        .bind(PROFILE + 1)
        .execute(&app.pool)
        .await
        .unwrap();

    // Its transfer is still open at the other profile and could yet be funded there.
    let r = pay(&app, &org, &order).await;
    assert_problem(&r, StatusCode::CONFLICT, "wise_profile_changed");
    assert_eq!(wise.book().transfer_requests.len(), 1);

    // Cancelled at Wise (the webhook records it): now a new attempt from this profile.
    webhook_recorded(&app, "cancelled", "cancelled").await;
    let again = pay(&app, &org, &order).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["payment"]["attempt"], 2);
    assert_eq!(again.body["payment"]["wise_transfer_id"], 50_001);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_new_wise_profile_starts_a_new_attempt_when_the_old_one_made_no_transfer(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    wise.book().fail_next_quote = Some((
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"errors": [{"code": "error.route.not.supported", "message": "Not supported"}]}),
    ));
    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::BAD_GATEWAY,
        "wise_error",
    );
    sqlx::query("UPDATE purchase_order_payments SET wise_profile_id = $1")
        .bind(PROFILE + 1)
        .execute(&app.pool)
        .await
        .unwrap();
    let again = pay(&app, &org, &order).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["payment"]["attempt"], 2);
    assert_eq!(wise.book().transfers.len(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_state_read_from_wise_replaces_the_webhook_time_with_null(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    wise.book().reject_next_funding = Some("transfer.insufficient_funds".into());
    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::BAD_GATEWAY,
        "wise_error",
    );
    // A webhook recorded the waiting state at its time; then the transfer was funded.
    sqlx::query("UPDATE purchase_order_payments SET wise_state_at = now() - interval '1 hour'")
        .execute(&app.pool)
        .await
        .unwrap();
    wise.book().transfers[0]["status"] = json!("processing");

    let r = pay(&app, &org, &order).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let payment = &r.body["payment"];
    assert_eq!(payment["wise_state"], "processing");
    // Not the waiting state's time: a later event is then ordered by state, not by a time
    // that belongs to another state.
    assert_eq!(payment["wise_state_at"], Value::Null);
}
