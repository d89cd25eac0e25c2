//! What a delivery must be: signed, an event, processed once, with Wise's key configured.
//!
//! Routes: `POST /webhooks/wise`.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_missing_or_wrong_signature_is_401_and_nothing_is_stored(pool: PgPool) {
    let s = setup(pool).await;
    let body = state_change(
        TRANSFER,
        "outgoing_payment_sent",
        "processing",
        "2026-11-20T12:34:56Z",
    )
    .to_string();
    let (impostor, _) = key_pair();
    let tampered = body.replace("777", "778");
    for (body, signature) in [
        (&body, None),
        (&body, Some(String::new())),
        (&body, Some("bm90IGEgc2lnbmF0dXJl".to_owned())),
        (&body, Some(sign(&impostor, body.as_bytes()))),
        (&tampered, Some(sign(&s.wise, body.as_bytes()))),
    ] {
        let r = deliver_raw(&s.webhooks.router, body, "delivery-1", signature).await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "invalid_signature");
    }
    assert_eq!(
        count(&s, "SELECT count(*) FROM wise_webhook_deliveries").await,
        0
    );
    assert_eq!(payment(&s).await["status"], "processing");
    assert!(audit_rows(&s).await.is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_repeated_delivery_is_processed_once(pool: PgPool) {
    let s = setup(pool).await;
    let sent = state_change(
        TRANSFER,
        "outgoing_payment_sent",
        "processing",
        "2026-11-20T12:34:56Z",
    );
    assert_eq!(
        deliver(&s, &sent, "delivery-1").await.body["status"],
        "processed"
    );
    assert_eq!(
        deliver(&s, &sent, "delivery-1").await.body["status"],
        "duplicate"
    );
    // A retry under a new delivery id is recognised by its state and time.
    assert_eq!(
        deliver(&s, &sent, "delivery-2").await.body["status"],
        "stale"
    );
    assert_eq!(audit_rows(&s).await.len(), 1);
    assert_eq!(payment(&s).await["status"], "paid");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn unknown_event_types_are_acknowledged_and_ignored(pool: PgPool) {
    let s = setup(pool).await;
    let credit = json!({
        "data": {"resource": {"id": 1, "profile_id": PROFILE, "type": "balance-account"}, "amount": 10, "currency": "EUR"},
        "subscription_id": "f2264fe5-a0f5-4dab-a1c5-6a2f1e2f5b5c",
        "event_type": "balances#credit",
        "schema_version": "2.0.0",
        "sent_at": "2026-11-20T12:00:00Z"
    });
    let r = deliver(&s, &credit, "delivery-1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"status": "ignored"}));
    assert_eq!(payment(&s).await["status"], "processing");
    assert!(audit_rows(&s).await.is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn test_notifications_and_unknown_states_are_acknowledged(pool: PgPool) {
    let s = setup(pool).await;
    let body = state_change(
        TRANSFER,
        "outgoing_payment_sent",
        "processing",
        "2026-11-20T12:00:00Z",
    )
    .to_string();
    let request = Request::post("/webhooks/wise")
        .header("content-type", "application/json")
        .header("x-test-notification", "true")
        .header("x-signature-sha256", sign(&s.wise, body.as_bytes()))
        .body(Body::from(body))
        .unwrap();
    let r = shared::testing::send(&s.webhooks.router, request).await;
    assert_eq!(r.body, json!({"status": "test"}));

    let odd = state_change(
        TRANSFER,
        "waiting_recipient_input_to_proceed",
        "processing",
        "2026-11-20T12:00:00Z",
    );
    assert_eq!(
        deliver(&s, &odd, "delivery-2").await.body["status"],
        "ignored"
    );
    assert_eq!(payment(&s).await["status"], "processing");
    assert!(audit_rows(&s).await.is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_signed_body_that_is_not_an_event_is_400(pool: PgPool) {
    let s = setup(pool).await;
    let body = "[1, 2, 3]";
    let r = deliver_raw(
        &s.webhooks.router,
        body,
        "delivery-1",
        Some(sign(&s.wise, body.as_bytes())),
    )
    .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "malformed_event");
    assert_eq!(
        count(&s, "SELECT count(*) FROM wise_webhook_deliveries").await,
        0
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn without_wise_public_key_deliveries_are_503(pool: PgPool) {
    let router = webhooks::app(shared::testing::state_as(
        pool,
        shared::db::Login::Worker,
        &[],
    ));
    let r = deliver_raw(&router, "{}", "delivery-1", Some("c2ln".into())).await;
    assert_problem(
        &r,
        StatusCode::SERVICE_UNAVAILABLE,
        "webhooks_not_configured",
    );
}
