//! The real binaries through `cargo lambda watch`: one base URL, production paths, the shared
//! layers on every answer.

use e2e::LocalApi;
use serde_json::Value;
use shared::db::Login;
use sqlx::{Connection, PgPool};

/// Every function on the test's database, each logged in as deployed: the tenant functions as
/// `stockroom_api`, auth as `stockroom_auth`, the scheduler and webhooks as `stockroom_worker`.
async fn start(pool: &PgPool) -> LocalApi {
    start_with(pool, &[]).await
}

/// [`start`] with settings of the test's own added.
async fn start_with(pool: &PgPool, env: &[(&str, &str)]) -> LocalApi {
    let tenant = shared::testing::login_url(pool, Login::Tenant).await;
    let auth = shared::testing::login_url(pool, Login::Auth).await;
    let worker = shared::testing::login_url(pool, Login::Worker).await;
    LocalApi::on_database(
        shared::testing::database_url(pool).as_str(),
        &[
            &[
                ("TENANT_DATABASE_URL", tenant.as_str()),
                ("AUTH_DATABASE_URL", auth.as_str()),
                ("WORKER_DATABASE_URL", worker.as_str()),
            ],
            env,
        ]
        .concat(),
    )
}

/// Registers Ann's organization through the API; returns the session (tokens, user, org).
async fn sign_up(client: &reqwest::Client, api: &LocalApi) -> Value {
    api.sign_up(client).await
}

