//! The state a function is tested with: settings, its database login, the transaction pooler.

use std::collections::HashMap;

use sqlx::PgPool;

use crate::config::Settings;
use crate::db::Login;
use crate::state::AppState;

/// Settings with defaults and `overrides`; the database URL is unused (tests hand in a pool).
pub fn settings(overrides: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = HashMap::from([
        (
            "DATABASE_URL".into(),
            "postgres://unused@localhost/unused".into(),
        ),
        (
            "SECRET_KEY".into(),
            "test-secret-key-0123456789abcdef0123456789".into(),
        ),
    ]);
    vars.extend(
        overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    Settings::from_vars(&vars).expect("test settings are valid")
}

/// State around a test database pool (from `#[sqlx::test]`).
pub fn state(pool: PgPool) -> AppState {
    state_with(pool, &[])
}

/// State around a test database pool with setting overrides (`SMTP_URL`, ...).
///
/// The functions get a pool of their own on the test's database, sized and timed as in
/// production (`DB_MAX_CONNECTIONS`, `DB_ACQUIRE_TIMEOUT_MS`): a handler that needed a second
/// connection while holding one would wait out the acquire timeout and fail its test with 503.
///
/// With `POOLER_TEST_URL` set (the pooler pass of `make test`), those connections go through
/// the transaction pooler it names, as the functions' do behind RDS Proxy.
pub fn state_with(pool: PgPool, overrides: &[(&str, &str)]) -> AppState {
    let settings = settings(overrides);
    let mut options = pool.connect_options().as_ref().clone();
    if let Some((host, port)) = pooler() {
        options = options.host(&host).port(port);
    }
    let own = crate::db::pool_with(options, &settings);
    AppState::new(settings, own).expect("test settings are valid")
}

/// [`state_with`] logged in as `login`'s role, as that function is deployed (its URL setting):
/// a query the role has no grant or policy for fails here as it would in AWS.
pub fn state_as(pool: PgPool, login: Login, overrides: &[(&str, &str)]) -> AppState {
    state_from(pool, login, settings(overrides))
}

/// [`state_as`] with `settings` made by the test (from Secrets Manager, say).
pub fn state_from(pool: PgPool, login: Login, settings: Settings) -> AppState {
    let mut options = pool
        .connect_options()
        .as_ref()
        .clone()
        .username(login.role());
    if let Some((host, port)) = pooler() {
        options = options.host(&host).port(port);
    }
    allow_login(&pool, login);
    let own = crate::db::pool_with(options, &settings);
    AppState::new(settings, own).expect("test settings are valid")
}

/// Lets `login`'s role log in (cluster-wide, once per test process), as an operator does once
/// with a password; the local servers trust it. The roles are made NOLOGIN by the migrations.
///
/// The test is async but this is called from synchronous set-up, so the statement runs on a
/// connection of its own, in a runtime of its own, on a thread of its own.
fn allow_login(pool: &PgPool, login: Login) {
    static DONE: std::sync::Mutex<Vec<Login>> = std::sync::Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if done.contains(&login) {
        return;
    }
    let options = pool.connect_options().as_ref().clone();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async {
                    use sqlx::Connection;
                    let mut conn = sqlx::PgConnection::connect_with(&options)
                        .await
                        .expect("the test database answers");
                    // Parallel test processes may race; PostgreSQL refuses two updates of one
                    // role row at once ("tuple concurrently updated"), so retry.
                    for attempt in 0.. {
                        let can: bool = sqlx::query_scalar(
                            "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1",
                        )
                        .bind(login.role())
                        .fetch_one(&mut conn)
                        .await
                        .expect("the migrations made the role");
                        if can {
                            break;
                        }
                        let alter = format!("ALTER ROLE {} LOGIN", login.role());
                        match sqlx::query(&alter).execute(&mut conn).await {
                            Ok(_) => break,
                            Err(error) if attempt < 20 => {
                                tracing::debug!(%error, "retrying {alter}");
                                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                            }
                            Err(error) => panic!("{alter}: {error}"),
                        }
                    }
                });
            })
            .join()
            .expect("ALTER ROLE ... LOGIN");
    });
    done.push(login);
}

/// The transaction pooler the functions' connections go through in this test run, if any:
/// `POOLER_TEST_URL` (`postgres://user@host:port`), which serves every database of the test
/// server.
pub fn pooler() -> Option<(String, u16)> {
    let url = url::Url::parse(&std::env::var("POOLER_TEST_URL").ok()?).ok()?;
    Some((url.host_str()?.to_owned(), url.port().unwrap_or(5432)))
}

/// The URL of the database behind a `#[sqlx::test]` pool: `DATABASE_URL` with the test
/// database's name, for code under test that connects by itself (through the test run's
/// [`pooler`], if any).
pub fn database_url(pool: &PgPool) -> url::Url {
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL").expect("DATABASE_URL is set"))
        .expect("DATABASE_URL is a URL");
    if let Some((host, port)) = pooler() {
        url.set_host(Some(&host)).expect("a host");
        url.set_port(Some(port)).expect("a port");
    }
    url.set_path(
        pool.connect_options()
            .get_database()
            .expect("test database has a name"),
    );
    url
}

/// [`database_url`] logged in as `login`'s role (see [`state_as`]), for code under test that
/// connects by itself.
pub async fn login_url(pool: &PgPool, login: Login) -> url::Url {
    let owner = pool.clone();
    tokio::task::spawn_blocking(move || allow_login(&owner, login))
        .await
        .expect("ALTER ROLE ... LOGIN");
    let mut url = database_url(pool);
    url.set_username(login.role()).expect("a username");
    url.set_password(None).expect("no password");
    url
}
