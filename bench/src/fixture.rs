//! The bench's own database, migrated and seeded: one organization with an owner (whose access
//! token every authenticated request carries), a supplier with its main contact, 1,000
//! products, 200 of the owner's tasks, and accounts that each sign in at most once (the login
//! rate limit allows 5 attempts a minute per account and per IP).

use std::collections::HashMap;

use shared::domain::{OrgId, SessionId, UserId};
use sqlx::migrate::MigrateDatabase;
use sqlx::{Connection, PgPool};
use uuid::Uuid;

pub const PASSWORD: &str = "Bench-passw0rd!";
const SECRET_KEY: &str = "bench-secret-key-0123456789abcdef0123456789";
pub const PRODUCTS: i64 = 1_000;
const TASKS: i64 = 200;
/// Accounts for the login load: more than the logins a run can make (bcrypt bounds them).
pub const LOGIN_ACCOUNTS: i64 = 2_000;

pub struct Fixture {
    pub database_url: String,
    /// The bench's pool (seeding, look-ups); the functions make their own.
    pub pool: PgPool,
    pub token: String,
    pub product_ids: Vec<Uuid>,
    /// One bcrypt-12 hash of `PASSWORD`, shared by every seeded account.
    pub password_hash: String,
    /// Whether the functions' connections use TLS (sqlx's default `sslmode=prefer` does when
    /// the server offers it); it costs CPU on both ends.
    pub tls: bool,
}

/// `login{n}@bench.example`, the seeded accounts for the login load.
pub fn login_email(n: u64) -> String {
    format!("login{}@bench.example", n % LOGIN_ACCOUNTS as u64)
}

impl Fixture {
    /// Creates (or recreates) a database next to the one `base_url` names.
    pub async fn create(base_url: &str) -> anyhow::Result<Self> {
        // Same server and options (`?sslmode=...`), another database name.
        let (url, options) = base_url.split_once('?').unwrap_or((base_url, ""));
        let server = url.rsplit_once('/').map_or(url, |(server, _)| server);
        let options = if options.is_empty() {
            String::new()
        } else {
            format!("?{options}")
        };
        let database_url = format!("{server}/stockroom_bench_{}{options}", std::process::id());
        if sqlx::Postgres::database_exists(&database_url).await? {
            sqlx::Postgres::drop_database(&database_url).await?;
        }
        sqlx::Postgres::create_database(&database_url).await?;

        let settings = settings(&database_url, 4)?;
        let pool = shared::db::pool(&settings)?;
        shared::MIGRATOR.run(&pool).await?;

        let password_hash = shared::auth::password::Password::new(PASSWORD.into(), "password")
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .hash()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // Seeding runs on its own connection: no statement timeout.
        let mut conn = sqlx::PgConnection::connect(&database_url).await?;
        let org: Uuid =
            sqlx::query_scalar("INSERT INTO organizations (name) VALUES ('Bench') RETURNING id")
                .fetch_one(&mut conn)
                .await?;
        let owner: Uuid = sqlx::query_scalar(
            "WITH person AS (
                 INSERT INTO users (email, name, password_hash)
                 VALUES ('owner@bench.example', 'Bench Owner', $2) RETURNING id)
             INSERT INTO memberships (org_id, user_id, role, joined_at)
             SELECT $1, id, 'owner', now() FROM person RETURNING user_id",
        )
        .bind(org)
        .bind(&password_hash)
        .fetch_one(&mut conn)
        .await?;
        sqlx::query(
            "WITH people AS (
                 INSERT INTO users (email, name, password_hash)
                 SELECT 'login' || n || '@bench.example', 'Login ' || n, $2
                 FROM generate_series(0, $3 - 1) AS n RETURNING id)
             INSERT INTO memberships (org_id, user_id, role, joined_at)
             SELECT $1, id, 'user', now() FROM people",
        )
        .bind(org)
        .bind(&password_hash)
        .bind(LOGIN_ACCOUNTS)
        .execute(&mut conn)
        .await?;
        let supplier: Uuid = sqlx::query_scalar(
            "INSERT INTO suppliers (org_id, name, email) VALUES ($1, 'Bench Supplies', 'sales@bench.example')
             RETURNING id",
        )
        .bind(org)
        .fetch_one(&mut conn)
        .await?;
        sqlx::query(
            "INSERT INTO supplier_contacts (org_id, supplier_id, name, email, is_primary)
             VALUES ($1, $2, 'Main Contact', 'main@bench.example', true)",
        )
        .bind(org)
        .bind(supplier)
        .execute(&mut conn)
        .await?;
        seed_products(&mut conn, org, Some(supplier), 1, PRODUCTS).await?;
        sqlx::query(
            "INSERT INTO tasks (org_id, user_id, title, description)
             SELECT $1, $2, 'Task ' || n, 'Something to do, number ' || n
             FROM generate_series(1, $3) AS n",
        )
        .bind(org)
        .bind(owner)
        .bind(TASKS)
        .execute(&mut conn)
        .await?;
        sqlx::query("ANALYZE").execute(&mut conn).await?;
        conn.close().await?;

        let product_ids =
            sqlx::query_scalar("SELECT id FROM products WHERE org_id = $1 ORDER BY random()")
                .bind(org)
                .fetch_all(&pool)
                .await?;
        let tls: bool = sqlx::query_scalar(
            "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
        )
        .fetch_one(&pool)
        .await?;
        let token = owner_token(&pool, &settings.keys.snapshot(), owner, org).await?;
        Ok(Self {
            database_url,
            pool,
            token,
            product_ids,
            password_hash,
            tls,
        })
    }

    /// What a function process needs besides the variables Lambda sets.
    pub fn function_env(&self) -> [(&'static str, String); 2] {
        [
            ("DATABASE_URL", self.database_url.clone()),
            ("SECRET_KEY", SECRET_KEY.to_owned()),
        ]
    }

    /// Settings as a function would read them, with a pool of `max_connections`.
    pub fn settings(&self, max_connections: u32) -> anyhow::Result<shared::Settings> {
        settings(&self.database_url, max_connections)
    }

    /// Drops the database, with any connection still open to it (a pooler keeps some).
    pub async fn drop_database(self) -> anyhow::Result<()> {
        self.pool.close().await;
        sqlx::Postgres::force_drop_database(&self.database_url).await?;
        Ok(())
    }
}

