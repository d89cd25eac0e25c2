use serde_json::json;
use shared::testing::SmtpServer;
use sqlx::PgPool;
use uuid::Uuid;

struct Seed {
    org: Uuid,
    product: Uuid,
}

/// An organization (with its default location), an owner, and one product with stock.
async fn seed(pool: &PgPool, on_hand: i32, reorder_point: i32) -> Seed {
    let org: Uuid =
        sqlx::query_scalar("INSERT INTO organizations (name) VALUES ('Acme') RETURNING id")
            .fetch_one(pool)
            .await
            .unwrap();
    sqlx::query(
        "WITH owner AS (INSERT INTO users (email, name, password_hash)
                        VALUES ('owner@acme.example', 'O', 'x') RETURNING id)
         INSERT INTO memberships (org_id, user_id, role, joined_at)
         SELECT $1, id, 'owner', now() FROM owner",
    )
    .bind(org)
    .execute(pool)
    .await
    .unwrap();
    let product: Uuid = sqlx::query_scalar(
        "INSERT INTO products (org_id, sku, name, price, currency, reorder_point) VALUES ($1, 'BOLT', 'Bolt', 1, 'EUR', $2) RETURNING id",
    )
    .bind(org)
    .bind(reorder_point)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO stock_levels (org_id, product_id, location_id, on_hand) SELECT $1, $2, id, $3 FROM locations WHERE org_id = $1")
        .bind(org)
        .bind(product)
        .bind(on_hand)
        .execute(pool)
        .await
        .unwrap();
    Seed { org, product }
}

