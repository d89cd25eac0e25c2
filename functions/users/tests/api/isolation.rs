//! Tenant isolation as a tested property: every route that takes an id, called by another
//! organization's admin, answers 404 and changes nothing; lists never show foreign rows; and
//! row-level security confines even a query that forgets its organization filter.

use axum::extract::FromRequestParts;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::auth::Tenant;
use shared::testing::{Registered, assert_problem, member, register};
use sqlx::PgPool;

use crate::support::*;

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
    let alice = register(&apps.users, "alice@a.example").await;
    let bruno = register(&apps.users, "bruno@b.example").await;
    // Added through the API, so that Bruno's organization has audit rows about them.
    let b_user = apps
        .users
        .post_with(
            "/api/users",
            json!({"email": "staff@b.example", "name": "Staff", "role": "user"}),
            &bruno.token,
        )
        .await;
    assert_eq!(b_user.status, StatusCode::CREATED, "{}", b_user.body);
    let b_user = b_user.body["id"].as_str().unwrap().to_owned();
    let b_key = create_api_key(
        &apps,
        &bruno.token,
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
            .stepped_up(method.clone(), &path, body, &alice.token)
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
        .get_with("/api/users?include_total=true", &alice.token)
        .await;
    assert_eq!(users.body["total"], 1);
    let keys = apps.users.get_with("/api/api-keys", &alice.token).await;
    assert_eq!(keys.body["items"].as_array().unwrap().len(), 0);
    let log = apps
        .users
        .get_with(&format!("/api/audit-log?entity_id={b_user}"), &alice.token)
        .await;
    assert_eq!(log.body["items"].as_array().unwrap().len(), 0);
}

