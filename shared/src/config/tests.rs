//! The settings as each variable sets them.

use super::*;
use http::HeaderValue;
use secrecy::ExposeSecret;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    map.entry("SECRET_KEY".into()).or_insert_with(|| KEY.into());
    map
}

#[test]
fn defaults_apply_when_only_the_database_url_is_set() {
    let s = Settings::from_vars(&vars(&[("DATABASE_URL", "postgres://x/y")])).unwrap();
    assert_eq!(s.database_url.expose_secret(), "postgres://x/y");
    assert_eq!(s.db.max_connections, 1);
    assert_eq!(
        s.http.cors_origins,
        [
            "http://localhost:3000",
            "http://127.0.0.1:3000",
            "http://localhost:5173",
            "http://127.0.0.1:5173"
        ]
        .map(HeaderValue::from_static)
    );
    assert_eq!(s.http.max_body_bytes, 1024 * 1024);
    assert_eq!(s.refresh_reuse_grace, Duration::from_secs(10));
}

#[test]
fn missing_database_url_is_reported_by_name() {
    let err = Settings::from_vars(&vars(&[])).unwrap_err();
    assert_eq!(err.to_string(), "setting DATABASE_URL is required");
}

#[test]
fn invalid_numbers_name_the_setting() {
    let err = Settings::from_vars(&vars(&[
        ("DATABASE_URL", "x"),
        ("DB_MAX_CONNECTIONS", "two"),
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("DB_MAX_CONNECTIONS"), "{err}");
    let err = Settings::from_vars(&vars(&[
        ("DATABASE_URL", "x"),
        ("REFRESH_REUSE_GRACE_SECONDS", "-1"),
    ]))
    .unwrap_err();
    assert!(
        err.to_string().contains("REFRESH_REUSE_GRACE_SECONDS"),
        "{err}"
    );
}

#[test]
fn cors_origins_are_a_comma_separated_list() {
    let s = Settings::from_vars(&vars(&[
        ("DATABASE_URL", "x"),
        (
            "CORS_ALLOWED_ORIGINS",
            "https://a.example, https://b.example",
        ),
    ]))
    .unwrap();
    assert_eq!(s.http.cors_origins.len(), 2);
    assert_eq!(s.http.cors_origins[1], "https://b.example");
}

#[test]
fn a_short_secret_key_is_refused() {
    let err =
        Settings::from_vars(&vars(&[("DATABASE_URL", "x"), ("SECRET_KEY", "short")])).unwrap_err();
    assert!(err.to_string().contains("SECRET_KEY"), "{err}");
}

const T: &str = "token-key-secret-0123456789abcdef-0123456789";
const D: &str = "data-key-secret-0123456789abcdef-01234567890";

#[test]
fn key_rings_are_read_newest_first_with_secret_key_as_k0() {
    let s = Settings::from_vars(&vars(&[
        ("DATABASE_URL", "x"),
        ("TOKEN_KEYS", &format!("t2:{T}")),
        ("DATA_KEYS", &format!(" d2:{D} , d1:{T}")),
        ("TOKEN_KEYS_ROTATED_AT", "2026-11-30T10:00:00Z"),
    ]))
    .unwrap();
    let keys = s.keys.snapshot();
    assert_eq!(keys.signing_key().0, "t2");
    let shown = format!("{keys:?}");
    assert!(
        shown.contains("t2,k0") && shown.contains("d2,d1,k0"),
        "{shown}"
    );
    assert!(!shown.contains(T) && !format!("{s:?}").contains(D));
    // Older token keys verify for a token's lifetime, the refresh interval and a minute.
    let rotated = 1_796_032_800; // 2026-11-30T10:00:00Z
    assert_eq!(
        keys.retired_token_keys_verify_until(),
        rotated + 900 + 300 + 60
    );
    let unix = Settings::from_vars(&vars(&[
        ("DATABASE_URL", "x"),
        ("TOKEN_KEYS_ROTATED_AT", "1796032800"),
    ]))
    .unwrap();
    assert_eq!(
        unix.keys.snapshot().retired_token_keys_verify_until(),
        rotated + 1260
    );
}

#[test]
fn malformed_key_rings_name_the_setting_and_never_the_secret() {
    for (name, value) in [
        ("TOKEN_KEYS", T.to_string()),
        ("TOKEN_KEYS", format!(":{T}")),
        ("DATA_KEYS", format!("d 1:{T}")),
        ("DATA_KEYS", format!("{}:{T}", "x".repeat(33))),
        ("DATA_KEYS", "d1:short-secret".to_owned()),
        ("TOKEN_KEYS", format!("t1:{T},t1:{D}")),
        ("TOKEN_KEYS_ROTATED_AT", "yesterday".to_owned()),
    ] {
        let err = Settings::from_vars(&vars(&[("DATABASE_URL", "x"), (name, &value)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(name), "{err}");
        assert!(!err.contains(T) && !err.contains("short-secret"), "{err}");
    }
    let mut none = vars(&[("DATABASE_URL", "x")]);
    none.remove("SECRET_KEY");
    let err = Settings::from_vars(&none).unwrap_err().to_string();
    assert!(
        err.contains("SECRET_KEY") && err.contains("TOKEN_KEYS"),
        "{err}"
    );
    none.insert("TOKEN_KEYS".into(), format!("t1:{T}"));
    let err = Settings::from_vars(&none).unwrap_err().to_string();
    assert!(err.contains("DATA_KEYS"), "{err}");
}

#[test]
fn wise_defaults_to_the_sandbox_and_stays_unconfigured() {
    let s = Settings::from_vars(&vars(&[("DATABASE_URL", "x")])).unwrap();
    assert_eq!(s.wise.api_url, WISE_SANDBOX_URL);
    assert!(s.wise.webhook_public_key.is_none());
}

#[test]
fn wise_settings_are_parsed() {
    let s = Settings::from_vars(&vars(&[
        ("DATABASE_URL", "x"),
        ("WISE_API_URL", "https://api.wise.com/"),
        (
            "WISE_WEBHOOK_PUBLIC_KEY",
            "-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----",
        ),
    ]))
    .unwrap();
    assert_eq!(s.wise.api_url, "https://api.wise.com");
    assert_eq!(
        s.wise.webhook_public_key.as_deref(),
        Some("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
    );
}

#[test]
fn invalid_wise_settings_name_the_setting() {
    let err = Settings::from_vars(&vars(&[
        ("DATABASE_URL", "x"),
        ("WISE_API_URL", "api.wise.com"),
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("WISE_API_URL"), "{err}");
}

#[test]
fn debug_output_never_shows_the_database_url() {
    let s = Settings::from_vars(&vars(&[("DATABASE_URL", "postgres://u:hunter2@h/d")])).unwrap();
    assert!(!format!("{s:?}").contains("hunter2"));
}
