use crate::support::*;
use http::StatusCode;
use serde_json::json;
use shared::testing::{assert_problem, register};
use sqlx::PgPool;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_reservations_never_oversell(pool: PgPool) {
    let app = app(pool);
    let org = register(&app, "ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 7).await;

    let attempts = (0..40).map(|_| {
        post(
            &app,
            &org,
            "/api/inventory/reservations",
            json!({"product_id": bolt, "quantity": 1, "expires_in_seconds": 600}),
        )
    });
    let results = futures_util::future::join_all(attempts).await;
    let ok = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let refused = results
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!(ok, 7, "exactly the stock's worth of reservations succeed");
    assert_eq!(refused, 33);
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (7, 7));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn reserved_stock_is_not_available_to_sell(pool: PgPool) {
    let app = app(pool);
    let org = register(&app, "ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 5).await;
    let held = post(&app, &org, "/api/inventory/reservations", json!({"product_id": bolt, "quantity": 4, "expires_in_seconds": 600, "reference": "cart-9"})).await;
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.body);
    let sell = post(
        &app,
        &org,
        "/api/inventory/movements",
        json!({"kind": "sell", "product_id": bolt, "quantity": 2, "reason": "till"}),
    )
    .await;
    assert_problem(&sell, StatusCode::CONFLICT, "insufficient_stock");
    assert_eq!(sell.body["available"], 1);
    let more = post(
        &app,
        &org,
        "/api/inventory/reservations",
        json!({"product_id": bolt, "quantity": 2, "expires_in_seconds": 600}),
    )
    .await;
    assert_problem(&more, StatusCode::CONFLICT, "insufficient_stock");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn confirming_sells_and_cancelling_releases(pool: PgPool) {
    let app = app(pool);
    let org = register(&app, "ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 10).await;
    let a = post(
        &app,
        &org,
        "/api/inventory/reservations",
        json!({"product_id": bolt, "quantity": 3, "expires_in_seconds": 600}),
    )
    .await;
    let b = post(
        &app,
        &org,
        "/api/inventory/reservations",
        json!({"product_id": bolt, "quantity": 2, "expires_in_seconds": 600}),
    )
    .await;
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (10, 5));
    let confirmed = post(
        &app,
        &org,
        &format!(
            "/api/inventory/reservations/{}/confirm",
            a.body["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_eq!(confirmed.body["status"], "confirmed", "{}", confirmed.body);
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (7, 2));
    let cancelled = post(
        &app,
        &org,
        &format!(
            "/api/inventory/reservations/{}/cancel",
            b.body["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (7, 0));
    // Finished reservations stay finished.
    let again = post(
        &app,
        &org,
        &format!(
            "/api/inventory/reservations/{}/confirm",
            b.body["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_problem(&again, StatusCode::CONFLICT, "reservation_not_active");
    let ledger = app
        .get_with(
            &format!("/api/inventory/movements?kind=sell&product_id={bolt}"),
            &org.token,
        )
        .await;
    assert_eq!(ledger.body["items"][0]["quantity"], -3);
    assert_eq!(ledger.body["items"][0]["reservation_id"], a.body["id"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_expired_reservation_cannot_be_confirmed(pool: PgPool) {
    let app = app(pool.clone());
    let org = register(&app, "ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 2).await;
    let r = post(
        &app,
        &org,
        "/api/inventory/reservations",
        json!({"product_id": bolt, "quantity": 1, "expires_in_seconds": 60}),
    )
    .await;
    sqlx::query("UPDATE reservations SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    let confirm = post(
        &app,
        &org,
        &format!(
            "/api/inventory/reservations/{}/confirm",
            r.body["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_problem(&confirm, StatusCode::CONFLICT, "reservation_not_active");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_organizations_reservation_is_404_and_unchanged(pool: PgPool) {
    let app = app(pool);
    let a = register(&app, "a@example.com").await;
    let b = register(&app, "b@example.com").await;
    let bolt = product(&app, &b, "BOLT", 0).await;
    receive(&app, &b, &bolt, 5).await;
    let theirs = post(
        &app,
        &b,
        "/api/inventory/reservations",
        json!({"product_id": bolt, "quantity": 2, "expires_in_seconds": 600}),
    )
    .await;
    let id = theirs.body["id"].as_str().unwrap();
    assert_problem(
        &app.get_with(&format!("/api/inventory/reservations/{id}"), &a.token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    for action in ["confirm", "cancel"] {
        let r = post(
            &app,
            &a,
            &format!("/api/inventory/reservations/{id}/{action}"),
            json!({}),
        )
        .await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (5, 2));
    let listed = app.get_with("/api/inventory/reservations", &a.token).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 0);
    let stock = app.get_with("/api/inventory/stock", &a.token).await;
    assert_eq!(stock.body["items"].as_array().unwrap().len(), 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_expired_hold_is_released_at_once_without_the_sweep(pool: PgPool) {
    // The shop's 5-second hold, seen 3 seconds after it expired, with no scheduler run.
    let app = app(pool.clone());
    let org = register(&app, "ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 1).await;
    let hold = post(
        &app,
        &org,
        "/api/inventory/reservations",
        json!({"product_id": bolt, "quantity": 1, "expires_in_seconds": 1}),
    )
    .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let path = format!(
        "/api/inventory/reservations/{}",
        hold.body["id"].as_str().unwrap()
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    // Reads see it released before anything writes.
    let seen = app.get_with(&path, &org.token).await;
    assert_eq!(seen.body["status"], "expired");
    let stock = app
        .get_with(
            &format!("/api/inventory/stock?product_id={bolt}"),
            &org.token,
        )
        .await;
    assert_eq!(
        (
            &stock.body["items"][0]["reserved"],
            &stock.body["items"][0]["available"]
        ),
        (&json!(0), &json!(1))
    );
    let active = app
        .get_with("/api/inventory/reservations?status=active", &org.token)
        .await;
    assert_eq!(active.body["items"], json!([]));

    // The sale goes through, and the hold can no longer be confirmed.
    let sell = post(
        &app,
        &org,
        "/api/inventory/movements",
        json!({"kind": "sell", "product_id": bolt, "quantity": 1, "reason": "till"}),
    )
    .await;
    assert_eq!(sell.status, StatusCode::CREATED, "{}", sell.body);
    let confirm = post(&app, &org, &format!("{path}/confirm"), json!({})).await;
    assert_problem(&confirm, StatusCode::CONFLICT, "reservation_not_active");
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (0, 0));
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'reservation_expired' AND entity_id = $1::uuid",
    )
    .bind(hold.body["id"].as_str().unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 1, "released once, and recorded");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_new_hold_may_take_the_units_of_an_expired_one(pool: PgPool) {
    let app = app(pool);
    let org = register(&app, "ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 2).await;
    let first = post(
        &app,
        &org,
        "/api/inventory/reservations",
        json!({"product_id": bolt, "quantity": 2, "expires_in_seconds": 1}),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let second = post(
        &app,
        &org,
        "/api/inventory/reservations",
        json!({"product_id": bolt, "quantity": 2, "expires_in_seconds": 600}),
    )
    .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (2, 2));
    let cancel = post(
        &app,
        &org,
        &format!(
            "/api/inventory/reservations/{}/cancel",
            first.body["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_problem(&cancel, StatusCode::CONFLICT, "reservation_not_active");
    assert_eq!(
        on_hand_and_reserved(&app, &bolt).await,
        (2, 2),
        "nothing given back twice"
    );
}
