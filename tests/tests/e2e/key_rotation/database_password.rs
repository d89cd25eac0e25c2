//! A rotated database password is picked up without a cold start.

use super::*;

/// A login role of this test's own, `IN ROLE` the function's role, as an operator's rotated
/// credentials would be (roles are cluster-wide: the name is unique to the run).
async fn login_role(pool: &PgPool, member_of: Login) -> String {
    let name = format!("stockroom_rotating_{}", Uuid::new_v4().simple());
    sqlx::query(&format!(
        "CREATE ROLE {name} LOGIN IN ROLE {}",
        member_of.role()
    ))
    .execute(pool)
    .await
    .unwrap();
    name
}

/// What a rotated password does to the old one: the login is refused (the sessions it opened
/// live on, as PostgreSQL and RDS keep them).
async fn refuse(pool: &PgPool, role: &str) {
    sqlx::query(&format!("ALTER ROLE {role} NOLOGIN"))
        .execute(pool)
        .await
        .unwrap();
}

/// A login secret in RDS's shape, as the database stack generates and RDS manages them.
fn login_secret(role: &str) -> String {
    json!({"username": role, "password": format!("generated-for-{role}")}).to_string()
}

const TENANT_LOGIN: &str = "stockroom/test/login/stockroom_api";

const AUTH_LOGIN: &str = "stockroom/test/login/stockroom_auth";

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_rotated_database_password_is_picked_up_without_a_cold_start(pool: PgPool) {
    let _environment = ENVIRONMENT.lock().await;
    let moto = Moto::start();
    moto.use_from_this_process();
    let client = shared::config::secrets::client().await;
    let (tenant_old, tenant_new) = (
        login_role(&pool, Login::Tenant).await,
        login_role(&pool, Login::Tenant).await,
    );
    let (auth_old, auth_new) = (
        login_role(&pool, Login::Auth).await,
        login_role(&pool, Login::Auth).await,
    );
    for (name, text) in [
        (SECRET, json!({ "SECRET_KEY": FIRST_KEY }).to_string()),
        (TENANT_LOGIN, login_secret(&tenant_old)),
        (AUTH_LOGIN, login_secret(&auth_old)),
    ] {
        client
            .create_secret()
            .name(name)
            .secret_string(text)
            .send()
            .await
            .unwrap();
    }
    // Each function names only its own login's secret, and where the database is (as the
    // template does with the database stack's outputs); no DATABASE_URL at all.
    let database = shared::testing::database_url(&pool);
    let (host, port, name) = (
        database.host_str().unwrap().to_owned(),
        database.port().unwrap_or(5432).to_string(),
        database.path().trim_start_matches('/').to_owned(),
    );
    let settings = |login: &'static str, connections: &'static str| {
        let vars = HashMap::from([
            ("SETTINGS_SECRET_ID".to_owned(), SECRET.to_owned()),
            (
                format!("{login}_DATABASE_SECRET_ID"),
                if login == "TENANT" {
                    TENANT_LOGIN
                } else {
                    AUTH_LOGIN
                }
                .to_owned(),
            ),
            ("DATABASE_HOST".into(), host.clone()),
            ("DATABASE_PORT".into(), port.clone()),
            ("DATABASE_NAME".into(), name.clone()),
            ("DATABASE_SSLMODE".into(), "disable".into()),
            ("SETTINGS_REFRESH_SECONDS".into(), "0".into()),
            ("DB_MAX_CONNECTIONS".into(), connections.into()),
        ]);
        async move { shared::Settings::load(vars).await.unwrap() }
    };
    // Warm functions as deployed (the auth function's first: a process has one state, and its
    // refused-login hook is the first state's).
    let auth_state = shared::AppState::for_login(settings("AUTH", "1").await, Login::Auth).unwrap();
    let auth = TestApp::new(auth::app(auth_state), pool.clone());
    let tenant_state =
        shared::AppState::for_login(settings("TENANT", "2").await, Login::Tenant).unwrap();
    let suppliers = TestApp::new(suppliers::app(tenant_state.clone()), pool.clone());

    // Signed up through the auth function, so the token is signed with this test's key.
    let asked = auth
        .anonymous()
        .from_ip(&shared::testing::next_client_ip())
        .post(
            "/api/auth/register",
            json!({"email": "ann@example.com", "password": shared::testing::PASSWORD}),
        )
        .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.body);
    let keys = settings("AUTH", "1").await.keys.snapshot();
    let link = shared::testing::mailed_token_with(
        &pool,
        "ann@example.com",
        "/confirm-registration",
        &keys,
    )
    .await;
    let owner = auth
        .post("/api/auth/register/confirm", json!({ "token": link }))
        .await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
    let owner_token = owner.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        suppliers
            .by(&owner_token)
            .get("/api/suppliers")
            .await
            .status,
        StatusCode::OK
    );
    let signed_in = auth
        .post(
            "/api/auth/login",
            json!({"email": "ann@example.com", "password": "Corr3ct-horse"}),
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);

    // The passwords rotate (here the roles: the test server trusts any password): the secrets
    // hold the new credentials, the old ones are refused.
    for role in [&tenant_old, &auth_old] {
        refuse(&pool, role).await;
    }
    for (name, role) in [(TENANT_LOGIN, &tenant_new), (AUTH_LOGIN, &auth_new)] {
        client
            .put_secret_value()
            .secret_id(name)
            .secret_string(login_secret(role))
            .send()
            .await
            .unwrap();
    }

    // Tenant requests: the connection kept from before serves on; a new one is refused with the
    // old password, and the function reads the secret and logs in with the new one, within the
    // same request.
    let kept = tenant_state.connections.acquire().await.unwrap();
    let mut fresh = tenant_state.connections.acquire().await.unwrap();
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut *fresh)
        .await
        .unwrap();
    assert_eq!(user, tenant_new);
    drop((kept, fresh));
    assert_eq!(
        suppliers
            .by(&owner_token)
            .get("/api/suppliers")
            .await
            .status,
        StatusCode::OK
    );

    // The auth function's pool: once its connection is gone, the first request meets the
    // refused login (503, retry) and the secret is read again; the next signs in.
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
        .bind(&auth_old)
        .execute(&pool)
        .await
        .unwrap();
    let login = || {
        auth.post(
            "/api/auth/login",
            json!({"email": "ann@example.com", "password": "Corr3ct-horse"}),
        )
    };
    let mut statuses = vec![login().await.status];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while statuses.last() != Some(&StatusCode::OK) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        statuses.push(login().await.status);
    }
    assert_eq!(statuses.last(), Some(&StatusCode::OK), "{statuses:?}");
    assert_eq!(statuses[0], StatusCode::SERVICE_UNAVAILABLE, "{statuses:?}");

    drop((auth, suppliers, tenant_state));
    for role in [&tenant_old, &tenant_new, &auth_old, &auth_new] {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
            .bind(role)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
            .execute(&pool)
            .await
            .unwrap();
    }
}
