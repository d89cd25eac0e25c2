//! Reservations: units held, confirmed, cancelled or expired, never oversold.
//!
//! Routes: `GET /api/inventory/reservations`, `POST /api/inventory/reservations`,
//!  `GET /api/inventory/reservations/{id}`, `POST /api/inventory/reservations/{id}/cancel`,
//!  `POST /api/inventory/reservations/{id}/confirm`.

use crate::support::*;
use http::StatusCode;
use serde_json::json;
use shared::testing::assert_problem;
use sqlx::PgPool;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_reservations_never_oversell(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 7).await;

    let attempts = (0..40).map(|_| {
        app.by(&org).post(
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
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 5).await;
    let held = app.by(&org).post("/api/inventory/reservations", json!({"product_id": bolt, "quantity": 4, "expires_in_seconds": 600, "reference": "cart-9"})).await;
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.body);
    let sell = app
        .by(&org)
        .post(
            "/api/inventory/movements",
            json!({"kind": "sell", "product_id": bolt, "quantity": 2, "reason": "till"}),
        )
        .await;
    assert_problem(&sell, StatusCode::CONFLICT, "insufficient_stock");
    assert_eq!(sell.body["available"], 1);
    let more = app
        .by(&org)
        .post(
            "/api/inventory/reservations",
            json!({"product_id": bolt, "quantity": 2, "expires_in_seconds": 600}),
        )
        .await;
    assert_problem(&more, StatusCode::CONFLICT, "insufficient_stock");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn confirming_sells_and_cancelling_releases(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 10).await;
    let a = app
        .by(&org)
        .post(
            "/api/inventory/reservations",
            json!({"product_id": bolt, "quantity": 3, "expires_in_seconds": 600}),
        )
        .await;
    let b = app
        .by(&org)
        .post(
            "/api/inventory/reservations",
            json!({"product_id": bolt, "quantity": 2, "expires_in_seconds": 600}),
        )
        .await;
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (10, 5));
    let confirmed = app
        .by(&org)
        .post(
            &format!(
                "/api/inventory/reservations/{}/confirm",
                a.body["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(confirmed.body["status"], "confirmed", "{}", confirmed.body);
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (7, 2));
    let cancelled = app
        .by(&org)
        .post(
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
    let again = app
        .by(&org)
        .post(
            &format!(
                "/api/inventory/reservations/{}/confirm",
                b.body["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_problem(&again, StatusCode::CONFLICT, "reservation_not_active");
    let ledger = app
        .by(&org.token)
        .get(&format!(
            "/api/inventory/movements?kind=sell&product_id={bolt}"
        ))
        .await;
    assert_eq!(ledger.body["items"][0]["quantity"], -3);
    assert_eq!(ledger.body["items"][0]["reservation_id"], a.body["id"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_expired_reservation_cannot_be_confirmed(pool: PgPool) {
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 2).await;
    let r = app
        .by(&org)
        .post(
            "/api/inventory/reservations",
            json!({"product_id": bolt, "quantity": 1, "expires_in_seconds": 60}),
        )
        .await;
    sqlx::query("UPDATE reservations SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    let confirm = app
        .by(&org)
        .post(
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
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    let bolt = product(&app, &b, "BOLT", 0).await;
    receive(&app, &b, &bolt, 5).await;
    let theirs = app
        .by(&b)
        .post(
            "/api/inventory/reservations",
            json!({"product_id": bolt, "quantity": 2, "expires_in_seconds": 600}),
        )
        .await;
    let id = theirs.body["id"].as_str().unwrap();
    assert_problem(
        &app.by(&a.token)
            .get(&format!("/api/inventory/reservations/{id}"))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    for action in ["confirm", "cancel"] {
        let r = app
            .by(&a)
            .post(
                &format!("/api/inventory/reservations/{id}/{action}"),
                json!({}),
            )
            .await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (5, 2));
    let listed = app.by(&a.token).get("/api/inventory/reservations").await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 0);
    let stock = app.by(&a.token).get("/api/inventory/stock").await;
    assert_eq!(stock.body["items"].as_array().unwrap().len(), 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_expired_hold_is_released_at_once_without_the_sweep(pool: PgPool) {
    // The shop's 5-second hold, seen 3 seconds after it expired, with no scheduler run.
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 1).await;
    let hold = app
        .by(&org)
        .post(
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
    let seen = app.by(&org.token).get(&path).await;
    assert_eq!(seen.body["status"], "expired");
    let stock = app
        .by(&org.token)
        .get(&format!("/api/inventory/stock?product_id={bolt}"))
        .await;
    assert_eq!(
        (
            &stock.body["items"][0]["reserved"],
            &stock.body["items"][0]["available"]
        ),
        (&json!(0), &json!(1))
    );
    let active = app
        .by(&org.token)
        .get("/api/inventory/reservations?status=active")
        .await;
    assert_eq!(active.body["items"], json!([]));

    // The sale goes through, and the hold can no longer be confirmed.
    let sell = app
        .by(&org)
        .post(
            "/api/inventory/movements",
            json!({"kind": "sell", "product_id": bolt, "quantity": 1, "reason": "till"}),
        )
        .await;
    assert_eq!(sell.status, StatusCode::CREATED, "{}", sell.body);
    let confirm = app
        .by(&org)
        .post(&format!("{path}/confirm"), json!({}))
        .await;
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
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 2).await;
    let first = app
        .by(&org)
        .post(
            "/api/inventory/reservations",
            json!({"product_id": bolt, "quantity": 2, "expires_in_seconds": 1}),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let second = app
        .by(&org)
        .post(
            "/api/inventory/reservations",
            json!({"product_id": bolt, "quantity": 2, "expires_in_seconds": 600}),
        )
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (2, 2));
    let cancel = app
        .by(&org)
        .post(
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
