//! A second person is a second person: replays of the ways one person could move money alone,
//! each refused. (The suppliers function's side, changing bank details, is its own tests'.)

use http::{Method, StatusCode};
use serde_json::json;
use shared::auth::Role;
use shared::testing::{Registered, TestApp, assert_problem};
use sqlx::PgPool;
use uuid::Uuid;

use crate::payments::{IBAN, approve, org, pay, payable_supplier, submitted_order, with_wise};

/// Someone `by` made `role` of `org` just now: invited and joined (as the auth function's
/// acceptance leaves them), signed in.
async fn fresh(
    app: &TestApp,
    org: &Registered,
    email: &str,
    role: Role,
    by: &Registered,
) -> Registered {
    let (user, _) =
        shared::testing::invited(&app.pool, &org.org_id, email, role, json!({}), "7 days").await;
    sqlx::query("UPDATE users SET password_hash = 'x' WHERE id = $1;")
        .bind(user)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE memberships SET joined_at = now(), invited_by = $3::uuid,
                admin_granted_by = $3::uuid
         WHERE org_id = $1::uuid AND user_id = $2",
    )
    .bind(&org.org_id)
    .bind(user)
    .bind(&by.user_id)
    .execute(&app.pool)
    .await
    .unwrap();
    let org_id: Uuid = org.org_id.parse().unwrap();
    let token = shared::testing::session_token(&app.pool, org_id, user, role).await;
    Registered {
        org_id: org.org_id.clone(),
        user_id: user.to_string(),
        token,
    }
}