async fn reserve(pool: &PgPool, seed: &Seed, quantity: i32, expires_in: &str) -> Uuid {
    sqlx::query("UPDATE stock_levels SET reserved = reserved + $2 WHERE product_id = $1")
        .bind(seed.product)
        .bind(quantity)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query_scalar(&format!(
        "INSERT INTO reservations (org_id, product_id, location_id, quantity, expires_at)
         SELECT $1, $2, id, $3, now() + interval '{expires_in}' FROM locations WHERE org_id = $1 RETURNING id"
    ))
    .bind(seed.org)
    .bind(seed.product)
    .bind(quantity)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn reserved(pool: &PgPool, product: Uuid) -> i32 {
    sqlx::query_scalar("SELECT reserved FROM stock_levels WHERE product_id = $1")
        .bind(product)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn expired_reservations_are_released_and_audited(pool: PgPool) {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Worker, &[]);
    let seed = seed(&pool, 10, 0).await;
    let old = reserve(&pool, &seed, 3, "-1 minute").await;
    let live = reserve(&pool, &seed, 2, "1 hour").await;
    assert_eq!(scheduler::expire_reservations(&state).await.unwrap(), 1);
    assert_eq!(reserved(&pool, seed.product).await, 2);
    let statuses: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, status::text FROM reservations ORDER BY created_at")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(
        statuses.contains(&(old, "expired".into())) && statuses.contains(&(live, "active".into()))
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'reservation_expired' AND entity_id = $1",
    )
    .bind(old)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);
    // In the shape of every other reservation change: the reservation as the API shows it.
    let after: serde_json::Value = sqlx::query_scalar(
        "SELECT after FROM audit_log WHERE action = 'reservation_expired' AND entity_id = $1",
    )
    .bind(old)
    .fetch_one(&pool)
    .await
    .unwrap();
    let mut keys: Vec<&str> = after
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "expires_at",
            "id",
            "location_id",
            "product_id",
            "quantity",
            "reference",
            "status",
            "updated_at"
        ]
    );
    assert_eq!(after["status"], "expired");
    assert_eq!(after["quantity"], 3);
    let expires_at = after["expires_at"].as_str().unwrap();
    assert!(
        expires_at.len() == 27 && expires_at.as_bytes()[10] == b'T' && expires_at.ends_with('Z'),
        "{expires_at}"
    );
    // Running again changes nothing.
    assert_eq!(scheduler::expire_reservations(&state).await.unwrap(), 0);
    assert_eq!(reserved(&pool, seed.product).await, 2);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn two_overlapping_expiry_runs_release_each_reservation_once(pool: PgPool) {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Worker, &[]);
    let seed = seed(&pool, 1000, 0).await;
    for _ in 0..300 {
        reserve(&pool, &seed, 1, "-1 minute").await;
    }
    let (a, b) = tokio::join!(
        scheduler::expire_reservations(&state),
        scheduler::expire_reservations(&state)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 300);
    assert_eq!(reserved(&pool, seed.product).await, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cleanup_deletes_only_what_is_past_its_time(pool: PgPool) {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Worker, &[]);
    let seed = seed(&pool, 0, 0).await;
    let user: Uuid = sqlx::query_scalar("SELECT id FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    for (table, hash) in [("mfa_challenges", 1u8), ("password_reset_tokens", 2)] {
        sqlx::query(&format!("INSERT INTO {table} (user_id, token_hash, expires_at) VALUES ($1, $2, now() - interval '1 minute'), ($1, $3, now() + interval '1 hour')"))
            .bind(user)
            .bind(vec![hash, 0])
            .bind(vec![hash, 1])
            .execute(&pool)
            .await
            .unwrap();
    }
    sqlx::query("INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) VALUES ($1, gen_random_uuid(), '\\x01', now() - interval '1 minute'), ($1, gen_random_uuid(), '\\x02', now() + interval '1 day')")
        .bind(user)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO idempotency_keys (org_id, actor, key, request_hash, expires_at) VALUES ($1, 'user:a', 'old', '\\x00', now() - interval '1 minute'), ($1, 'user:a', 'new', '\\x00', now() + interval '1 hour')")
        .bind(seed.org)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO rate_limit_hits (key, hit_at) VALUES ('old', now() - interval '2 hours'), ('new', now())").execute(&pool).await.unwrap();
    sqlx::query("INSERT INTO wise_webhook_deliveries (delivery_id, event_type, received_at) VALUES ('old', 'transfers#state-change', now() - interval '31 days'), ('new', 'transfers#state-change', now())").execute(&pool).await.unwrap();

    sqlx::query("INSERT INTO registrations (email, default_currency, password_hash, token_hash, expires_at) VALUES ('old@x.example', 'EUR', 'x', '\\x01', now() - interval '1 minute'), ('new@x.example', 'EUR', 'x', '\\x02', now() + interval '1 day')").execute(&pool).await.unwrap();
    sqlx::query("INSERT INTO mail_outbox (id, kind, recipient, done_at) VALUES (gen_random_uuid(), 'test', 'a@x.example', now() - interval '31 days'), (gen_random_uuid(), 'test', 'b@x.example', now() - interval '1 day')").execute(&pool).await.unwrap();
    sqlx::query("INSERT INTO step_up_uses (jti, org_id, user_id, expires_at) VALUES (gen_random_uuid(), $1, $2, now() - interval '1 minute'), (gen_random_uuid(), $1, $2, now() + interval '1 minute')")
        .bind(seed.org)
        .bind(user)
        .execute(&pool)
        .await
        .unwrap();
    // People invited and never joined: gone after a week once no membership is left; an
    // invited one (a membership) and a new one stay.
    sqlx::query("INSERT INTO users (email, name, created_at) VALUES ('gone@x.example', 'G', now() - interval '8 days'), ('fresh@x.example', 'F', now())").execute(&pool).await.unwrap();
    sqlx::query("WITH p AS (INSERT INTO users (email, name, created_at) VALUES ('waits@x.example', 'W', now() - interval '8 days') RETURNING id) INSERT INTO memberships (org_id, user_id, invited_at) SELECT $1, id, now() FROM p")
        .bind(seed.org)
        .execute(&pool)
        .await
        .unwrap();

    // Events are kept 30 days.
    sqlx::query("INSERT INTO events (org_id, type, module, object, created_at) VALUES ($1, 'product.created', 'products', '{}', now() - interval '31 days'), ($1, 'product.created', 'products', '{}', now() - interval '29 days')")
        .bind(seed.org)
        .execute(&pool)
        .await
        .unwrap();

    let report = scheduler::cleanup(&state).await.unwrap();
    assert_eq!(
        report,
        json!({"refresh_tokens": 1, "password_reset_tokens": 1, "mfa_challenges": 1, "user_invitations": 0, "idempotency_keys": 1, "rate_limit_hits": 1, "wise_webhook_deliveries": 1,
               "registrations": 1, "mail_outbox": 1, "step_up_uses": 1, "trusted_devices": 0, "people_never_joined": 1, "events": 1})
    );
    let people: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(people, 3, "the owner, the invited and the new one stay");
    for table in [
        "mfa_challenges",
        "password_reset_tokens",
        "refresh_tokens",
        "idempotency_keys",
        "rate_limit_hits",
        "wise_webhook_deliveries",
        "registrations",
        "mail_outbox",
        "step_up_uses",
    ] {
        let left: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(left, 1, "{table}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_low_stock_digest_goes_to_admins_once_a_day(pool: PgPool) {
    let smtp = SmtpServer::start();
    let state = shared::testing::state_as(
        pool.clone(),
        shared::db::Login::Worker,
        &[("SMTP_URL", &smtp.url())],
    );
    seed(&pool, 2, 10).await;
    let (a, b) = tokio::join!(
        scheduler::low_stock_digest(&state),
        scheduler::low_stock_digest(&state)
    );
    assert_eq!(
        a.unwrap() + b.unwrap(),
        1,
        "overlapping runs send one digest"
    );
    assert_eq!(
        scheduler::low_stock_digest(&state).await.unwrap(),
        0,
        "and a later run that day none"
    );
    let mail = smtp.settled().await;
    assert_eq!(mail.len(), 1);
    assert!(mail[0].to.contains("owner@acme.example"));
    assert!(
        mail[0].body.contains("BOLT") && mail[0].body.contains("2 available, reorder point 10"),
        "{}",
        mail[0].body
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_digest_names_lots_expiring_within_a_week_and_announces_each_once(pool: PgPool) {
    let smtp = SmtpServer::start();
    let state = shared::testing::state_as(
        pool.clone(),
        shared::db::Login::Worker,
        &[("SMTP_URL", &smtp.url())],
    );
    // No reorder point: only the lots put it in the digest.
    let seed = seed(&pool, 12, 0).await;
    sqlx::query("UPDATE products SET tracking = 'lot' WHERE id = $1")
        .bind(seed.product)
        .execute(&pool)
        .await
        .unwrap();
    // Three lots of the 12 units: one expired, one within the week, one far off; and an empty
    // lot within the week (nothing to say of it).
    sqlx::query(
        "WITH l AS (
             INSERT INTO lots (org_id, product_id, number, received_on, expires_on)
             VALUES ($1, $2, 'GONE', current_date - 20, current_date - 1),
                    ($1, $2, 'SOON', current_date, current_date + 3),
                    ($1, $2, 'FAR', current_date, current_date + 90),
                    ($1, $2, 'EMPTY', current_date, current_date + 2)
             RETURNING id, number)
         INSERT INTO lot_levels (org_id, lot_id, product_id, location_id, on_hand)
         SELECT $1, l.id, $2, loc.id, CASE l.number WHEN 'EMPTY' THEN 0 ELSE 4 END
         FROM l, locations loc WHERE loc.org_id = $1",
    )
    .bind(seed.org)
    .bind(seed.product)
    .execute(&pool)
    .await
    .unwrap();

    assert_eq!(scheduler::low_stock_digest(&state).await.unwrap(), 1);
    let mail = smtp.settled().await;
    assert_eq!(mail.len(), 1);
    let body = &mail[0].body;
    assert!(body.contains("lot GONE: 4 on hand, expired"), "{body}");
    assert!(body.contains("lot SOON: 4 on hand, expires"), "{body}");
    assert!(!body.contains("FAR") && !body.contains("EMPTY"), "{body}");
    assert!(!body.contains("reorder point"), "{body}");

    let announced = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT object ->> 'number' FROM events WHERE type = 'lot.expiring' ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    assert_eq!(announced().await, ["GONE", "SOON"]);
    // Another run (the digest's day is taken) announces nothing again.
    scheduler::low_stock_digest(&state).await.unwrap();
    assert_eq!(announced().await, ["GONE", "SOON"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_event_names_the_job_and_a_bare_schedule_runs_them_all(pool: PgPool) {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Worker, &[]);
    let event =
        |payload| lambda_runtime::LambdaEvent::new(payload, lambda_runtime::Context::default());
    let one = scheduler::handle(&state, event(json!({"job": "expire_reservations"})))
        .await
        .unwrap();
    assert_eq!(one, json!({"expired_reservations": 0}));
    let all = scheduler::handle(
        &state,
        event(serde_json::from_str(include_str!("../../../events/scheduled_event.json")).unwrap()),
    )
    .await
    .unwrap();
    assert!(
        all.get("deleted").is_some() && all.get("digests_sent").is_some(),
        "{all}"
    );
    assert!(
        scheduler::handle(&state, event(json!({"job": "nope"})))
            .await
            .is_err()
    );
}

/// A backlog is deleted in bounded batches, each call its own statement, until none is left.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cleanup_deletes_a_backlog_in_batches(pool: PgPool) {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Worker, &[]);
    sqlx::query(
        "INSERT INTO rate_limit_hits (key, hit_at)
         SELECT 'old-' || n, now() - interval '2 hours' FROM generate_series(1, 7) n",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO rate_limit_hits (key, hit_at) VALUES ('new', now())")
        .execute(&pool)
        .await
        .unwrap();
    let report = scheduler::cleanup_in_batches(&state, 2).await.unwrap();
    assert_eq!(report["rate_limit_hits"], 7);
    let left: Vec<String> = sqlx::query_scalar("SELECT key FROM rate_limit_hits")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, ["new"]);
    // A batch of nothing is refused, not looped on.
    assert!(scheduler::cleanup_in_batches(&state, 0).await.is_err());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn mail_a_function_could_not_send_is_sent_by_the_sweep_once(pool: PgPool) {
    // A function queued a mail and tried to send it after its answer, but the mail server was
    // down: it stays in the outbox, to be tried again later.
    let down = shared::testing::state_with(pool.clone(), &[("SMTP_URL", "smtp://127.0.0.1:9")]);
    let mut conn = pool.acquire().await.unwrap();
    let mail = shared::email::outbox::Mail::to(
        "test",
        "ann@example.com",
        shared::email::outbox::Text::new("Hello", "A mail that must not be lost."),
    );
    let id = down.outbox.queue(&mut conn, None, mail).await.unwrap();
    let failed = || async {
        sqlx::query_as::<_, (i32, Option<String>)>(
            "SELECT attempts, outcome FROM mail_outbox WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    for _ in 0..100 {
        if failed().await.0 == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (attempts, outcome) = failed().await;
    assert_eq!(attempts, 1);
    assert!(outcome.unwrap().starts_with("failed: "));

    let smtp = SmtpServer::start();
    let state = shared::testing::state_as(
        pool.clone(),
        shared::db::Login::Worker,
        &[("SMTP_URL", &smtp.url())],
    )
    .answering_through_pool();
    assert_eq!(
        scheduler::send_mail(&state).await,
        0,
        "not before its next attempt"
    );
    sqlx::query("UPDATE mail_outbox SET next_attempt_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    let (a, b) = tokio::join!(scheduler::send_mail(&state), scheduler::send_mail(&state));
    assert_eq!(a + b, 1, "overlapping sweeps send it once");
    let mail = smtp.settled().await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].subject, "Hello");
    assert_eq!(failed().await, (2, Some("sent".to_owned())));
    assert_eq!(scheduler::send_mail(&state).await, 0, "and never again");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_organization_with_expiries_is_announced_on_the_events_queue(pool: PgPool) {
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
    let state = shared::testing::state_as(
        pool.clone(),
        shared::db::Login::Worker,
        &[("EVENTS_QUEUE_URL", queue.as_str())],
    );
    let seed = seed(&pool, 10, 0).await;
    reserve(&pool, &seed, 3, "-1 minute").await;
    reserve(&pool, &seed, 1, "1 hour").await;
    let announced = async || -> Vec<serde_json::Value> {
        let received = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let messages = received.messages.unwrap_or_default();
        for m in &messages {
            sqs.delete_message()
                .queue_url(&queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        messages
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
            .collect()
    };
    assert_eq!(scheduler::expire_reservations(&state).await.unwrap(), 1);
    assert_eq!(announced().await, [json!({"org_id": seed.org})]);
    // A run that expires nothing announces nothing.
    assert_eq!(scheduler::expire_reservations(&state).await.unwrap(), 0);
    assert!(announced().await.is_empty());
}
