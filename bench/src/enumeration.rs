//! No answer tells whether an address has an account. For registration, a password reset,
//! sign-in and an invitation: 200 requests about addresses that have an account and 200 about
//! addresses that have none, interleaved (the order alternating), each from a client address
//! of its own, through the auth and users routers in this process, against the real Postgres:
//! whether the statuses and bodies (ids, addresses and request ids aside) are the same, and the
//! median times of both.

use std::time::{Duration, Instant};

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::fixture::{Fixture, login_email};
use crate::report::{Row, Target};
use crate::stats::{millis, percentile};

const SAMPLES: usize = 200;

/// One request: its status, its body as the comparison sees it, and how long it took.
async fn send(
    router: &axum::Router,
    path: &str,
    body: Value,
    token: Option<&str>,
    ip: &str,
) -> anyhow::Result<(u16, Value, Duration)> {
    let mut request = Request::post(path).header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let mut request = request.body(Body::from(body.to_string()))?;
    request
        .extensions_mut()
        .insert(shared::testing::api_gateway_context(ip));
    let started = Instant::now();
    let response = router.clone().oneshot(request).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    let elapsed = started.elapsed();
    let mut body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    // What differs by nature between any two answers, account or not.
    if let Value::Object(fields) = &mut body {
        for varying in ["request_id", "id", "email", "created_at", "updated_at"] {
            fields.remove(varying);
        }
    }
    Ok((status, body, elapsed))
}

pub async fn run(fixture: &Fixture) -> anyhow::Result<Vec<Row>> {
    let mut settings = fixture.settings(4)?;
    settings.invitations_per_hour = 100_000;
    let pool = shared::db::pool(&settings)?;
    let auth = auth::app(shared::AppState::new(settings.clone(), pool.clone())?);
    let users = users::app(shared::AppState::new(settings, pool)?);
    // People of another organization, with an account: the bench's organization invites them.
    let elsewhere: uuid::Uuid =
        sqlx::query_scalar("INSERT INTO organizations (name) VALUES ('Elsewhere') RETURNING id")
            .fetch_one(&fixture.pool)
            .await?;
    sqlx::query(
        "WITH people AS (
             INSERT INTO users (email, name, password_hash)
             SELECT 'elsewhere' || n || '@bench.example', 'Elsewhere ' || n, $2
             FROM generate_series(0, $3 - 1) AS n RETURNING id)
         INSERT INTO memberships (org_id, user_id, role, joined_at)
         SELECT $1, id, 'user', now() FROM people",
    )
    .bind(elsewhere)
    .bind(&fixture.password_hash)
    .bind(SAMPLES as i64)
    .execute(&fixture.pool)
    .await?;

    let mut ip = 0u32;
    let mut rows = Vec::new();
    for kind in ["register", "password_forgot", "login", "invite"] {
        let (mut known_times, mut unknown_times) = (Vec::new(), Vec::new());
        let mut answers = std::collections::BTreeSet::new();
        let mut differ = 0;
        for n in 0..SAMPLES {
            // Accounts the bench's other parts do not sign in to.
            let known = match kind {
                "invite" => format!("elsewhere{n}@bench.example"),
                _ => login_email(1_000 + n as u64),
            };
            let unknown = format!("nobody-{kind}-{n}@bench.example");
            let mut pair = [(true, known), (false, unknown)];
            if n % 2 == 1 {
                pair.reverse();
            }
            let mut seen = Vec::new();
            for (has_account, email) in pair {
                ip += 1;
                let ip = format!("10.{}.{}.{}", (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
                let (status, body, elapsed) = match kind {
                    "register" => {
                        let body = json!({"email": email, "password": "Bench-passw0rd!"});
                        send(&auth, "/api/auth/register", body, None, &ip).await?
                    }
                    "password_forgot" => {
                        let body = json!({ "email": email });
                        send(&auth, "/api/auth/password/forgot", body, None, &ip).await?
                    }
                    "login" => {
                        let body = json!({"email": email, "password": "Wrong-passw0rd!"});
                        send(&auth, "/api/auth/login", body, None, &ip).await?
                    }
                    _ => {
                        let body = json!({"email": email, "name": "Invitee"});
                        send(&users, "/api/users", body, Some(&fixture.token), &ip).await?
                    }
                };
                if has_account {
                    known_times.push(elapsed);
                } else {
                    unknown_times.push(elapsed);
                }
                answers.insert(format!("{status} {body}"));
                seen.push((status, body));
            }
            if seen[0] != seen[1] {
                differ += 1;
            }
        }
        let known = percentile(&mut known_times, 0.5);
        let unknown = percentile(&mut unknown_times, 0.5);
        let ratio = millis(known) / millis(unknown);
        let same = differ == 0 && answers.len() == 1;
        rows.push(
            Row::new(
                "enumeration",
                format!("{kind}: median with an account / without"),
                format!(
                    "{:.2} / {:.2} ms ({:+.1} %), answers {}",
                    millis(known),
                    millis(unknown),
                    (ratio - 1.0) * 100.0,
                    if same { "identical" } else { "DIFFER" }
                ),
            )
            .target(
                Target::below((ratio - 1.0).abs(), 0.10, "within 10 %").and(Target {
                    text: "same status and body".into(),
                    pass: same,
                }),
            )
            .data(json!({
                "samples": SAMPLES,
                "known_p50_ms": millis(known),
                "unknown_p50_ms": millis(unknown),
                "answers": answers.into_iter().collect::<Vec<_>>(),
            })),
        );
    }
    Ok(rows)
}
