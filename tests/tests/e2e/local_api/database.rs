//! The database the functions reach: the one the pass claims, through their login roles, and
//! its faults answered as 503 without a secret in them.

use super::*;

/// `make test` runs this binary a second time on PostgreSQL 18 as an RDS-style master user
/// (`STOCKROOM_EXPECT_RDS_LIKE=1`, see scripts/test.sh): this makes sure that pass really runs
/// without a superuser on a current server, where the other tests here then sign up, switch to
/// the tenant role and write through the real binaries.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_database_is_the_one_the_pass_claims(pool: PgPool) {
    let (superuser, version, can_switch): (bool, i32, bool) = sqlx::query_as(
        "SELECT rolsuper, current_setting('server_version_num')::int,
                pg_has_role(current_user, 'stockroom_app', 'MEMBER')
         FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(can_switch);
    if std::env::var_os("STOCKROOM_EXPECT_RDS_LIKE").is_some() {
        assert!(!superuser, "the RDS-style pass must not run as a superuser");
        assert!(version >= 180_000, "PostgreSQL {version}");
    }
    // The switch a tenant request makes, as the migrating role: refused on PostgreSQL 16+ for a
    // CREATEROLE master before migration 20261130000006.
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET ROLE stockroom_app")
        .execute(&mut *conn)
        .await
        .unwrap();

    // The TLS pass (`STOCKROOM_EXPECT_TLS_CA_DIR`): the server takes TLS only and the URL asks
    // for `sslmode=verify-full` with the test CA; an unrelated CA or no TLS does not connect.
    if let Some(ca_dir) = std::env::var_os("STOCKROOM_EXPECT_TLS_CA_DIR") {
        // As the login role: pg_stat_ssl hides the port of a backend of another role.
        sqlx::query("RESET ROLE").execute(&mut *conn).await.unwrap();
        let ssl: bool =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert!(ssl, "the connection is not encrypted");
        let url = shared::testing::database_url(&pool);
        let with = |pairs: &[(&str, String)]| {
            let mut url = url.clone();
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "sslmode" && k != "sslrootcert")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
            url
        };
        let other_ca = std::path::Path::new(&ca_dir).join("other-ca.pem");
        for (url, what) in [
            (
                with(&[
                    ("sslmode", "verify-full".into()),
                    ("sslrootcert", other_ca.display().to_string()),
                ]),
                "a server certificate from an unrelated CA",
            ),
            (
                with(&[("sslmode", "disable".into())]),
                "a connection without TLS",
            ),
        ] {
            let refused = sqlx::PgConnection::connect(url.as_str()).await;
            assert!(refused.is_err(), "{what} was accepted");
        }
        // The functions as deployed: the URL says nothing of TLS, DATABASE_CA_PEM (from the
        // settings secret) makes it verify-full against that CA.
        let plain = with(&[]);
        for (ca, status) in [("ca.pem", 200), ("other-ca.pem", 503)] {
            let pem = std::fs::read_to_string(std::path::Path::new(&ca_dir).join(ca)).unwrap();
            let api = LocalApi::on_database(plain.as_str(), &[("DATABASE_CA_PEM", pem.as_str())]);
            let response = reqwest::get(format!("{}/health/db", api.base))
                .await
                .unwrap();
            assert_eq!(response.status(), status, "DATABASE_CA_PEM = {ca}");
        }
    }
}

/// A deployment's own database faults — a login the server refuses, a role without the grants —
/// answer 503 problem+json that names neither the role nor its password, on every function.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn database_faults_of_the_deployment_are_503_naming_no_secret(pool: PgPool) {
    // A role that may log in but was granted nothing (cluster-wide, so made once and kept).
    let _ = sqlx::query("CREATE ROLE stockroom_test_no_grants LOGIN PASSWORD 'n0-grants-pw'")
        .execute(&pool)
        .await;
    let mut no_grants = shared::testing::database_url(&pool);
    no_grants.set_username("stockroom_test_no_grants").unwrap();
    no_grants.set_password(Some("n0-grants-pw")).unwrap();
    let mut unknown = shared::testing::database_url(&pool);
    unknown.set_username("stockroom_test_nobody").unwrap();
    unknown.set_password(Some("wr0ng-pw")).unwrap();

    let client = reqwest::Client::new();
    // A valid session, made through functions with the right login.
    let token = {
        let api = start(&pool).await;
        sign_up(&client, &api).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (url, secrets) in [
        (unknown, ["stockroom_test_nobody", "wr0ng-pw"]),
        (no_grants, ["stockroom_test_no_grants", "n0-grants-pw"]),
    ] {
        let api = LocalApi::on_database(url.as_str(), &[]);
        let login = client
            .post(format!("{}/api/auth/login", api.base))
            .json(&serde_json::json!({"email": "ann@example.com", "password": "Corr3ct-horse"}))
            .send()
            .await
            .unwrap();
        let tenant = client
            .get(format!("{}/api/products", api.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        // (`/health/db` only proves the login works, so the role without grants passes it.)
        for response in [login, tenant] {
            assert_eq!(response.status(), 503, "{url}");
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            let body = response.text().await.unwrap();
            for secret in secrets {
                assert!(!body.contains(secret), "{body}");
            }
        }
    }
}

/// As deployed, no function logs in as the owner: the tenant functions as `stockroom_api`
/// (`TENANT_DATABASE_URL`), auth as `stockroom_auth` (`AUTH_DATABASE_URL`). PostgreSQL's own
/// view of the functions' sessions says so.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn functions_log_in_as_their_login_roles(pool: PgPool) {
    let api = start(&pool).await;
    let client = reqwest::Client::new();
    let token = sign_up(&client, &api).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in ["/api/products", "/api/users", "/api/tasks"] {
        let response = client
            .get(format!("{}{path}", api.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    if shared::testing::pooler().is_some() {
        // Behind the pooler the server sessions are PgBouncer's, not the functions'.
        return;
    }
    let sessions: Vec<(String, String)> = sqlx::query_as(
        "SELECT application_name, usename::text FROM pg_stat_activity
         WHERE datname = current_database() AND application_name LIKE 'stockroom-%'
         ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let user_of = |function: &str| {
        sessions
            .iter()
            .find(|(name, _)| name == &format!("stockroom-{function}"))
            .map(|(_, user)| user.clone())
    };
    assert_eq!(
        user_of("auth").as_deref(),
        Some("stockroom_auth"),
        "{sessions:?}"
    );
    for function in ["products", "users", "tasks"] {
        assert_eq!(
            user_of(function).as_deref(),
            Some("stockroom_api"),
            "{sessions:?}"
        );
    }
}
