//! `POST /api/auth/refresh`: concurrent refreshes get one successor; a replay after the grace
//! window revokes the family.

use super::*;

// 8. Refresh tokens: a grace window for concurrent refreshes, then reuse revokes the family.

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_refreshes_with_one_token_get_the_same_successor_pair(pool: PgPool) {
    let api = start(&pool);
    let session = api.sign_up(&reqwest::Client::new()).await;
    let token = json!({"refresh_token": session["refresh_token"]});
    let visitor = Caller::anonymous(&api);
    let refresh = || visitor.post("/api/auth/refresh", token.clone());

    let (a, b, c, d) = tokio::join!(refresh(), refresh(), refresh(), refresh());
    let pairs: Vec<(&Value, &Value)> = [&a, &b, &c, &d]
        .iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{}", r.body);
            (&r.body["access_token"], &r.body["refresh_token"])
        })
        .collect();
    assert!(
        pairs[0].0.is_string() && pairs[0].1.is_string(),
        "{}",
        a.body
    );
    assert_ne!(pairs[0].1, &session["refresh_token"], "a new refresh token");
    assert!(pairs.iter().all(|p| *p == pairs[0]), "{pairs:?}");

    let me = Caller::with_token(&api, pairs[0].0.as_str().unwrap())
        .get("/api/auth/me")
        .await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["user"]["email"], "ann@example.com");
    let live =
        "SELECT count(*) FROM refresh_tokens WHERE rotated_at IS NULL AND revoked_at IS NULL";
    assert_eq!(count(&pool, live).await, 1, "one successor session");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_refresh_token_replayed_after_the_grace_window_revokes_its_family(pool: PgPool) {
    let api = start_with(&pool, &[("REFRESH_REUSE_GRACE_SECONDS", "1")]);
    let session = api.sign_up(&reqwest::Client::new()).await;
    let visitor = Caller::anonymous(&api);
    let first = json!({"refresh_token": session["refresh_token"]});
    let rotated = visitor.post("/api/auth/refresh", first.clone()).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let replay = visitor.post("/api/auth/refresh", first).await;
    assert_eq!(replay.status, 401, "{}", replay.body);
    assert_eq!(replay.body["code"], "refresh_token_reused");
    let successor = json!({"refresh_token": rotated.body["refresh_token"]});
    let after = visitor.post("/api/auth/refresh", successor).await;
    assert_eq!(after.status, 401, "{}", after.body);
    assert_eq!(after.body["code"], "invalid_refresh_token");

    let live = "SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL";
    assert_eq!(count(&pool, live).await, 0, "the whole family is revoked");
}