/// The supplier's bank details changed to another account by `who`, now (what a
/// `PATCH /api/suppliers/{id}` with new `payment_details` writes).
async fn change_payee(app: &TestApp, supplier: &str, iban: &str, who: &Registered) {
    let details = shared::payment_details::PaymentDetails {
        account_holder_name: "Someone Else".into(),
        currency: "EUR".into(),
        kind: "iban".into(),
        details: std::collections::BTreeMap::from([("iban".to_owned(), iban.to_owned())]),
    };
    let id: Uuid = supplier.parse().unwrap();
    let sealed = details
        .seal(&shared::testing::settings(&[]).keys.snapshot(), id)
        .unwrap();
    sqlx::query(
        "UPDATE suppliers SET payment_details = $2, payment_details_changed_at = now(),
                payment_details_changed_by = $3::uuid
         WHERE id = $1",
    )
    .bind(id)
    .bind(sealed)
    .bind(&who.user_id)
    .execute(&app.pool)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_admin_cannot_pay_themselves_through_an_admin_of_their_own_making(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let owner = org(&app, "ann@example.com").await;
    // Mallory has been an admin for long.
    let mallory = app
        .person(&owner.org_id, "mallory@example.com", Role::Admin, json!({}))
        .await;
    let supplier = payable_supplier(&app, &owner, "EUR").await;
    let order = submitted_order(&app, &owner, &supplier).await;
    // She puts her own account on the supplier and pays: it waits for a second person.
    change_payee(&app, &supplier, "GB33BUKB20201555555555", &mallory).await;
    let asked = pay(&app, &mallory, &order).await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.body);
    // She invites a second address of hers as an admin and accepts: a second person on paper.
    let sock = fresh(
        &app,
        &owner,
        "mallory.two@example.com",
        Role::Admin,
        &mallory,
    )
    .await;
    let refused = approve(&app, &sock, &order).await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "admin_cooling_off");
    assert!(wise.book().transfers.is_empty(), "nothing went out");
    // The organization's settled owner is a second person.
    let approved = approve(&app, &owner, &order).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(wise.book().transfers.len(), 1);

    // The cooling-off ends: 72 hours later the new admin counts as a second person.
    sqlx::query("UPDATE memberships SET admin_granted_at = now() - interval '73 hours', joined_at = now() - interval '73 hours' WHERE user_id = $1::uuid")
        .bind(&sock.user_id)
        .execute(&app.pool)
        .await
        .unwrap();
    let next = submitted_order(&app, &owner, &supplier).await;
    change_payee(&app, &supplier, "GB94BARC10201530093459", &mallory).await;
    assert_eq!(
        pay(&app, &mallory, &next).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(approve(&app, &sock, &next).await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_approval_covers_the_details_it_was_given_for(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let owner = org(&app, "ann@example.com").await;
    let bea = app
        .person(&owner.org_id, "bea@example.com", Role::Admin, json!({}))
        .await;
    let otto = app
        .person(&owner.org_id, "otto@example.com", Role::Admin, json!({}))
        .await;
    let supplier = payable_supplier(&app, &owner, "EUR").await;
    let order = submitted_order(&app, &owner, &supplier).await;
    change_payee(&app, &supplier, "GB33BUKB20201555555555", &owner).await;
    assert_eq!(pay(&app, &bea, &order).await.status, StatusCode::ACCEPTED);
    // The details change again after it was asked: the approval is not for these.
    change_payee(&app, &supplier, "GB94BARC10201530093459", &owner).await;
    let stale = approve(&app, &otto, &order).await;
    assert_problem(&stale, StatusCode::CONFLICT, "approval_stale");
    assert!(wise.book().transfers.is_empty());
}

/// Fifty times, a payment and a change of the supplier's bank details are released together.
/// Whichever comes first, money never goes to the new details without a second person: either
/// the payment is made to the old details (the change waits for it), or it waits for approval.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_change_of_bank_details_racing_a_payment_never_sends_money_to_them(pool: PgPool) {
    let (app, wise) = with_wise(pool.clone()).await;
    let owner = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &owner, "EUR").await;
    let new_iban = "GB33BUKB20201555555555";
    let (mut paid, mut waited) = (0, 0);
    for round in 0..50 {
        let order = submitted_order(&app, &owner, &supplier).await;
        // The old details, set long ago: no approval needed for them.
        sqlx::query("UPDATE suppliers SET payment_details_changed_at = now() - interval '30 days' WHERE id = $1::uuid")
            .bind(&supplier)
            .execute(&pool)
            .await
            .unwrap();
        let change = async {
            // Released a little later in some rounds, so that either may reach the supplier
            // first.
            tokio::time::sleep(std::time::Duration::from_micros((round % 10) * 1_500)).await;
            // What the suppliers function does: lock the supplier, write, commit.
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("SELECT 1 FROM suppliers WHERE id = $1::uuid FOR UPDATE")
                .bind(&supplier)
                .execute(&mut *tx)
                .await
                .unwrap();
            let details = shared::payment_details::PaymentDetails {
                account_holder_name: "Mallory".into(),
                currency: "EUR".into(),
                kind: "iban".into(),
                details: std::collections::BTreeMap::from([(
                    "iban".to_owned(),
                    new_iban.to_owned(),
                )]),
            };
            let id: Uuid = supplier.parse().unwrap();
            let sealed = details
                .seal(&shared::testing::settings(&[]).keys.snapshot(), id)
                .unwrap();
            sqlx::query("UPDATE suppliers SET payment_details = $2, payment_details_changed_at = now() WHERE id = $1")
                .bind(id)
                .bind(sealed)
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        };
        let (answer, ()) = tokio::join!(pay(&app, &owner, &order), change);
        match answer.status {
            StatusCode::OK => paid += 1,
            StatusCode::ACCEPTED => waited += 1,
            other => panic!("round {round}: {other} {}", answer.body),
        }
        // Back to the old account for the next round.
        let old = crate::payments::iban_details("EUR");
        let id: Uuid = supplier.parse().unwrap();
        let sealed = old
            .seal(&shared::testing::settings(&[]).keys.snapshot(), id)
            .unwrap();
        sqlx::query("UPDATE suppliers SET payment_details = $2 WHERE id = $1")
            .bind(id)
            .bind(sealed)
            .execute(&pool)
            .await
            .unwrap();
    }
    // Every transfer went to the old account.
    let book = wise.book();
    assert_eq!(book.transfers.len(), paid, "one transfer per payment made");
    for transfer in &book.transfers {
        let recipient = book
            .recipients
            .iter()
            .find(|r| r["id"] == transfer["targetAccount"])
            .expect("a recipient");
        assert_eq!(recipient["details"]["iban"], IBAN, "{recipient}");
    }
    assert_eq!(paid + waited, 50);
    println!("paid to the old details: {paid}, waited for approval: {waited}");
}