/// A tenant connection exactly as a handler gets it, for org `member`.
async fn tenant_for(apps: &Apps, member: &Registered) -> Tenant {
    let request = http::Request::get("/")
        .header("authorization", format!("Bearer {}", member.token))
        .body(())
        .unwrap();
    let (mut parts, ()) = request.into_parts();
    // What the transaction layer of shared::http::layers gives every request.
    parts.extensions.insert(shared::db::TxSlot::default());
    let state = shared::testing::state_as(apps.pool.clone(), shared::db::Login::Tenant, &[]);
    Tenant::from_request_parts(&mut parts, &state)
        .await
        .expect("a tenant")
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn row_level_security_confines_a_query_without_an_org_filter(pool: PgPool) {
    let apps = apps(pool.clone());
    let alice = register(&apps.users, "alice@a.example").await;
    let bruno = register(&apps.users, "bruno@b.example").await;
    member(&apps.users, &bruno.org_id, "staff@b.example", json!({})).await;

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
    let alice = register(&apps.users, "alice@a.example").await;
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
    let read = users.get_with("/api/organization", &alice.token).await;
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
        .post_with(
            "/api/users",
            json!({"email": "alice@a.example", "name": "Again", "role": "user"}),
            &alice.token,
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
    let alice = register(&apps.users, "alice@a.example").await;
    let bruno = register(&apps.users, "bruno@b.example").await;
    for n in 0..3 {
        member(
            &apps.users,
            &alice.org_id,
            &format!("a{n}@a.example"),
            json!({}),
        )
        .await;
        member(
            &apps.users,
            &bruno.org_id,
            &format!("b{n}@b.example"),
            json!({}),
        )
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
                let response = app.get_with(path, &token).await;
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

struct PoolerCounters {
    clients: i64,
    servers: i64,
    transactions: i64,
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

/// Every table the tenant role can touch has row-level security and a policy, and every view it
/// can read runs as its caller (`security_invoker`), so the policies apply through it. A table
/// added without them (default privileges grant it to the tenant role) fails here.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn every_relation_the_tenant_role_can_touch_is_confined(pool: PgPool) {
    let unconfined: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
           AND has_table_privilege('stockroom_app', c.oid, 'SELECT, INSERT, UPDATE, DELETE')
           AND NOT (c.relkind IN ('r', 'p') AND c.relrowsecurity
                    AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))
           AND NOT (c.relkind = 'v'
                    AND coalesce(c.reloptions @> ARRAY['security_invoker=true'], false))
         ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(unconfined.is_empty(), "not confined by RLS: {unconfined:?}");

    // And as a handler gets it: the sign-in tables are out of reach of a tenant session.
    let apps = apps(pool.clone());
    let alice = register(&apps.users, "alice@a.example").await;
    let mut tenant = tenant_for(&apps, &alice).await;
    // ...and so are the credentials of the people it may see (a person may belong to several
    // organizations, or be invited by any).
    for (table, column) in [
        ("password_reset_tokens", "1"),
        ("mfa_recovery_codes", "1"),
        ("_sqlx_migrations", "1"),
        ("trusted_devices", "1"),
        ("registrations", "1"),
        ("users", "password_hash"),
        ("users", "mfa_secret"),
    ] {
        let read = sqlx::query(&format!("SELECT {column} FROM {table} LIMIT 1"))
            .fetch_optional(&mut *tenant.db)
            .await;
        let code = read
            .err()
            .and_then(|e| e.into_database_error())
            .and_then(|e| e.code().map(|c| c.into_owned()));
        assert_eq!(
            code.as_deref(),
            Some("42501"),
            "a tenant session read {table}.{column}"
        );
        // The refusal aborted the request's transaction; go on in a fresh one.
        tenant.db.roll_back_and_continue().await.unwrap();
    }
}

/// The login role for the tenant functions (`stockroom_api`, migration 9): as deployed with
/// `ALTER ROLE stockroom_api LOGIN`, a function logged in as it serves tenant requests, by
/// token and by API key, confined to the caller's organization; the role itself owns nothing,
/// cannot bypass row-level security, reads nothing on its own (not even after `RESET ROLE`
/// inside a request) and cannot become the owner.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_tenant_functions_login_role_can_only_enter_a_tenant(pool: PgPool) {
    use sqlx::Connection;
    let apps = apps(pool.clone());
    let alice = register(&apps.users, "alice@a.example").await;
    let bruno = register(&apps.users, "bruno@b.example").await;
    member(&apps.users, &bruno.org_id, "staff@b.example", json!({})).await;
    let key = create_api_key(
        &apps,
        &alice.token,
        json!({"name": "Till", "scopes": ["products:read"]}),
    )
    .await;
    assert_eq!(key.status, 201, "{}", key.body);
    let key = key.body["key"].as_str().unwrap().to_owned();

    // As an operator does once (the test server trusts the login), through the run's pooler
    // if any.
    let url = shared::testing::login_url(&pool, shared::db::Login::Tenant).await;
    let options: sqlx::postgres::PgConnectOptions = url.as_str().parse().unwrap();
    let settings = shared::testing::settings(&[]);
    let state = shared::AppState::new(
        settings.clone(),
        shared::db::pool_with(options.clone(), &settings),
    )
    .unwrap();
    let users = shared::testing::TestApp::new(users::app(state.clone()), pool.clone());
    let listed = users.get_with("/api/users", &bruno.token).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
    let created = users
        .post_with(
            "/api/users",
            json!({"email": "new@b.example", "name": "New", "role": "user"}),
            &bruno.token,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let org = users.get_with("/api/organization", &alice.token).await;
    assert_eq!(org.status, 200, "{}", org.body);
    assert_eq!(org.body["id"], alice.org_id.as_str());
    let probe = shared::testing::TestApp::new(
        shared::http::layers(
            axum::Router::new()
                .route(
                    "/probe",
                    axum::routing::get(
                        |tenant: Tenant| async move { tenant.caller.org_id.to_string() },
                    ),
                )
                .with_state(state),
            &settings.http,
            utoipa::openapi::OpenApi::default,
        ),
        pool.clone(),
    );
    let by_key = probe.get_with("/probe", &key).await;
    assert_eq!(by_key.status, 200, "{}", by_key.body);
    assert_eq!(String::from_utf8_lossy(&by_key.bytes), alice.org_id);
    let wrong_key = probe.get_with("/probe", "sk_not-a-key").await;
    assert_eq!(wrong_key.status, 401);

    // What the role is, logged in directly.
    let mut conn = sqlx::PgConnection::connect_with(&options).await.unwrap();
    assert_is_narrow(&mut conn, "stockroom_api", Some("stockroom_app")).await;
    for table in ["users", "products", "api_keys", "refresh_tokens"] {
        let read = sqlstate(&mut conn, &format!("SELECT 1 FROM {table}")).await;
        assert_eq!(read.as_deref(), Some("42501"), "read {table} on its own");
    }
    let owner: String =
        sqlx::query_scalar("SELECT tableowner::text FROM pg_tables WHERE tablename = 'users'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let become_owner = sqlstate(&mut conn, &format!("SET ROLE \"{owner}\"")).await;
    assert_eq!(become_owner.as_deref(), Some("42501"), "became {owner}");
    // Inside a tenant request, stepping back out of the tenant role leaves nothing either.
    let entered = sqlx::Executor::fetch_all(
        &mut conn,
        format!(
            "BEGIN; SELECT * FROM stockroom_enter_user('{}', '{}', '{}')",
            uuid::Uuid::nil(),
            alice.org_id,
            uuid::Uuid::nil()
        )
        .as_str(),
    )
    .await
    .unwrap();
    assert!(entered.is_empty(), "a made-up session entered");
    let reset = sqlstate(&mut conn, "RESET ROLE; SELECT 1 FROM users").await;
    assert_eq!(reset.as_deref(), Some("42501"));
}

/// The login role of `conn` is no superuser, cannot bypass row-level security, inherits no
/// privilege, owns nothing and is a member of `member_of` only.
async fn assert_is_narrow(conn: &mut sqlx::PgConnection, role: &str, member_of: Option<&str>) {
    use sqlx::Row;
    let row = sqlx::Executor::fetch_one(
        &mut *conn,
        "SELECT r.rolsuper, r.rolbypassrls, r.rolinherit,
                (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)
                  + (SELECT count(*) FROM pg_proc p WHERE p.proowner = r.oid),
                (SELECT string_agg(o.rolname, ',') FROM pg_roles o
                 WHERE o.rolname <> r.rolname AND pg_has_role(r.oid, o.oid, 'MEMBER'))
         FROM pg_roles r WHERE r.rolname = current_user",
    )
    .await
    .unwrap();
    assert!(!row.get::<bool, _>(0), "{role}: a superuser");
    assert!(
        !row.get::<bool, _>(1),
        "{role}: bypasses row-level security"
    );
    assert!(!row.get::<bool, _>(2), "{role}: inherits privileges");
    assert_eq!(row.get::<i64, _>(3), 0, "{role}: owns something");
    assert_eq!(
        row.get::<Option<String>, _>(4).as_deref(),
        member_of,
        "{role}"
    );
    // No temporary tables: one could stand in for a table inside a function that searches
    // pg_temp (`stockroom_wise_transfer_org` answered a worker's own `purchase_order_payments`).
    let shadow = "CREATE TEMP TABLE purchase_order_payments (org_id uuid, wise_transfer_id bigint)";
    assert_eq!(
        sqlstate(conn, shadow).await.as_deref(),
        Some("42501"),
        "{role} makes temporary tables"
    );
}

/// Every function that runs as the tables' owner, and every entry function, searches pg_temp
/// last (by default it is searched first), so even a role that could make temporary tables
/// could not stand one in for a table inside them.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn functions_that_act_for_others_search_pg_temp_last(pool: PgPool) {
    let loose: Vec<String> = sqlx::query_scalar(
        "SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'public'
           AND (p.prosecdef OR p.proname LIKE 'stockroom_enter_%')
           AND NOT coalesce('search_path=pg_catalog, public, pg_temp' = ANY (p.proconfig), false)
         ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        loose.is_empty(),
        "without search_path = pg_catalog, public, pg_temp: {loose:?}"
    );
}

/// The SQLSTATE `conn` gets for `sql` (`None`: it ran).
async fn sqlstate(conn: &mut sqlx::PgConnection, sql: &str) -> Option<String> {
    sqlx::Executor::execute(&mut *conn, sql)
        .await
        .err()
        .and_then(|e| e.into_database_error())
        .and_then(|e| e.code().map(|c| c.into_owned()))
}

/// The login roles of sign-in (`stockroom_auth`) and of the scheduler and webhooks
/// (`stockroom_worker`, migration 10) are narrow: they own nothing, cannot bypass row-level
/// security or become the owner, every table they can touch either has a policy written for
/// them or is one of the named sign-in tables that hold no organization's data, and they are
/// refused what belongs to the other roles.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_sign_in_and_worker_login_roles_reach_only_what_they_need(pool: PgPool) {
    use shared::db::Login;
    use sqlx::Connection;
    let apps = apps(pool.clone());
    let alice = register(&apps.users, "alice@a.example").await;
    let owner_role: String =
        sqlx::query_scalar("SELECT tableowner::text FROM pg_tables WHERE tablename = 'users'")
            .fetch_one(&pool)
            .await
            .unwrap();

    for (login, member_of, unconfined_ok) in [
        (
            Login::Auth,
            None,
            &[
                "mfa_challenges",
                "mfa_recovery_codes",
                "password_reset_tokens",
                "rate_limit_hits",
                // Sign-up requests, before any organization exists (no tenant reaches them).
                "registrations",
                // The devices people signed in from (no organization's data).
                "trusted_devices",
            ][..],
        ),
        (Login::Worker, Some("stockroom_app"), &[][..]),
    ] {
        let role = login.role();
        // Tables it can touch by its own grants (NOINHERIT: not through stockroom_app).
        let unconfined: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
               AND (has_table_privilege($1, c.oid, 'SELECT, INSERT, UPDATE, DELETE')
                    OR has_any_column_privilege($1, c.oid, 'SELECT, INSERT, UPDATE'))
               AND NOT (c.relkind IN ('r', 'p') AND c.relrowsecurity
                        AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid
                                    AND (SELECT oid FROM pg_roles WHERE rolname = $1) = ANY (p.polroles)))
             ORDER BY 1",
        )
        .bind(role)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(
            unconfined, unconfined_ok,
            "{role}: tables without a policy for it"
        );

        let url = shared::testing::login_url(&pool, login).await;
        let mut conn = sqlx::PgConnection::connect(url.as_str()).await.unwrap();
        assert_is_narrow(&mut conn, role, member_of).await;
        let set_owner = format!("SET ROLE \"{owner_role}\"");
        assert_eq!(
            sqlstate(&mut conn, &set_owner).await.as_deref(),
            Some("42501"),
            "{role} became the owner"
        );
        // Tenant data, other roles' entry points and the schema itself are refused.
        for sql in [
            "SELECT 1 FROM products",
            "SELECT 1 FROM suppliers",
            "SELECT 1 FROM api_keys",
            "SELECT 1 FROM purchase_order_payments",
            "SELECT 1 FROM _sqlx_migrations",
            "SELECT stockroom_api_key_org('\\x00'::bytea)",
            "ALTER TABLE users DISABLE ROW LEVEL SECURITY",
            "CREATE TABLE public.scratch (id int)",
        ] {
            assert_eq!(
                sqlstate(&mut conn, sql).await.as_deref(),
                Some("42501"),
                "{role}: {sql}"
            );
        }
        match login {
            Login::Auth => {
                // Sign-in may read users across organizations, but change only credentials.
                let ann: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
                assert_eq!(ann, 1);
                for sql in [
                    "UPDATE users SET role = 'owner'".to_owned(),
                    "UPDATE users SET org_id = gen_random_uuid()".to_owned(),
                    "SELECT 1 FROM audit_log".to_owned(),
                    "SET ROLE stockroom_app".to_owned(),
                    "SELECT stockroom_enter_org(gen_random_uuid())".to_owned(),
                    "SELECT stockroom_delete_expired(1)".to_owned(),
                    // Registration makes people, not members of an organization...
                    format!(
                        "INSERT INTO users (org_id, email, name, password_hash, role)
                         VALUES ('{}', 'mallory@x.example', 'M', 'x', 'owner')",
                        alice.org_id
                    ),
                    // ...and adds an organization's first member, its owner, only.
                    format!(
                        "INSERT INTO memberships (org_id, user_id, role, joined_at)
                         VALUES ('{}', '{}', 'owner', now())",
                        alice.org_id, alice.user_id
                    ),
                    "UPDATE memberships SET role = 'owner'".to_owned(),
                    "SELECT * FROM stockroom_mail_claim_due(10)".to_owned(),
                ] {
                    assert_eq!(
                        sqlstate(&mut conn, &sql).await.as_deref(),
                        Some("42501"),
                        "auth: {sql}"
                    );
                }
            }
            Login::Worker => {
                for sql in [
                    "SELECT 1 FROM users",
                    "SELECT 1 FROM reservations",
                    "DELETE FROM refresh_tokens",
                    "SELECT 1 FROM wise_recipients",
                    "SELECT * FROM stockroom_enter_user(gen_random_uuid(), gen_random_uuid(), gen_random_uuid())",
                ] {
                    assert_eq!(
                        sqlstate(&mut conn, sql).await.as_deref(),
                        Some("42501"),
                        "worker: {sql}"
                    );
                }
                // Its questions across organizations answer what they are for, nothing more.
                let orgs: Vec<uuid::Uuid> =
                    sqlx::query_scalar("SELECT * FROM stockroom_orgs_with_expired_reservations()")
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                assert!(orgs.is_empty());
            }
            Login::Tenant => unreachable!(),
        }
    }

    // And the tenant functions' role cannot call the worker's or sign-in's functions.
    let url = shared::testing::login_url(&pool, Login::Tenant).await;
    let mut conn = sqlx::PgConnection::connect(url.as_str()).await.unwrap();
    for sql in [
        "SELECT stockroom_delete_expired(1)",
        "SELECT stockroom_wise_transfer_org(1, NULL)",
        "SELECT * FROM stockroom_orgs_with_reorder_points()",
        "SELECT 1 FROM rate_limit_hits",
    ] {
        assert_eq!(
            sqlstate(&mut conn, sql).await.as_deref(),
            Some("42501"),
            "api: {sql}"
        );
    }
}

/// Tenant requests hold their connection from `shared::db::Connections`: kept for the next
/// request without a check of its own (its COMMIT just proved it sound), at most
/// `DB_MAX_CONNECTIONS` of them (a request that finds none free within the acquire timeout
/// answers 503), and one that went away is replaced after failing one request with a 503.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn tenant_connections_are_kept_limited_and_replaced(pool: PgPool) {
    let apps = apps(pool.clone());
    let alice = register(&apps.users, "alice@a.example").await;
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
        let listed = users.get_with("/api/users", &alice.token).await;
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
    let waited = users.get_with("/api/users", &alice.token).await;
    assert_problem(
        &waited,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    // The held transaction was never ended (no transaction layer took it from the request's
    // slot), so its connection is closed, not kept.
    drop(held);
    drop(parts);
    let listed = users.get_with("/api/users", &alice.token).await;
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
    let failed = users.get_with("/api/users", &alice.token).await;
    assert_eq!(
        failed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        failed.body
    );
    let listed = users.get_with("/api/users", &alice.token).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(backends().await.len(), 1);
}
