//! The database logins of the functions: each reaches only what it needs.

use super::*;

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
    let alice = apps.users.register("alice@a.example").await;
    let mut tenant = tenant_for(&apps, &alice).await;
    // ...and so are the credentials of the people it may see (a person may belong to several
    // organizations, or be invited by any).
    for (table, column) in [
        ("password_reset_tokens", "1"),
        ("mfa_recovery_codes", "1"),
        ("_sqlx_migrations", "1"),
        ("trusted_devices", "1"),
        ("registrations", "1"),
        ("realtime_connections", "1"),
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
    let alice = apps.users.register("alice@a.example").await;
    let bruno = apps.users.register("bruno@b.example").await;
    apps.users
        .member(&bruno.org_id, "staff@b.example", json!({}))
        .await;
    let key = apps
        .users
        .by(&alice.token)
        .stepped_up()
        .post(
            "/api/api-keys",
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
    let listed = users.by(&bruno.token).get("/api/users").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
    let created = users
        .by(&bruno.token)
        .post(
            "/api/users",
            json!({"email": "new@b.example", "name": "New", "role": "user"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let org = users.by(&alice.token).get("/api/organization").await;
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
    let by_key = probe.by(&key).get("/probe").await;
    assert_eq!(by_key.status, 200, "{}", by_key.body);
    assert_eq!(String::from_utf8_lossy(&by_key.bytes), alice.org_id);
    let wrong_key = probe.by("sk_not-a-key").get("/probe").await;
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
    let alice = apps.users.register("alice@a.example").await;
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
