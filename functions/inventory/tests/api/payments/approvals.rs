//! `POST /api/purchase-orders/{id}/pay/approve` and `/pay/reject`: payments that need a second
//! owner or admin (the threshold, new bank details), and cancelling an order that waits.
//!
//! Routes: `POST /api/purchase-orders/{id}/pay/approve`,
//!  `POST /api/purchase-orders/{id}/pay/reject`.

use super::*;

async fn set_threshold(app: &TestApp, owner: &Registered, amount: Option<&str>) {
    let r = app
        .by(&owner.token)
        .stepped_up()
        .put(
            "/api/payments/policy",
            json!({"approval_threshold": amount, "approval_currency": "EUR"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// At or above the threshold a payment waits for a second owner or admin: the one who asked
/// cannot approve it (403), another approves and it is paid then, with who and when recorded;
/// below the threshold it goes straight through.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn payments_at_or_above_the_threshold_need_a_second_owner_or_admin(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let ann = org(&app, "ann@example.com").await;
    let bob = colleague(&app, &ann, "bob@example.com", shared::auth::Role::Admin).await;
    let supplier = payable_supplier(&app, &ann, "EUR").await;
    set_threshold(&app, &ann, Some("25.00")).await;

    let order = submitted_order(&app, &ann, &supplier).await;
    let asked = pay(&app, &ann, &order).await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.body);
    assert_eq!(asked.body["approval"]["status"], "pending");
    assert_eq!(asked.body["approval"]["reasons"], json!(["threshold"]));
    assert_eq!(asked.body["approval"]["amount"], "25.00");
    assert_eq!(asked.body["payment"], Value::Null);
    assert!(wise.book().calls.is_empty());
    assert_problem(
        &pay(&app, &ann, &order).await,
        StatusCode::CONFLICT,
        "approval_pending",
    );

    assert_problem(
        &approve(&app, &ann, &order).await,
        StatusCode::FORBIDDEN,
        "own_payment",
    );
    let plain = app
        .by(&bob.token)
        .post(
            &format!("/api/purchase-orders/{order}/pay/approve"),
            json!({}),
        )
        .await;
    assert_problem(&plain, StatusCode::UNAUTHORIZED, "step_up_required");
    let user = app
        .member(&ann.org_id, "u@example.com", json!({"purchasing": "write"}))
        .await;
    let by_user = app
        .by(&user.token)
        .stepped_up()
        .send(
            Method::POST,
            &format!("/api/purchase-orders/{order}/pay/approve"),
            None,
        )
        .await;
    assert_problem(&by_user, StatusCode::FORBIDDEN, "admin_required");
    assert!(wise.book().calls.is_empty());

    let approved = approve(&app, &bob, &order).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["approval"]["status"], "approved");
    assert_eq!(
        approved.body["approval"]["decided_by"],
        json!(bob_id(&app, "bob@example.com").await)
    );
    assert!(approved.body["approval"]["decided_at"].is_string());
    assert_eq!(approved.body["payment"]["status"], "processing");
    assert_eq!(wise.book().transfers.len(), 1);
    let actions: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT action, actor_user_id::text FROM audit_log
         WHERE action LIKE 'purchase_order_payment_approval_%' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0].0, "purchase_order_payment_approval_requested");
    assert_eq!(actions[1].0, "purchase_order_payment_approval_approved");
    assert_eq!(
        actions[1].1.as_deref(),
        Some(bob_id(&app, "bob@example.com").await.as_str())
    );

    // Below the threshold: straight through.
    set_threshold(&app, &ann, Some("25.01")).await;
    let small = submitted_order(&app, &ann, &supplier).await;
    let r = pay(&app, &ann, &small).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["approval"], Value::Null);
}

async fn bob_id(app: &TestApp, email: &str) -> String {
    sqlx::query_scalar("SELECT id::text FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Cancelling the order cancels its pending approval; a rejected payment is not paid.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cancelling_the_order_cancels_its_pending_approval(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let ann = org(&app, "ann@example.com").await;
    let bob = colleague(&app, &ann, "bob@example.com", shared::auth::Role::Admin).await;
    let supplier = payable_supplier(&app, &ann, "EUR").await;
    set_threshold(&app, &ann, Some("1.00")).await;
    let order = submitted_order(&app, &ann, &supplier).await;
    assert_eq!(pay(&app, &ann, &order).await.status, StatusCode::ACCEPTED);
    let cancelled = app
        .by(&ann)
        .post(&format!("/api/purchase-orders/{order}/cancel"), json!({}))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["approval"]["status"], "cancelled");
    assert_problem(
        &approve(&app, &bob, &order).await,
        StatusCode::CONFLICT,
        "no_pending_approval",
    );

    let other = submitted_order(&app, &ann, &supplier).await;
    assert_eq!(pay(&app, &ann, &other).await.status, StatusCode::ACCEPTED);
    let rejected = app
        .by(&bob.token)
        .post(
            &format!("/api/purchase-orders/{other}/pay/reject"),
            json!({}),
        )
        .await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.body);
    assert_eq!(rejected.body["approval"]["status"], "rejected");
    assert_problem(
        &approve(&app, &bob, &other).await,
        StatusCode::CONFLICT,
        "no_pending_approval",
    );
    assert!(wise.book().calls.is_empty());
}