/// Settings as a function on `database_url` would read them, with a pool of `max_connections`.
pub fn settings(database_url: &str, max_connections: u32) -> anyhow::Result<shared::Settings> {
    Ok(shared::Settings::from_vars(&HashMap::from([
        ("DATABASE_URL".to_owned(), database_url.to_owned()),
        ("SECRET_KEY".to_owned(), SECRET_KEY.to_owned()),
        ("DB_MAX_CONNECTIONS".to_owned(), max_connections.to_string()),
    ]))?)
}

/// Inserts products `SKU-{from}` to `SKU-{to}` in one statement.
/// An access token for `owner` with a session of its own (access tokens die with their
/// session, so the bench's owner has one as after a sign-in).
pub async fn owner_token(
    pool: &sqlx::PgPool,
    keys: &shared::crypto::Keys,
    owner: uuid::Uuid,
    org: uuid::Uuid,
) -> anyhow::Result<String> {
    let (_, hash) = shared::auth::tokens::generate("rt");
    let family: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO refresh_tokens (user_id, org_id, family_id, token_hash, expires_at)
         VALUES ($1, $3, gen_random_uuid(), $2, now() + interval '7 days') RETURNING family_id",
    )
    .bind(owner)
    .bind(hash)
    .bind(org)
    .fetch_one(pool)
    .await?;
    let role = shared::auth::Role::Owner;
    let (owner, org, family) = (UserId(owner), OrgId(org), SessionId(family));
    let (token, _) = shared::auth::jwt::issue(keys, owner, org, role, family)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(token)
}

/// A new organization `name` of its own and its owner (`owner@<name>.example`); their ids.
pub async fn organization(
    conn: &mut sqlx::PgConnection,
    name: &str,
) -> anyhow::Result<(Uuid, Uuid)> {
    let org: Uuid = sqlx::query_scalar("INSERT INTO organizations (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(&mut *conn)
        .await?;
    let owner: Uuid = sqlx::query_scalar(
        "WITH person AS (
             INSERT INTO users (email, name) VALUES ($2, $3) RETURNING id)
         INSERT INTO memberships (org_id, user_id, role, joined_at)
         SELECT $1, id, 'owner', now() FROM person RETURNING user_id",
    )
    .bind(org)
    .bind(format!("owner@{}.example", name.to_lowercase()))
    .bind(format!("{name} Owner"))
    .fetch_one(&mut *conn)
    .await?;
    Ok((org, owner))
}

pub async fn seed_products(
    conn: &mut sqlx::PgConnection,
    org: Uuid,
    supplier: Option<Uuid>,
    from: i64,
    to: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO products (org_id, sku, name, price, currency, reorder_point, supplier_id)
         SELECT $1, 'SKU-' || n, 'Product ' || md5(n::text), (n % 10000) / 100.0 + 1, 'EUR', n % 50, $4
         FROM generate_series($2::bigint, $3::bigint) AS n",
    )
    .bind(org)
    .bind(from)
    .bind(to)
    .bind(supplier)
    .execute(&mut *conn)
    .await?;
    // Stock as a shop has it: every product on the shelf of the default location, every other
    // one in a second location too, some units held (lists answer each product's stock).
    sqlx::query(
        "WITH second AS (
             INSERT INTO locations (org_id, name) VALUES ($1, 'Back room')
             ON CONFLICT (org_id, lower(name)) DO UPDATE SET name = EXCLUDED.name RETURNING id)
         INSERT INTO stock_levels (org_id, product_id, location_id, on_hand, reserved)
         SELECT p.org_id, p.id, l.id, 20 + n % 80, n % 5
         FROM products p
         CROSS JOIN LATERAL (SELECT substr(p.sku, 5)::bigint AS n) k
         JOIN (SELECT id, true AS main FROM locations WHERE org_id = $1 AND is_default
               UNION ALL SELECT id, false FROM second) l ON l.main OR k.n % 2 = 0
         WHERE p.org_id = $1 AND k.n BETWEEN $2 AND $3
         ON CONFLICT DO NOTHING",
    )
    .bind(org)
    .bind(from)
    .bind(to)
    .execute(&mut *conn)
    .await?;
    sqlx::query("ANALYZE products").execute(&mut *conn).await?;
    sqlx::query("ANALYZE stock_levels")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A request with `token` to a function's router in this process; the JSON answer, or an
/// error naming the path and status when it is not a success.
pub async fn call(
    router: &axum::Router,
    token: &str,
    method: http::Method,
    path: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::from(body.to_string()))?;
    let response = tower::ServiceExt::oneshot(router.clone(), request).await?;
    let status = response.status();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await?
        .to_bytes();
    anyhow::ensure!(status.is_success(), "{path} answered {status}: {bytes:?}");
    Ok(serde_json::from_slice(&bytes)?)
}