async fn set_policy(
    app: &TestApp,
    who: &Registered,
    amount: Option<&str>,
) -> shared::testing::TestResponse {
    app.by(&who.token)
        .stepped_up()
        .put(
            "/api/payments/policy",
            json!({"approval_threshold": amount, "approval_currency": "EUR"}),
        )
        .await
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn loosening_the_payment_policy_waits_for_a_second_owner(pool: PgPool) {
    let (app, _wise) = with_wise(pool).await;
    let ann = app.register("ann@example.com").await;
    // Alone, an owner sets and changes the policy as they like.
    assert_eq!(
        set_policy(&app, &ann, Some("1000.00")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        set_policy(&app, &ann, Some("5000.00")).await.status,
        StatusCode::OK
    );
    // With a second owner, stricter applies at once; looser waits for the other owner.
    let otto = app
        .person(&ann.org_id, "otto@example.com", Role::Owner, json!({}))
        .await;
    let stricter = set_policy(&app, &ann, Some("500.00")).await;
    assert_eq!(stricter.status, StatusCode::OK, "{}", stricter.body);
    assert_eq!(stricter.body["approval_threshold"], "500.00");
    let looser = set_policy(&app, &ann, None).await;
    assert_eq!(looser.status, StatusCode::ACCEPTED, "{}", looser.body);
    assert_eq!(looser.body["approval_threshold"], "500.00", "not yet");
    assert_eq!(
        looser.body["pending_change"]["approval_threshold"],
        serde_json::Value::Null
    );
    let mail = shared::testing::queued_mail(&app.pool, "otto@example.com").await;
    assert!(mail[0].subject.contains("waits for you"), "{mail:?}");
    // Not by the one who asked, nor by an owner made so a moment ago.
    let own = app
        .by(&ann.token)
        .stepped_up()
        .send(Method::POST, "/api/payments/policy/approve", None)
        .await;
    assert_problem(&own, StatusCode::FORBIDDEN, "own_change");
    let newcomer = fresh(&app, &ann, "nick@example.com", Role::Owner, &ann).await;
    let cooling = app
        .by(&newcomer.token)
        .stepped_up()
        .send(Method::POST, "/api/payments/policy/approve", None)
        .await;
    assert_problem(&cooling, StatusCode::FORBIDDEN, "admin_cooling_off");
    let theirs = set_policy(&app, &newcomer, Some("1.00")).await;
    assert_problem(&theirs, StatusCode::FORBIDDEN, "admin_cooling_off");
    let approved = app
        .by(&otto.token)
        .stepped_up()
        .send(Method::POST, "/api/payments/policy/approve", None)
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["approval_threshold"], serde_json::Value::Null);
    assert_eq!(approved.body["pending_change"], serde_json::Value::Null);
    // Withdrawn or rejected, a change leaves the policy as it was.
    assert_eq!(
        set_policy(&app, &otto, Some("100.00")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        set_policy(&app, &otto, Some("900.00")).await.status,
        StatusCode::ACCEPTED
    );
    let rejected = app
        .by(&ann.token)
        .post("/api/payments/policy/reject", json!({}))
        .await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.body);
    assert_eq!(rejected.body["approval_threshold"], "100.00");
    let nothing = app
        .by(&ann.token)
        .post("/api/payments/policy/reject", json!({}))
        .await;
    assert_problem(&nothing, StatusCode::CONFLICT, "no_pending_change");
}
