//! One organization's requests never reach another's rows, even with a query that forgets the
//! organization, and leave nothing on a connection the next request gets.

use super::*;

async fn snapshot(pool: &PgPool) -> Value {
    let users: Vec<(String, String, bool, String)> =
        sqlx::query_as("SELECT email, role::text, is_active, name FROM users ORDER BY email")
            .fetch_all(pool)
            .await
            .unwrap();
    let keys: Vec<(String, bool)> =
        sqlx::query_as("SELECT name, revoked_at IS NOT NULL FROM api_keys ORDER BY name")
            .fetch_all(pool)
            .await
            .unwrap();
    json!({"users": users, "keys": keys})
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_organizations_ids_are_404_on_every_route_and_nothing_changes(pool: PgPool) {
    let apps = apps(pool.clone());
    let alice = apps.users.register("alice@a.example").await;
    let bruno = apps.users.register("bruno@b.example").await;
    // Added through the API, so that Bruno's organization has audit rows about them.
    let b_user = apps
        .users
        .by(&bruno.token)
        .post(
            "/api/users",
            json!({"email": "staff@b.example", "name": "Staff", "role": "user"}),
        )
        .await;
    assert_eq!(b_user.status, StatusCode::CREATED, "{}", b_user.body);
    let b_user = b_user.body["id"].as_str().unwrap().to_owned();
    let b_key = apps
        .users
        .by(&bruno.token)
        .stepped_up()
        .post(
            "/api/api-keys",
            json!({"name": "B till", "scopes": ["products:read"]}),
        )
        .await;
    assert_eq!(b_key.status, StatusCode::CREATED, "{}", b_key.body);
    let b_key = b_key.body["id"].as_str().unwrap().to_owned();

    let before = snapshot(&pool).await;
    let matrix: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/users/{b_user}"), None),
        (
            Method::PATCH,
            format!("/api/users/{b_user}"),
            Some(json!({"name": "Hijacked", "role": "admin"})),
        ),
        (
            Method::POST,
            format!("/api/users/{b_user}/deactivate"),
            None,
        ),
        (
            Method::POST,
            format!("/api/users/{b_user}/reactivate"),
            None,
        ),
        (Method::GET, format!("/api/users/{}", bruno.user_id), None),
        (
            Method::PATCH,
            format!("/api/users/{}", bruno.user_id),
            Some(json!({"is_active": false})),
        ),
        (Method::DELETE, format!("/api/api-keys/{b_key}"), None),
    ];
    for (method, path, body) in matrix {
        // With a valid step-up of Alice's: the only reason left to refuse is the organization.
        let response = apps
            .users
            .by(&alice.token)
            .stepped_up()
            .send(method.clone(), &path, body)
            .await;
        assert_problem(&response, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(
            snapshot(&pool).await,
            before,
            "{method} {path} changed something"
        );
    }

    let users = apps
        .users
        .by(&alice.token)
        .get("/api/users?include_total=true")
        .await;
    assert_eq!(users.body["total"], 1);
    let keys = apps.users.by(&alice.token).get("/api/api-keys").await;
    assert_eq!(keys.body["items"].as_array().unwrap().len(), 0);
    let log = apps
        .users
        .by(&alice.token)
        .get(&format!("/api/audit-log?entity_id={b_user}"))
        .await;
    assert_eq!(log.body["items"].as_array().unwrap().len(), 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn row_level_security_confines_a_query_without_an_org_filter(pool: PgPool) {
    let apps = apps(pool.clone());
    let alice = apps.users.register("alice@a.example").await;
    let bruno = apps.users.register("bruno@b.example").await;
    apps.users
        .member(&bruno.org_id, "staff@b.example", json!({}))
        .await;

    let mut tenant = tenant_for(&apps, &alice).await;
    // Deliberately no WHERE org_id = ...: RLS still shows only Alice's organization.
    let emails: Vec<String> = sqlx::query_scalar("SELECT email FROM users ORDER BY email")
        .fetch_all(&mut *tenant.db)
        .await
        .unwrap();
    assert_eq!(emails, ["alice@a.example"]);
    let orgs: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations")
        .fetch_one(&mut *tenant.db)
        .await
        .unwrap();
    assert_eq!(orgs, 1);
    let audit: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE org_id <> $1::uuid")
        .bind(&alice.org_id)
        .fetch_one(&mut *tenant.db)
        .await
        .unwrap();
    assert_eq!(audit, 0);

    // Writes are confined too: an unfiltered UPDATE touches only Alice's rows...
    let touched = sqlx::query("UPDATE users SET name = 'Renamed'")
        .execute(&mut *tenant.db)
        .await
        .unwrap();
    assert_eq!(touched.rows_affected(), 1);
    // ...and a row for another organization cannot be written.
    let foreign = sqlx::query(
        "INSERT INTO users (org_id, email, name) VALUES ($1::uuid, 'x@b.example', 'X')",
    )
    .bind(&bruno.org_id)
    .execute(&mut *tenant.db)
    .await;
    assert!(
        foreign.is_err(),
        "RLS WITH CHECK refuses another organization's row"
    );
    drop(tenant);

    let bruno_names: Vec<String> =
        sqlx::query_scalar("SELECT u.name FROM users u JOIN memberships m ON m.user_id = u.id WHERE m.org_id = $1::uuid")
            .bind(&bruno.org_id)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(bruno_names.iter().all(|n| n != "Renamed"));
}

/// A tenant request is one transaction and its context is transaction-local: once the response
/// is out, the connection (the function's only one) is back in the pool as the login role, with
/// no organization set and no transaction open, which is what a transaction pooler needs to
/// hand it to someone else. An error response rolls everything back.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_request_leaves_nothing_on_its_connection(pool: PgPool) {
    let apps = apps(pool.clone());
    let alice = apps.users.register("alice@a.example").await;
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Tenant, &[]);
    assert_eq!(state.settings.db.max_connections, 1);
    let users = shared::testing::TestApp::new(users::app(state.clone()), pool.clone());

    let clean = || async {
        let mut conn = state.pool.acquire().await.unwrap();
        // now() is the start of the transaction. Sent as one simple-protocol message, the
        // statement begins a transaction only if none is open, and then now() is its own
        // start time; a transaction left open on the connection would have started earlier.
        let row = sqlx::Executor::fetch_one(
            &mut *conn,
            "SELECT current_user::text, nullif(current_setting('app.org_id', true), ''),
                    now() = statement_timestamp()",
        )
        .await
        .unwrap();
        use sqlx::Row;
        (
            row.get::<String, _>(0),
            row.get::<Option<String>, _>(1),
            row.get::<bool, _>(2),
        )
    };
    let read = users.by(&alice.token).get("/api/organization").await;
    assert_eq!(read.status, 200, "{}", read.body);
    let (user, org, fresh_transaction) = clean().await;
    assert_ne!(user, "stockroom_app");
    assert_eq!(org, None);
    assert!(
        fresh_transaction,
        "a transaction was left open on the connection"
    );

    // A write answered with an error leaves nothing behind: the invitation of a user who is
    // already a member is refused after the handler has read and locked rows.
    let refused = users
        .by(&alice.token)
        .post(
            "/api/users",
            json!({"email": "alice@a.example", "name": "Again", "role": "user"}),
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    let (user, org, fresh_transaction) = clean().await;
    assert_ne!(user, "stockroom_app");
    assert_eq!(org, None);
    assert!(fresh_transaction);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(users, 1);
}

/// Sixteen Lambda environments (each its own pool of one connection, as deployed), half of
/// them serving one organization and half the other, all at once: every answer holds only its
/// caller's rows. In the pooler pass of `make test` (POOLER_TEST_URL) the environments share
/// two server connections through PgBouncer in transaction mode, so requests of both
/// organizations interleave on the same server connections; PgBouncer's own counters show it
/// (many clients, two servers, one transaction per request).
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn isolation_holds_when_requests_interleave_on_shared_server_connections(pool: PgPool) {
    let apps = apps(pool.clone());
    let alice = apps.users.register("alice@a.example").await;
    let bruno = apps.users.register("bruno@b.example").await;
    for n in 0..3 {
        apps.users
            .member(&alice.org_id, &format!("a{n}@a.example"), json!({}))
            .await;
        apps.users
            .member(&bruno.org_id, &format!("b{n}@b.example"), json!({}))
            .await;
    }
    let pooler = shared::testing::pooler();
    let before = pooler_counters(&pool).await;

    const ENVIRONMENTS: usize = 16;
    const REQUESTS: usize = 30;
    let mut runs = tokio::task::JoinSet::new();
    for environment in 0..ENVIRONMENTS {
        let app = shared::testing::TestApp::new(
            users::app(shared::testing::state_as(
                pool.clone(),
                shared::db::Login::Tenant,
                &[],
            )),
            pool.clone(),
        );
        let (token, domain, org_id) = if environment % 2 == 0 {
            (alice.token.clone(), "@a.example", alice.org_id.clone())
        } else {
            (bruno.token.clone(), "@b.example", bruno.org_id.clone())
        };
        runs.spawn(async move {
            for n in 0..REQUESTS {
                let path = if n % 2 == 0 {
                    "/api/users"
                } else {
                    "/api/organization"
                };
                let response = app.by(&token).get(path).await;
                assert_eq!(response.status, 200, "{path}: {}", response.body);
                if n % 2 == 0 {
                    let items = response.body["items"].as_array().unwrap();
                    assert_eq!(items.len(), 4, "{}", response.body);
                    for user in items {
                        let email = user["email"].as_str().unwrap();
                        assert!(email.ends_with(domain), "{email} answered to {domain}");
                    }
                } else {
                    let id = response.body["id"].as_str().unwrap();
                    assert_eq!(id, org_id, "another organization answered to {domain}");
                }
            }
            app
        });
    }
    // Keep every environment's connection open until all are done, as warm Lambdas do.
    let mut finished = Vec::new();
    while let Some(run) = runs.join_next().await {
        finished.push(run.unwrap());
    }

    if let (Some(before), Some(after)) = (before, pooler_counters(&pool).await) {
        assert!(pooler.is_some());
        let transactions = after.transactions - before.transactions;
        let requests = (ENVIRONMENTS * REQUESTS) as i64;
        assert!(
            after.clients >= ENVIRONMENTS as i64,
            "{} clients at the pooler",
            after.clients
        );
        assert!(after.servers <= 2, "{} server connections", after.servers);
        // PgBouncer counts a transaction each time a server connection goes back to it: one
        // per request, its own. Nothing else: no statement outside the request's transaction,
        // no ping before each acquire, none when the connection is kept for the next request.
        assert!(
            (requests..=requests + ENVIRONMENTS as i64).contains(&transactions),
            "{transactions} transactions for {requests} requests"
        );
    }
    drop(finished);
}

/// PgBouncer's own counters for this test's database and the tenant login role (its admin
/// console, which speaks only the simple protocol), when the test runs through the pooler.
async fn pooler_counters(pool: &PgPool) -> Option<PoolerCounters> {
    use sqlx::{Connection, Row};
    let (host, port) = shared::testing::pooler()?;
    let database = pool.connect_options().get_database()?.to_owned();
    let mut admin =
        sqlx::PgConnection::connect(&format!("postgres://postgres@{host}:{port}/pgbouncer"))
            .await
            .expect("PgBouncer's admin console");
    let mut clients = 0;
    let mut servers = 0;
    for row in sqlx::Executor::fetch_all(&mut admin, "SHOW POOLS")
        .await
        .unwrap()
    {
        // The tenant functions' pool: PgBouncer pools per database and login role.
        if row.try_get::<String, _>("database").unwrap() == database
            && row.try_get::<String, _>("user").unwrap() == "stockroom_api"
        {
            // Text from the simple protocol, whatever type PgBouncer declares.
            let number = |name: &str| {
                let text: String = row.try_get_unchecked(name).unwrap();
                text.parse::<i64>().unwrap()
            };
            clients += number("cl_active") + number("cl_waiting");
            servers += number("sv_active")
                + number("sv_idle")
                + number("sv_used")
                + number("sv_tested")
                + number("sv_login");
        }
    }
    // The totals are refreshed every stats_period (1 s in the test's configuration).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut transactions = 0;
    for row in sqlx::Executor::fetch_all(&mut admin, "SHOW STATS")
        .await
        .unwrap()
    {
        if row.try_get::<String, _>("database").unwrap() == database {
            let text: String = row.try_get_unchecked("total_xact_count").unwrap();
            transactions = text.parse().unwrap();
        }
    }
    Some(PoolerCounters {
        clients,
        servers,
        transactions,
    })
}

/// Tenant requests hold their connection from `shared::db::Connections`: kept for the next
/// request without a check of its own (its COMMIT just proved it sound), at most
/// `DB_MAX_CONNECTIONS` of them (a request that finds none free within the acquire timeout
/// answers 503), and one that went away is replaced after failing one request with a 503.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn tenant_connections_are_kept_limited_and_replaced(pool: PgPool) {
    let apps = apps(pool.clone());
    let alice = apps.users.register("alice@a.example").await;
    let state = shared::testing::state_as(
        pool.clone(),
        shared::db::Login::Tenant,
        &[("DB_ACQUIRE_TIMEOUT_MS", "300")],
    );
    let users = shared::testing::TestApp::new(users::app(state.clone()), pool.clone());
    let backends = || async {
        sqlx::query_scalar::<_, i32>(
            "SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND usename = 'stockroom_api'
               AND application_name LIKE 'stockroom-%'",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    for _ in 0..5 {
        let listed = users.by(&alice.token).get("/api/users").await;
        assert_eq!(listed.status, 200, "{}", listed.body);
    }
    let through_pooler = shared::testing::pooler().is_some();
    if !through_pooler {
        assert_eq!(backends().await.len(), 1, "one connection, kept");
    }

    // Held by one request, the only connection makes the next wait, then answer 503.
    let request = http::Request::get("/")
        .header("authorization", format!("Bearer {}", alice.token))
        .body(())
        .unwrap();
    let (mut parts, ()) = request.into_parts();
    parts.extensions.insert(shared::db::TxSlot::default());
    let held = Tenant::from_request_parts(&mut parts, &state)
        .await
        .expect("a tenant");
    let waited = users.by(&alice.token).get("/api/users").await;
    assert_problem(
        &waited,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    // The held transaction was never ended (no transaction layer took it from the request's
    // slot), so its connection is closed, not kept.
    drop(held);
    drop(parts);
    let listed = users.by(&alice.token).get("/api/users").await;
    assert_eq!(listed.status, 200, "{}", listed.body);

    if through_pooler {
        return; // the server sessions are PgBouncer's
    }
    // The server ends the kept connection: the next request fails with a 503 (it was used
    // a moment ago, so it is not pinged), and the one after gets a new connection.
    // As the same role: an RDS-style master may not signal another role's sessions.
    let url = shared::testing::login_url(&pool, shared::db::Login::Tenant).await;
    let mut same_role = <sqlx::PgConnection as sqlx::Connection>::connect(url.as_str())
        .await
        .unwrap();
    let gone: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND usename = 'stockroom_api'
           AND application_name LIKE 'stockroom-%'",
    )
    .fetch_all(&mut same_role)
    .await
    .unwrap();
    sqlx::Connection::close(same_role).await.unwrap();
    assert_eq!(gone, [true]);
    let failed = users.by(&alice.token).get("/api/users").await;
    assert_eq!(
        failed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        failed.body
    );
    let listed = users.by(&alice.token).get("/api/users").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(backends().await.len(), 1);
}
