//! Every function answers API Gateway's REST API (v1) events as it answers HTTP API ones.

use super::*;

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
