//! `transfers#state-change`: the payment moved, in order, and audited.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_signed_state_change_moves_the_payment_and_is_audited(pool: PgPool) {
    let s = setup(pool).await;
    let sent = state_change(
        TRANSFER,
        "outgoing_payment_sent",
        "processing",
        "2026-11-20T12:34:56Z",
    );
    let r = deliver(&s, &sent, "delivery-1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"status": "processed"}));

    let payment = payment(&s).await;
    assert_eq!(payment["status"], "paid");
    assert_eq!(payment["wise_state"], "outgoing_payment_sent");
    assert_eq!(payment["wise_state_at"], "2026-11-20T12:34:56+00:00");
    assert_eq!(payment["paid_at"], "2026-11-20T12:34:56+00:00");

    let audit = audit_rows(&s).await;
    assert_eq!(audit.len(), 1);
    let (action, org, actor, before, after) = &audit[0];
    assert_eq!(action, "purchase_order_payment_paid");
    assert_eq!(*org, Some(s.org));
    assert_eq!(*actor, None, "the system acted, not a user");
    assert_eq!(before["status"], "processing");
    assert_eq!(after["status"], "paid");
    assert_eq!(after["wise_transfer_id"], TRANSFER);
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM wise_webhook_deliveries WHERE delivery_id = 'delivery-1'"
        )
        .await,
        1
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_older_state_arriving_late_is_ignored(pool: PgPool) {
    let s = setup(pool).await;
    let paid = state_change(
        TRANSFER,
        "outgoing_payment_sent",
        "funds_converted",
        "2026-11-20 12:00:00",
    );
    let converting = state_change(
        TRANSFER,
        "funds_converted",
        "processing",
        "2026-11-20 11:00:00",
    );
    assert_eq!(
        deliver(&s, &paid, "delivery-2").await.body["status"],
        "processed"
    );
    assert_eq!(
        deliver(&s, &converting, "delivery-1").await.body["status"],
        "stale"
    );
    let payment = payment(&s).await;
    assert_eq!(payment["status"], "paid");
    assert_eq!(payment["wise_state"], "outgoing_payment_sent");
    assert_eq!(audit_rows(&s).await.len(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_state_read_from_the_api_without_a_time_is_ordered_by_state(pool: PgPool) {
    let s = setup(pool).await;
    // What /pay records from an API answer: the state, and no event time.
    sqlx::query(
        "UPDATE purchase_order_payments
         SET status = 'paid', wise_state = 'outgoing_payment_sent', wise_state_at = NULL",
    )
    .execute(&s.pool)
    .await
    .unwrap();
    let late = state_change(
        TRANSFER,
        "funds_converted",
        "processing",
        "2026-11-20T11:00:00Z",
    );
    assert_eq!(
        deliver(&s, &late, "delivery-1").await.body["status"],
        "stale"
    );
    assert_eq!(payment(&s).await["status"], "paid");

    // A state further along still applies, and from then on times order the events: Wise's
    // resend of a bounced transfer (bounced_back => processing => outgoing_payment_sent).
    let bounced = state_change(
        TRANSFER,
        "bounced_back",
        "outgoing_payment_sent",
        "2026-11-22T09:00:00Z",
    );
    assert_eq!(
        deliver(&s, &bounced, "delivery-2").await.body["status"],
        "processed"
    );
    assert_eq!(payment(&s).await["status"], "failed");
    let resent = state_change(
        TRANSFER,
        "processing",
        "bounced_back",
        "2026-11-23T09:00:00Z",
    );
    assert_eq!(
        deliver(&s, &resent, "delivery-3").await.body["status"],
        "processed"
    );
    let sent = state_change(
        TRANSFER,
        "outgoing_payment_sent",
        "processing",
        "2026-11-23T10:00:00Z",
    );
    deliver(&s, &sent, "delivery-4").await;
    let payment = payment(&s).await;
    assert_eq!(payment["status"], "paid");
    assert_eq!(payment["wise_state_at"], "2026-11-23T10:00:00+00:00");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_bounce_after_the_payout_fails_the_payment(pool: PgPool) {
    let s = setup(pool).await;
    let paid = state_change(
        TRANSFER,
        "outgoing_payment_sent",
        "processing",
        "2026-11-20T12:00:00Z",
    );
    let bounced = state_change(
        TRANSFER,
        "bounced_back",
        "outgoing_payment_sent",
        "2026-11-22T09:00:00Z",
    );
    deliver(&s, &paid, "delivery-1").await;
    assert_eq!(
        deliver(&s, &bounced, "delivery-2").await.body["status"],
        "processed"
    );
    let payment = payment(&s).await;
    assert_eq!(payment["status"], "failed");
    assert_eq!(payment["failure_code"], "bounced_back");
    assert_eq!(
        payment["failure_message"],
        "the supplier's bank returned the transfer"
    );
    assert_eq!(payment["paid_at"], Value::Null);
    let actions: Vec<String> = audit_rows(&s).await.into_iter().map(|a| a.0).collect();
    assert_eq!(
        actions,
        [
            "purchase_order_payment_paid",
            "purchase_order_payment_failed"
        ]
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_cancelled_transfer_cancels_the_payment(pool: PgPool) {
    let s = setup(pool).await;
    let cancelled = state_change(
        TRANSFER,
        "cancelled",
        "incoming_payment_waiting",
        "2026-11-20T12:00:00Z",
    );
    assert_eq!(
        deliver(&s, &cancelled, "delivery-1").await.body["status"],
        "processed"
    );
    let payment = payment(&s).await;
    assert_eq!(payment["status"], "cancelled");
    assert_eq!(payment["wise_state"], "cancelled");
    assert_eq!(
        payment["failure_message"],
        "the transfer was cancelled at Wise"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_payment_that_moved_is_announced_on_the_events_queue(pool: PgPool) {
    let moto = shared::testing::Moto::start();
    moto.use_from_this_process();
    let sqs = aws_sdk_sqs::Client::new(&shared::config::secrets::sdk_config().await);
    let queue = sqs
        .create_queue()
        .queue_name("events")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let s = setup_with(pool, &[("EVENTS_QUEUE_URL", queue.as_str())]).await;
    let sent = state_change(
        TRANSFER,
        "outgoing_payment_sent",
        "processing",
        "2026-11-20T12:34:56Z",
    );
    deliver(&s, &sent, "delivery-1").await;
    // A repeat moves nothing and announces nothing.
    deliver(&s, &sent, "delivery-1").await;
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let received = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in received.messages.unwrap_or_default() {
            bodies.push(serde_json::from_str::<Value>(m.body().unwrap()).unwrap());
        }
    }
    assert_eq!(bodies, [json!({"org_id": s.org})]);
}
