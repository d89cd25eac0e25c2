//! `/api/payments/policy`: the organization's approval threshold, read by owners and admins and
//! set by an owner with a step-up. A loosening that waits for a second owner is replayed in
//! `second_person::loosening_the_payment_policy_waits_for_a_second_owner`.
//!
//! Routes: `GET /api/payments/policy`, `PUT /api/payments/policy`,
//!  `POST /api/payments/policy/approve`, `POST /api/payments/policy/reject`.

use super::*;
use shared::auth::Role;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn owners_set_the_threshold_admins_read_it_and_users_reach_neither(pool: PgPool) {
    let app = app(pool);
    let ann = app.register("ann@example.com").await;
    let ada = app
        .with_member(&ann, "ada@example.com", Role::Admin, json!({}))
        .await;
    let uma = app
        .with_member(
            &ann,
            "uma@example.com",
            Role::User,
            json!({"purchasing": "write"}),
        )
        .await;

    let none = app.by(&ann).get("/api/payments/policy").await.assert(200);
    assert_eq!(none["approval_threshold"], Value::Null);
    assert_eq!(none["payee_change_hours"], 24);
    assert_eq!(none["pending_change"], Value::Null);

    let body = json!({"approval_threshold": "1000.00", "approval_currency": "EUR"});
    let without_step_up = app.by(&ann).put("/api/payments/policy", body.clone()).await;
    assert_problem(
        &without_step_up,
        StatusCode::UNAUTHORIZED,
        "step_up_required",
    );
    let set = app
        .by(&ann)
        .stepped_up()
        .put("/api/payments/policy", body.clone())
        .await
        .assert(200);
    assert_eq!(set["approval_threshold"], "1000.00");
    assert_eq!(set["approval_currency"], "EUR");
    assert_eq!(set["updated_by"], ann.user_id.as_str());

    let read = app.by(&ada).get("/api/payments/policy").await.assert(200);
    assert_eq!(read["approval_threshold"], "1000.00");
    let by_admin = app
        .by(&ada)
        .stepped_up()
        .put("/api/payments/policy", json!({"approval_threshold": null}))
        .await;
    assert_problem(&by_admin, StatusCode::FORBIDDEN, "owner_required");
    for denied in [
        app.by(&uma).get("/api/payments/policy").await,
        app.by(&uma)
            .stepped_up()
            .put("/api/payments/policy", body.clone())
            .await,
    ] {
        assert_problem(&denied, StatusCode::FORBIDDEN, "admin_required");
    }
    let invalid = app
        .by(&ann)
        .stepped_up()
        .put(
            "/api/payments/policy",
            json!({"approval_threshold": "1e3", "approval_currency": "eur"}),
        )
        .await;
    assert_eq!(
        invalid.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        invalid.body
    );
    let after = app.by(&ann).get("/api/payments/policy").await.assert(200);
    assert_eq!(
        after["approval_threshold"], "1000.00",
        "a refused change changes nothing"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn approving_or_rejecting_when_nothing_waits_is_409(pool: PgPool) {
    let app = app(pool);
    let ann = app.register("ann@example.com").await;
    let approve = app
        .by(&ann)
        .stepped_up()
        .post("/api/payments/policy/approve", json!({}))
        .await;
    assert_problem(&approve, StatusCode::CONFLICT, "no_pending_change");
    let reject = app
        .by(&ann)
        .post("/api/payments/policy/reject", json!({}))
        .await;
    assert_problem(&reject, StatusCode::CONFLICT, "no_pending_change");
}