/// `GET url` with a bearer token; the body as JSON.
async fn get_json(client: &reqwest::Client, url: String, token: &str) -> Value {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn health_answers_at_the_base_url(pool: PgPool) {
    let api = start(&pool).await;
    let response = reqwest::get(format!("{}/health", api.base)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert!(response.headers().contains_key("strict-transport-security"));
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn health_db_reaches_the_test_database(pool: PgPool) {
    let api = start(&pool).await;
    let response = reqwest::get(format!("{}/health/db", api.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["database"], "ok");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn unknown_routes_are_404_problems_with_the_lambda_request_id(pool: PgPool) {
    let api = start(&pool).await;
    let response = reqwest::get(format!("{}/api/does-not-exist", api.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let header_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["request_id"], header_id.as_str());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cors_preflight_is_answered_for_the_default_origin(pool: PgPool) {
    let api = start(&pool).await;
    let response = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}/health", api.base))
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_frontend_registers_logs_in_and_reads_me_through_one_base_url(pool: PgPool) {
    // A real mail server: the confirmation goes out from the function binary after its answer
    // (the runtime sends deferred mail between posting the response and asking for the next
    // event), and the link in it confirms the address.
    let smtp = shared::testing::SmtpServer::start();
    let api = start_with(&pool, &[("SMTP_URL", &smtp.url())]).await;
    let client = reqwest::Client::new();
    let register = client
        .post(format!("{}/api/auth/register", api.base))
        .json(
            &serde_json::json!({"organization_name": "Acme", "name": "Ann",
            "email": "ann@example.com", "password": "Corr3ct-horse"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 202);
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail.len(), 1, "the confirmation mail arrived");
    assert_eq!(mail[0].subject, "Confirm your Stockroom account");
    let (_, link) = mail[0]
        .body
        .split_once("/confirm-registration?token=")
        .unwrap();
    let token = link.split_whitespace().next().unwrap();
    let confirmed = client
        .post(format!("{}/api/auth/register/confirm", api.base))
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);

    let login: Value = client
        .post(format!("{}/api/auth/login", api.base))
        .json(&serde_json::json!({"email": "ann@example.com", "password": "Corr3ct-horse"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = login["access_token"].as_str().expect("an access token");

    let me: Value = get_json(&client, format!("{}/api/auth/me", api.base), access).await;
    assert_eq!(me["user"]["email"], "ann@example.com");
    assert_eq!(me["organization"]["name"], "Acme");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn malformed_json_is_a_400_problem_through_the_event_path(pool: PgPool) {
    let api = start(&pool).await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/auth/login", api.base))
        .header("content-type", "application/json")
        .body(r#"{"email": "#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "malformed_json"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_body_over_the_limit_is_a_413_problem_through_the_event_path(pool: PgPool) {
    let api = start(&pool).await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/auth/login", api.base))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"email": "{}", "password": "x"}}"#,
            "a".repeat(2 * 1024 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "payload_too_large"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_owner_manages_people_and_keys_through_one_base_url(pool: PgPool) {
    let api = start(&pool).await;
    let client = reqwest::Client::new();
    let session = sign_up(&client, &api).await;
    let token = session["access_token"].as_str().unwrap();
    let created = client
        .post(format!("{}/api/users", api.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"email": "bob@example.com", "name": "Bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(created.json::<Value>().await.unwrap()["status"], "invited");
    let step_up: Value = client
        .post(format!("{}/api/auth/step-up", api.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"password": "Corr3ct-horse", "action": "POST /api/api-keys"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key: Value = client
        .post(format!("{}/api/api-keys", api.base))
        .bearer_auth(token)
        .header(
            "x-step-up-token",
            step_up["step_up_token"].as_str().unwrap(),
        )
        .json(&serde_json::json!({"name": "Till", "scopes": ["products:read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(key["key"].as_str().unwrap().starts_with("sk_"));
    let log: Value = get_json(
        &client,
        format!("{}/api/audit-log?limit=10", api.base),
        token,
    )
    .await;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "api_key_created",
            "step_up",
            "user_invited",
            "login",
            "register"
        ]
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_catalogue_is_built_through_one_base_url(pool: PgPool) {
    let api = start(&pool).await;
    let client = reqwest::Client::new();
    let session = sign_up(&client, &api).await;
    let token = session["access_token"].as_str().unwrap();
    let supplier: Value = client
        .post(format!("{}/api/suppliers", api.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": "Bolt Co"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = client
        .post(format!("{}/api/products", api.base))
        .bearer_auth(token)
        .header("idempotency-key", "e2e-1")
        .json(
            &serde_json::json!({"sku": "B-1", "name": "Bolt", "price": "0.25", "currency": "GBP",
            "supplier_id": supplier["id"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let list: Value = get_json(&client, format!("{}/api/products?q=bolt", api.base), token).await;
    assert_eq!(list["items"][0]["price"], "0.25");
    let id = list["items"][0]["id"].as_str().unwrap();
    let detail: Value = get_json(&client, format!("{}/api/products/{id}", api.base), token).await;
    assert_eq!(detail["supplier"]["name"], "Bolt Co");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn stock_is_received_and_reserved_through_one_base_url(pool: PgPool) {
    let api = start(&pool).await;
    let client = reqwest::Client::new();
    let session = sign_up(&client, &api).await;
    let token = session["access_token"].as_str().unwrap();
    let product: Value = client
        .post(format!("{}/api/products", api.base))
        .bearer_auth(token)
        .json(
            &serde_json::json!({"sku": "B-1", "name": "Bolt", "price": "0.25", "currency": "GBP"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let received = client
        .post(format!("{}/api/inventory/movements", api.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"kind": "receive", "product_id": product["id"], "quantity": 3, "reason": "delivery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(received.status(), 201);
    let too_many = client
        .post(format!("{}/api/inventory/reservations", api.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"product_id": product["id"], "quantity": 4, "expires_in_seconds": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(too_many.status(), 409);
    assert_eq!(too_many.json::<Value>().await.unwrap()["available"], 3);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_scheduler_runs_a_job_from_an_example_event(pool: PgPool) {
    let url = shared::testing::database_url(&pool).to_string();
    let api = LocalApi::start(
        &["scheduler"],
        &[("DATABASE_URL", &url), ("SECRET_KEY", e2e::SECRET_KEY)],
    );
    // What `cargo lambda invoke scheduler --data-file events/expire_reservations.json` sends.
    let event = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/expire_reservations.json"
    ))
    .unwrap();
    let response = reqwest::Client::new()
        .post(format!(
            "{}/2015-03-31/functions/scheduler/invocations",
            api.base
        ))
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        serde_json::json!({"expired_reservations": 0})
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_user_keeps_to_dos_at_both_task_paths(pool: PgPool) {
    let api = start(&pool).await;
    let client = reqwest::Client::new();
    let session = sign_up(&client, &api).await;
    let token = session["access_token"].as_str().unwrap();
    let user_id = session["user"]["id"].as_str().unwrap();
    let created = client
        .post(format!("{}/api/{user_id}/tasks", api.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"title": "Count the bolts"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let task: Value = created.json().await.unwrap();
    let id = task["id"].as_str().unwrap();
    let toggled = client
        .patch(format!("{}/api/tasks/{id}/complete", api.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(toggled.status(), 200);
    assert_eq!(
        toggled.json::<Value>().await.unwrap()["status"],
        "Completed"
    );
    let list: Value = get_json(
        &client,
        format!("{}/api/tasks?status=Completed", api.base),
        token,
    )
    .await;
    assert_eq!(list["items"][0]["id"], id);
    let other = client
        .get(format!(
            "{}/api/{}/tasks",
            api.base, "00000000-0000-4000-8000-000000000001"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    // The owner may reach their team's to-dos, but this id is nobody in the organization: an id
    // they may not manage (403), whether or not it is anyone anywhere.
    assert_eq!(other.status(), 403);
    assert_eq!(other.headers()["content-type"], "application/problem+json");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_dashboard_summarises_and_exports_through_one_base_url(pool: PgPool) {
    let api = start(&pool).await;
    let client = reqwest::Client::new();
    let session = sign_up(&client, &api).await;
    let token = session["access_token"].as_str().unwrap();
    let created = client
        .post(format!("{}/api/products", api.base))
        .bearer_auth(token)
        .json(
            &serde_json::json!({"sku": "B-1", "name": "Bolt", "price": "0.25", "currency": "GBP"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let summary: Value = get_json(
        &client,
        format!("{}/api/dashboard/summary", api.base),
        token,
    )
    .await;
    assert_eq!(summary["products"], 1);
    assert_eq!(summary["recent_activity"][0]["action"], "product_created");

    let csv = client
        .get(format!("{}/api/dashboard/export/products.csv", api.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let body = csv.text().await.unwrap();
    assert!(body.starts_with("sku,name,price,"), "{body}");
    assert!(body.contains("B-1,Bolt,0.25,GBP"), "{body}");

    let xlsx = client
        .get(format!("{}/api/dashboard/export/stock.xlsx", api.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(xlsx.status(), 200);
    assert!(
        xlsx.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .ends_with(".xlsx\"")
    );
    // An XLSX file is a zip archive; the binary body must arrive intact through the event path.
    assert!(xlsx.bytes().await.unwrap().starts_with(b"PK\x03\x04"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn wise_webhooks_reach_their_function_and_are_refused_without_a_key(pool: PgPool) {
    let api = start(&pool).await;
    let response = reqwest::Client::new()
        .post(format!("{}/webhooks/wise", api.base))
        .header("content-type", "application/json")
        .body(r#"{"event_type": "transfers#state-change"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "webhooks_not_configured"
    );
}

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

/// Rows of the first sheet of an XLSX file (header included), read by Python's zipfile.
fn xlsx_rows(bytes: &[u8]) -> usize {
    let path = std::env::temp_dir().join(format!("export-{}.xlsx", uuid::Uuid::new_v4()));
    std::fs::write(&path, bytes).unwrap();
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read('xl/worksheets/sheet1.xml').count(b'<row '))",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// An organization with 100,000 products exports every kind through the real binary: what is
/// larger than one Lambda response (which Lambda would refuse with a 502, and which left the
/// local function hanging) goes to S3 (moto) and answers 303 with a pre-signed link; what fits
/// is the response. Every file has all its rows, and the function answers afterwards.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn large_exports_go_to_s3_behind_a_short_lived_link(pool: PgPool) {
    let moto = shared::testing::Moto::start();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let bucket = client
        .put(format!("{}/stockroom-exports", moto.endpoint))
        .send()
        .await
        .unwrap();
    assert!(bucket.status().is_success(), "{}", bucket.status());
    let api = start_with(
        &pool,
        &[
            ("EXPORT_BUCKET", "stockroom-exports"),
            ("EXPORT_URL_TTL_SECONDS", "120"),
            ("AWS_ENDPOINT_URL_S3", &moto.endpoint),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ],
    )
    .await;
    let session = sign_up(&client, &api).await;
    let token = session["access_token"].as_str().unwrap();
    let org: uuid::Uuid = session["organization"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    const N: i64 = 100_000;
    sqlx::query(
        "INSERT INTO products (org_id, sku, name, price, currency, cost, barcode, reorder_point)
         SELECT $1, 'SKU-' || lpad(n::text, 6, '0'), 'Product number ' || n, 9.99, 'EUR', 4.5,
                '400' || lpad(n::text, 10, '0'), 5
         FROM generate_series(1, $2) n",
    )
    .bind(org)
    .bind(N)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO stock_levels (org_id, product_id, location_id, on_hand)
         SELECT p.org_id, p.id, l.id, 12 FROM products p JOIN locations l ON l.org_id = p.org_id
         WHERE p.org_id = $1",
    )
    .bind(org)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO stock_movements (org_id, product_id, location_id, kind, quantity, reason)
         SELECT org_id, product_id, location_id, 'receive', 12, 'opening stock'
         FROM stock_levels WHERE org_id = $1",
    )
    .bind(org)
    .execute(&pool)
    .await
    .unwrap();

    let mut linked = 0;
    for kind in ["products", "stock", "movements"] {
        for format in ["csv", "xlsx"] {
            let response = client
                .get(format!("{}/api/dashboard/export/{kind}.{format}", api.base))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let bytes = if status == 303 {
                linked += 1;
                let location = response.headers()["location"].to_str().unwrap().to_owned();
                let link: Value = response.json().await.unwrap();
                assert_eq!(link["url"], location.as_str());
                assert!(
                    link["file_name"].as_str().unwrap().starts_with(kind),
                    "{link}"
                );
                assert!(
                    location.contains("X-Amz-Signature=") && location.contains("X-Amz-Expires=120"),
                    "{location}"
                );
                let size = link["size_bytes"].as_u64().unwrap();
                assert!(size > 4_000_000, "{link}");
                // The link needs no credentials.
                let download = reqwest::get(&location).await.unwrap();
                assert_eq!(download.status(), 200, "{location}");
                let bytes = download.bytes().await.unwrap();
                assert_eq!(bytes.len() as u64, size);
                bytes
            } else {
                assert_eq!(status, 200, "{kind}.{format}");
                let bytes = response.bytes().await.unwrap();
                assert!(
                    bytes.len() <= 4_000_000,
                    "{kind}.{format}: {} bytes inline",
                    bytes.len()
                );
                bytes
            };
            let rows = match format {
                "csv" => bytes.iter().filter(|b| **b == b'\n').count(),
                _ => xlsx_rows(&bytes),
            };
            assert_eq!(rows as i64, N + 1, "{kind}.{format}: header and every row");
        }
    }
    assert!(
        linked >= 3,
        "every CSV of 100,000 rows is over the inline limit"
    );
    // The function answers on after the large exports.
    let summary = client
        .get(format!("{}/api/dashboard/summary", api.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(summary.status(), 200);
}

/// What a REST API (payload 1.0) answer says: status, headers (single- and multi-value merged,
/// lower-case) and the body, decoded from base64 when it says so.
fn rest_answer(answer: &Value) -> (u16, std::collections::HashMap<String, String>, Vec<u8>) {
    use base64::Engine;
    let status = answer["statusCode"].as_u64().expect("a statusCode") as u16;
    let mut headers = std::collections::HashMap::new();
    for (name, value) in answer["headers"].as_object().into_iter().flatten() {
        headers.insert(
            name.to_lowercase(),
            value.as_str().unwrap_or_default().to_owned(),
        );
    }
    for (name, values) in answer["multiValueHeaders"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if let Some(first) = values.as_array().and_then(|v| v.first()) {
            headers.insert(
                name.to_lowercase(),
                first.as_str().unwrap_or_default().to_owned(),
            );
        }
    }
    let body = answer["body"].as_str().unwrap_or_default();
    let body = if answer["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("base64")
    } else {
        body.as_bytes().to_vec()
    };
    (status, headers, body)
}

/// Every HTTP function answers API Gateway REST API events (payload 1.0, as the template's REST
/// API sends them) through a Runtime API, as in Lambda: the stage is not in the route, multi-
/// value headers and query strings are read, a base64 request body is decoded, the client IP
/// is `identity.sourceIp` (one address limited, another served), and an XLSX export leaves as
/// base64 bytes intact.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn every_function_answers_rest_api_events(pool: PgPool) {
    let tenant = shared::testing::login_url(&pool, Login::Tenant).await;
    let auth_url = shared::testing::login_url(&pool, Login::Auth).await;
    let worker = shared::testing::login_url(&pool, Login::Worker).await;
    let database = shared::testing::database_url(&pool);
    let env = [
        ("DATABASE_URL", database.as_str()),
        ("SECRET_KEY", e2e::SECRET_KEY),
        ("TENANT_DATABASE_URL", tenant.as_str()),
        ("AUTH_DATABASE_URL", auth_url.as_str()),
        ("WORKER_DATABASE_URL", worker.as_str()),
    ];
    let mut functions = std::collections::HashMap::new();
    for name in e2e::routes::functions() {
        functions.insert(name, e2e::Lambda::start(name, &env).await);
    }
    let call = |function: &'static str, event: Value| {
        let lambda = &functions[function];
        async move { rest_answer(&lambda.invoke(&event).await) }
    };
    let json = [("Content-Type", "application/json")];

    let (status, headers, _) = call(
        "health",
        e2e::rest_event("GET", "/health", &[], None, false, "203.0.113.1"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-content-type-options"], "nosniff");

    // Registration with a base64-encoded body, as API Gateway passes a binary-typed one.
    let register = br#"{"organization_name": "Acme", "name": "Ann", "email": "ann@example.com", "password": "Corr3ct-horse"}"#;
    let (status, _, body) = call(
        "auth",
        e2e::rest_event(
            "POST",
            "/api/auth/register",
            &json,
            Some(register),
            true,
            "203.0.113.1",
        ),
    )
    .await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    // The confirmation mail was queued by the answer; the link's token confirms.
    let token = shared::testing::mailed_token_with(
        &pool,
        "ann@example.com",
        "/confirm-registration",
        &e2e::keys(),
    )
    .await;
    let confirm = serde_json::json!({ "token": token }).to_string();
    let (status, _, body) = call(
        "auth",
        e2e::rest_event(
            "POST",
            "/api/auth/register/confirm",
            &json,
            Some(confirm.as_bytes()),
            false,
            "203.0.113.1",
        ),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let session: Value = serde_json::from_slice(&body).unwrap();
    let bearer = format!("Bearer {}", session["access_token"].as_str().unwrap());
    let signed = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];

    let product = br#"{"sku": "REST-1", "name": "Rest", "price": "2.50", "currency": "EUR"}"#;
    let (status, _, body) = call(
        "products",
        e2e::rest_event(
            "POST",
            "/api/products",
            &signed,
            Some(product),
            false,
            "203.0.113.1",
        ),
    )
    .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = call(
        "products",
        e2e::rest_event(
            "GET",
            "/api/products?limit=1&q=rest",
            &signed,
            None,
            false,
            "203.0.113.1",
        ),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let page: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(page["items"][0]["sku"], "REST-1", "{page}");

    for (function, path) in [
        ("suppliers", "/api/suppliers"),
        ("inventory", "/api/purchase-orders"),
        ("tasks", "/api/tasks"),
        ("users", "/api/users"),
        ("auth", "/api/auth/me"),
        ("dashboard", "/api/dashboard/summary"),
    ] {
        let (status, _, body) = call(
            function,
            e2e::rest_event("GET", path, &signed, None, false, "203.0.113.1"),
        )
        .await;
        assert_eq!(
            status,
            200,
            "{function} {path}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    let (status, headers, body) = call(
        "dashboard",
        e2e::rest_event(
            "GET",
            "/api/dashboard/export/products.xlsx",
            &signed,
            None,
            false,
            "203.0.113.1",
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"].contains("spreadsheetml"),
        "{headers:?}"
    );
    assert!(
        body.starts_with(b"PK\x03\x04"),
        "an XLSX (zip) file, bytes intact"
    );

    // Webhooks: no Wise key configured here, so a clear 503, not a crash.
    let (status, headers, _) = call(
        "webhooks",
        e2e::rest_event(
            "POST",
            "/webhooks/wise",
            &json,
            Some(b"{}"),
            false,
            "203.0.113.1",
        ),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(headers["content-type"], "application/problem+json");

    // A flood of failed sign-ins at one account, from devices it does not know, is limited
    // there (10 an hour); another account is served.
    let wrong = br#"{"email": "ann@example.com", "password": "wrong-password-1"}"#;
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let (status, _, _) = call(
            "auth",
            e2e::rest_event(
                "POST",
                "/api/auth/login",
                &json,
                Some(wrong),
                false,
                "198.51.100.7",
            ),
        )
        .await;
        statuses.push(status);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let other = br#"{"email": "bob@example.com", "password": "wrong-password-1"}"#;
    let (status, _, _) = call(
        "auth",
        e2e::rest_event(
            "POST",
            "/api/auth/login",
            &json,
            Some(other),
            false,
            "198.51.100.8",
        ),
    )
    .await;
    assert_eq!(status, 401, "another account is served");

    // Malformed events get 400 problem+json, not a failed invocation (API Gateway's 502).
    let mut no_context =
        e2e::rest_event("GET", "/api/products", &signed, None, false, "203.0.113.1");
    no_context.as_object_mut().unwrap().remove("requestContext");
    let mut bad_base64 = e2e::rest_event(
        "POST",
        "/api/products",
        &signed,
        Some(b"{}"),
        true,
        "203.0.113.1",
    );
    bad_base64["body"] = "not base64 at all!".into();
    let mut no_method =
        e2e::rest_event("GET", "/api/products", &signed, None, false, "203.0.113.1");
    no_method["httpMethod"] = "G E T".into();
    for (what, event) in [
        ("no requestContext", no_context),
        ("bad base64", bad_base64),
        ("bad method", no_method),
    ] {
        let (status, headers, body) = call("products", event).await;
        assert_eq!(status, 400, "{what}");
        assert_eq!(
            headers["content-type"], "application/problem+json",
            "{what}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["code"], "malformed_event", "{what}: {problem}");
    }
    // And the function answers on.
    let (status, _, _) = call(
        "products",
        e2e::rest_event("GET", "/api/products", &signed, None, false, "203.0.113.1"),
    )
    .await;
    assert_eq!(status, 200);
}
