//! Whose transfer a delivery is: a profile nobody holds, none at all, or another
//! organization's, moves nothing.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_transfer_no_order_made_is_acknowledged_and_changes_nothing(pool: PgPool) {
    let s = setup(pool).await;
    let theirs = state_change(
        999,
        "outgoing_payment_sent",
        "processing",
        "2026-11-20T12:00:00Z",
    );
    let r = deliver(&s, &theirs, "delivery-1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"status": "unknown_transfer"}));
    let payment = payment(&s).await;
    assert_eq!(payment["status"], "processing");
    assert_eq!(payment["wise_state"], "incoming_payment_waiting");
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM audit_log WHERE action LIKE 'purchase_order_payment%'"
        )
        .await,
        0
    );
    assert_eq!(
        delivery(&s, "delivery-1").await,
        (
            Some(999),
            Some(PROFILE),
            Some("unknown_transfer".to_owned())
        )
    );
}

/// Asserts that the order's payment and its audit are as `setup` left them.
async fn nothing_moved(s: &Setup) {
    let payment = payment(s).await;
    assert_eq!(payment["status"], "processing");
    assert_eq!(payment["wise_state"], "incoming_payment_waiting");
    assert_eq!(payment["wise_state_at"], Value::Null);
    assert_eq!(payment["paid_at"], Value::Null);
    assert_eq!(
        count(
            s,
            "SELECT count(*) FROM audit_log WHERE action LIKE 'purchase_order_payment%'"
        )
        .await,
        0
    );
}

/// `state_change` of `transfer` for Wise profile `profile`, or with no profile at all.
fn state_change_of(transfer: i64, profile: Option<i64>, state: &str) -> Value {
    let mut event = state_change(transfer, state, "processing", "2026-11-20T12:00:00Z");
    match profile {
        Some(profile) => event["data"]["resource"]["profile_id"] = json!(profile),
        None => {
            event["data"]["resource"]
                .as_object_mut()
                .unwrap()
                .remove("profile_id");
        }
    }
    event
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_delivery_for_a_profile_nobody_holds_is_recorded_and_changes_nothing(pool: PgPool) {
    let s = setup(pool).await;
    // The order's very transfer id, but from a profile no organization connected or paid from.
    let stranger = state_change_of(TRANSFER, Some(PROFILE + 1), "outgoing_payment_sent");
    let r = deliver(&s, &stranger, "delivery-1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"status": "unknown_profile"}));
    assert_eq!(
        delivery(&s, "delivery-1").await,
        (
            Some(TRANSFER),
            Some(PROFILE + 1),
            Some("unknown_profile".to_owned())
        )
    );
    nothing_moved(&s).await;
    // It was recorded: the same delivery again is a duplicate.
    assert_eq!(
        deliver(&s, &stranger, "delivery-1").await.body["status"],
        "duplicate"
    );
    nothing_moved(&s).await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_delivery_without_a_profile_is_recorded_and_changes_nothing(pool: PgPool) {
    let s = setup(pool).await;
    let anonymous = state_change_of(TRANSFER, None, "outgoing_payment_sent");
    assert!(anonymous["data"]["resource"].get("profile_id").is_none());
    let r = deliver(&s, &anonymous, "delivery-1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"status": "unknown_profile"}));
    assert_eq!(
        delivery(&s, "delivery-1").await,
        (Some(TRANSFER), None, Some("unknown_profile".to_owned()))
    );
    nothing_moved(&s).await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_organizations_profile_cannot_move_this_organizations_transfer(pool: PgPool) {
    let s = setup(pool).await;
    // A second organization connected its own Wise profile, and never paid from it.
    let other = s.webhooks.register("bruno@example.com").await;
    sqlx::query(
        "INSERT INTO wise_connections
             (org_id, api_token, token_hint, profile_id, profile_type, profile_name, connected_by)
         VALUES ($1, $2, 'abcd', $3, 'business', 'Bruno Ltd', $4)",
    )
    .bind(other.org_id.parse::<Uuid>().unwrap())
    .bind(vec![0u8; 16])
    .bind(PROFILE + 1)
    .bind(other.user_id.parse::<Uuid>().unwrap())
    .execute(&s.pool)
    .await
    .unwrap();

    // The known profile with the first organization's transfer id: no payment of that profile
    // made it.
    let crossed = state_change_of(TRANSFER, Some(PROFILE + 1), "cancelled");
    let r = deliver(&s, &crossed, "delivery-1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"status": "unknown_transfer"}));
    assert_eq!(
        delivery(&s, "delivery-1").await,
        (
            Some(TRANSFER),
            Some(PROFILE + 1),
            Some("unknown_transfer".to_owned())
        )
    );
    nothing_moved(&s).await;

    // The right pair still moves it.
    let sent = state_change_of(TRANSFER, Some(PROFILE), "outgoing_payment_sent");
    assert_eq!(
        deliver(&s, &sent, "delivery-2").await.body["status"],
        "processed"
    );
    assert_eq!(payment(&s).await["status"], "paid");
}