/// Bank details set or changed in the last 24 hours: the payment needs a second person, who is
/// neither the one who asked nor the one who changed them. After 24 hours it goes straight
/// through.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_payment_to_details_changed_in_the_last_day_needs_a_second_person(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let ann = org(&app, "ann@example.com").await;
    let bob = colleague(&app, &ann, "bob@example.com", shared::auth::Role::Admin).await;
    let cat = colleague(&app, &ann, "cat@example.com", shared::auth::Role::Owner).await;
    let supplier = payable_supplier(&app, &ann, "EUR").await;
    // Bob changed the supplier's bank details an hour ago.
    sqlx::query(
        "UPDATE suppliers SET payment_details_changed_at = now() - interval '1 hour',
                payment_details_changed_by = (SELECT id FROM users WHERE email = 'bob@example.com')
         WHERE id = $1::uuid",
    )
    .bind(&supplier)
    .execute(&app.pool)
    .await
    .unwrap();
    let order = submitted_order(&app, &ann, &supplier).await;
    let asked = pay(&app, &ann, &order).await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.body);
    assert_eq!(asked.body["approval"]["reasons"], json!(["payee_changed"]));
    assert_problem(
        &approve(&app, &bob, &order).await,
        StatusCode::FORBIDDEN,
        "own_payee_change",
    );
    assert!(wise.book().calls.is_empty());
    let approved = approve(&app, &cat, &order).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["payment"]["status"], "processing");

    sqlx::query("UPDATE suppliers SET payment_details_changed_at = now() - interval '25 hours'")
        .execute(&app.pool)
        .await
        .unwrap();
    let later = submitted_order(&app, &ann, &supplier).await;
    let r = pay(&app, &ann, &later).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// Approvals by two admins and pays by the requester, all at once on one pending payment: the
/// money moves once.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_approvals_and_pays_move_money_once(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let ann = org(&app, "ann@example.com").await;
    let bob = colleague(&app, &ann, "bob@example.com", shared::auth::Role::Admin).await;
    let cat = colleague(&app, &ann, "cat@example.com", shared::auth::Role::Admin).await;
    let supplier = payable_supplier(&app, &ann, "EUR").await;
    set_threshold(&app, &ann, Some("10.00")).await;
    let order = submitted_order(&app, &ann, &supplier).await;
    assert_eq!(pay(&app, &ann, &order).await.status, StatusCode::ACCEPTED);

    let (r1, r2, r3, r4) = tokio::join!(
        approve(&app, &bob, &order),
        approve(&app, &cat, &order),
        pay(&app, &ann, &order),
        pay(&app, &ann, &order),
    );
    let statuses = [r1.status, r2.status, r3.status, r4.status];
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}: {} {} {} {}",
        r1.body,
        r2.body,
        r3.body,
        r4.body
    );
    for r in [&r1, &r2, &r3, &r4] {
        assert!(
            [StatusCode::OK, StatusCode::CONFLICT].contains(&r.status),
            "{}",
            r.body
        );
    }
    let book = wise.book();
    assert_eq!(book.transfers.len(), 1);
    assert_eq!(book.fundings.len(), 1);
}

async fn reject(app: &TestApp, who: &Registered, order: &str) -> TestResponse {
    app.by(who)
        .post(
            &format!("/api/purchase-orders/{order}/pay/reject"),
            json!({}),
        )
        .await
}

/// `/pay/reject`: an owner or admin turns a waiting payment down, or the one who asked withdraws
/// it; a plain user cannot; nothing reaches Wise, and paying again asks for a new approval.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_waiting_payment_is_rejected_or_withdrawn_and_nothing_is_paid(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let ann = org(&app, "ann@example.com").await;
    let bob = colleague(&app, &ann, "bob@example.com", shared::auth::Role::Admin).await;
    let supplier = payable_supplier(&app, &ann, "EUR").await;
    set_threshold(&app, &ann, Some("25.00")).await;
    let order = submitted_order(&app, &ann, &supplier).await;
    assert_problem(
        &reject(&app, &bob, &order).await,
        StatusCode::CONFLICT,
        "no_pending_approval",
    );

    assert_eq!(pay(&app, &ann, &order).await.status, StatusCode::ACCEPTED);
    let user = app
        .member(&ann.org_id, "u@example.com", json!({"purchasing": "write"}))
        .await;
    assert_problem(
        &reject(&app, &user, &order).await,
        StatusCode::FORBIDDEN,
        "admin_required",
    );
    let rejected = reject(&app, &bob, &order).await.assert(200);
    assert_eq!(rejected["approval"]["status"], "rejected");
    assert_eq!(rejected["approval"]["decided_by"], bob.user_id.as_str());
    assert_eq!(rejected["payment"], Value::Null);
    assert_eq!(rejected["status"], "submitted", "the order itself stands");

    let asked_again = pay(&app, &ann, &order).await;
    assert_eq!(
        asked_again.status,
        StatusCode::ACCEPTED,
        "{}",
        asked_again.body
    );
    assert_eq!(asked_again.body["approval"]["status"], "pending");
    let withdrawn = reject(&app, &ann, &order).await.assert(200);
    assert_eq!(withdrawn["approval"]["status"], "rejected");
    assert_eq!(withdrawn["approval"]["decided_by"], ann.user_id.as_str());
    assert!(wise.book().calls.is_empty());
    let actions = audit_actions(&app, &order).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| a.as_str() == "purchase_order_payment_approval_rejected")
            .count(),
        2,
        "{actions:?}"
    );
}
