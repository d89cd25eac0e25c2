//! Database logins from secrets of RDS's shape: each `<prefix>DATABASE_SECRET_ID` becomes that
//! login's `<prefix>DATABASE_URL`.

use std::collections::HashMap;

use super::error::ConfigError;

/// The logins whose credentials may come from a secret of RDS's shape
/// (`{"username", "password", "host"?, "port"?, "dbname"?}`), named by `<prefix>DATABASE_SECRET_ID`:
/// the one `DATABASE_URL` falls back to, then each function's.
pub const LOGIN_PREFIXES: [&str; 5] = ["", "TENANT_", "AUTH_", "WORKER_", "MIGRATE_"];

pub(super) fn has_database_secrets(vars: &HashMap<String, String>) -> bool {
    LOGIN_PREFIXES.iter().any(|prefix| {
        vars.get(&format!("{prefix}DATABASE_SECRET_ID"))
            .is_some_and(|id| !id.trim().is_empty())
    })
}

/// Turns each `<prefix>DATABASE_SECRET_ID` into `<prefix>DATABASE_URL` (and keeps the login's
/// user and password as `<prefix>DATABASE_USER`/`_PASSWORD` for `migrate`, which gives the
/// roles those passwords). The host is the secret's, else `<prefix>DATABASE_HOST`, else
/// `DATABASE_HOST` (RDS Proxy's endpoint); the port and database likewise, 5432 and
/// `DATABASE_NAME` by default; `DATABASE_SSLMODE` (`require` by default) is the TLS mode.
pub(super) async fn database_logins(vars: &mut HashMap<String, String>) -> Result<(), ConfigError> {
    let wanted: Vec<(&str, String)> = LOGIN_PREFIXES
        .iter()
        .filter_map(|prefix| {
            let id = vars.get(&format!("{prefix}DATABASE_SECRET_ID"))?.trim();
            (!id.is_empty()).then(|| (*prefix, id.to_owned()))
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = wanted.iter().map(|(_, id)| id.as_str()).collect();
    let secrets = super::secrets::fetch_all(&ids).await?;
    for ((prefix, id), secret) in wanted.iter().zip(secrets) {
        let login = login_from_secret(prefix, id, &secret, vars)?;
        // A function given only its own login's secret falls back to that login.
        if vars.get("DATABASE_URL").is_none_or(|url| url.is_empty()) {
            vars.insert("DATABASE_URL".into(), login.url.clone());
        }
        vars.insert(format!("{prefix}DATABASE_URL"), login.url);
        vars.insert(format!("{prefix}DATABASE_USER"), login.user);
        vars.insert(format!("{prefix}DATABASE_PASSWORD"), login.password);
    }
    Ok(())
}

struct SecretLogin {
    url: String,
    user: String,
    password: String,
}

fn login_from_secret(
    prefix: &str,
    id: &str,
    secret: &HashMap<String, String>,
    vars: &HashMap<String, String>,
) -> Result<SecretLogin, ConfigError> {
    let field = |name: &str| {
        secret
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let setting = |name: &str| {
        vars.get(&format!("{prefix}{name}"))
            .or_else(|| vars.get(name))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let missing = |what: &str| ConfigError::Secret {
        id: id.to_owned(),
        reason: format!("a database secret needs {what}"),
    };
    let user = field("username").ok_or_else(|| missing("a username"))?;
    let password = field("password").ok_or_else(|| missing("a password"))?;
    let host = field("host")
        .or_else(|| setting("DATABASE_HOST"))
        .ok_or_else(|| missing("a host (or DATABASE_HOST)"))?;
    let port = field("port")
        .or_else(|| setting("DATABASE_PORT"))
        .unwrap_or("5432");
    let database = field("dbname")
        .or_else(|| setting("DATABASE_NAME"))
        .unwrap_or("stockroom");
    let sslmode = setting("DATABASE_SSLMODE").unwrap_or("require");
    Ok(SecretLogin {
        url: format!(
            "postgres://{}:{}@{host}:{port}/{}?sslmode={}",
            url_encode(user),
            url_encode(password),
            url_encode(database),
            url_encode(sslmode)
        ),
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_secret_of_rds_shape_becomes_a_url() {
        let secret: HashMap<String, String> =
            [("username", "stockroom_api"), ("password", "p@ss:w/rd%")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let vars: HashMap<String, String> = [
            ("DATABASE_HOST", "proxy.example"),
            ("MIGRATE_DATABASE_HOST", "cluster.example"),
            ("DATABASE_NAME", "shop"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let tenant = login_from_secret("TENANT_", "arn:tenant", &secret, &vars).unwrap();
        assert_eq!(
            tenant.url,
            "postgres://stockroom_api:p%40ss%3Aw%2Frd%25@proxy.example:5432/shop?sslmode=require"
        );
        let options: sqlx::postgres::PgConnectOptions = tenant.url.parse().unwrap();
        assert_eq!(options.get_username(), "stockroom_api");
        let migrate = login_from_secret("MIGRATE_", "arn:master", &secret, &vars).unwrap();
        assert!(
            migrate.url.contains("@cluster.example:5432/"),
            "{}",
            migrate.url
        );
        let mut without_password = secret.clone();
        without_password.remove("password");
        let err = login_from_secret("", "arn:x", &without_password, &vars)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("arn:x") && err.contains("password"), "{err}");
        let err = login_from_secret("", "arn:x", &secret, &HashMap::new())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("DATABASE_HOST") && !err.contains("p@ss"),
            "{err}"
        );
    }
}
