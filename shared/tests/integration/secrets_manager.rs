//! The settings secret, read from a real Secrets Manager API: a local moto server.
//!
//! A single test, because it sets process environment variables, which the AWS SDK reads
//! (region, credentials, endpoint), exactly as it does in Lambda, and loads the process's
//! settings once. nextest (`make test`) runs it in a process of its own; under `cargo test` it
//! shares the binary with `http_layers` and `cors_defaults`, whose tests read nothing from the
//! environment.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> (Moto, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server not found: `pip install 'moto[server]'` (make test does it)");
    let moto = Moto(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (moto, format!("http://127.0.0.1:{port}"))
}

#[tokio::test]
async fn settings_come_from_the_secret_once_per_cold_start() {
    let (_moto, endpoint) = start_moto();
    // SAFETY: nextest runs this test in a process of its own, and the binary's other tests
    // (`http_layers`, `cors_defaults`) never read the environment; nothing else reads it yet.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL_SECRETS_MANAGER", &endpoint);
        std::env::set_var("AWS_REGION", "eu-west-1");
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("SETTINGS_SECRET_ID", "stockroom/test/settings");
        std::env::set_var("DATABASE_URL", "postgres://from-env@localhost/env");
        std::env::set_var("DB_MAX_CONNECTIONS", "4");
        std::env::set_var("SECRET_KEY", "env-secret-key-0123456789abcdef0123456789");
    }

    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .load()
        .await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    client
        .create_secret()
        .name("stockroom/test/settings")
        .secret_string(r#"{"DATABASE_URL":"postgres://from-secret@db/stockroom","DB_ACQUIRE_TIMEOUT_MS":1500}"#)
        .send()
        .await
        .expect("create the secret in moto");

    let settings = shared::config::settings().await.expect("settings load");
    assert_eq!(
        settings.database_url.expose_secret(),
        "postgres://from-secret@db/stockroom"
    );
    assert_eq!(settings.db.acquire_timeout, Duration::from_millis(1500));
    // Keys the secret does not hold still come from the environment.
    assert_eq!(settings.db.max_connections, 4);

    // The settings are read once per cold start; only the keys and the database credentials
    // are read again while warm (`key_rotation` in the end-to-end tests, tests/tests/e2e/).
    client
        .put_secret_value()
        .secret_id("stockroom/test/settings")
        .secret_string(r#"{"DATABASE_URL":"postgres://rotated@db/stockroom"}"#)
        .send()
        .await
        .unwrap();
    let again = shared::config::settings().await.unwrap();
    assert!(std::ptr::eq(settings, again));
    assert_eq!(
        again.database_url.expose_secret(),
        "postgres://from-secret@db/stockroom"
    );

    // A fresh load (what the next cold start does) sees the rotated value.
    let fresh = shared::Settings::load(std::env::vars().collect())
        .await
        .unwrap();
    assert_eq!(
        fresh.database_url.expose_secret(),
        "postgres://rotated@db/stockroom"
    );

    // Several secrets, comma-separated, each laid over the ones before it: generated keys, the
    // database credentials, then what an operator added by hand.
    client
        .create_secret()
        .name("stockroom/test/keys")
        .secret_string(r#"{"SECRET_KEY":"keys-secret-key-0123456789abcdef0123456789"}"#)
        .send()
        .await
        .unwrap();
    client
        .create_secret()
        .name("stockroom/test/hand")
        .secret_string(r#"{"MAIL_FROM":"Shop <shop@example.com>"}"#)
        .send()
        .await
        .unwrap();
    let mut vars: std::collections::HashMap<String, String> = std::env::vars().collect();
    vars.insert(
        "SETTINGS_SECRET_ID".into(),
        "stockroom/test/keys, stockroom/test/settings,stockroom/test/hand".into(),
    );
    let layered = shared::Settings::load(vars).await.unwrap();
    assert_eq!(
        layered.database_url.expose_secret(),
        "postgres://rotated@db/stockroom"
    );
    assert_eq!(layered.email.from, "Shop <shop@example.com>");
    let from_env = shared::Settings::load(std::env::vars().collect())
        .await
        .unwrap();
    assert_ne!(
        layered.keys.snapshot().signing_key().1,
        from_env.keys.snapshot().signing_key().1,
        "SECRET_KEY came from the keys secret"
    );

    // A secret that does not exist stops the cold start with an error naming it.
    let mut vars: std::collections::HashMap<String, String> = std::env::vars().collect();
    vars.insert("SETTINGS_SECRET_ID".into(), "stockroom/test/missing".into());
    let error = shared::Settings::load(vars).await.unwrap_err();
    assert!(
        error.to_string().contains("stockroom/test/missing"),
        "{error}"
    );
}
