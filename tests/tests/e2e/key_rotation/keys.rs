//! Token and data keys rotated over live data: nothing becomes unreadable, and warm functions
//! read the keys again.

use super::*;

async fn secret_object(client: &aws_sdk_secretsmanager::Client) -> HashMap<String, String> {
    let text = client
        .get_secret_value()
        .secret_id(SECRET)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap()
        .secret_string()
        .unwrap()
        .to_owned();
    shared::config::secrets::parse_object(&text).unwrap()
}

/// Settings of a cold start: the keys from the secret, read again when something is unknown.
async fn cold_settings() -> shared::Settings {
    shared::Settings::load(HashMap::from([
        (
            "DATABASE_URL".into(),
            "postgres://unused@localhost/unused".into(),
        ),
        ("SETTINGS_SECRET_ID".into(), SECRET.into()),
        ("SETTINGS_REFRESH_SECONDS".into(), "0".into()),
    ]))
    .await
    .unwrap()
}

async fn sealed_by(pool: &PgPool) -> (String, String) {
    let (mfa, details): (Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT (SELECT mfa_secret FROM users WHERE mfa_secret IS NOT NULL),
                (SELECT payment_details FROM suppliers WHERE payment_details IS NOT NULL)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    (
        Keys::sealed_by(&mfa).unwrap().to_owned(),
        Keys::sealed_by(&details).unwrap().to_owned(),
    )
}

/// A suppliers function with `settings`, as a fresh cold start would have them.
fn suppliers_on(pool: &PgPool, settings: shared::Settings) -> TestApp {
    TestApp::new(
        suppliers::app(shared::testing::state_from(
            pool.clone(),
            Login::Tenant,
            settings,
        )),
        pool.clone(),
    )
}

fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn keys_rotate_over_live_data_without_anything_becoming_unreadable(pool: PgPool) {
    let _environment = ENVIRONMENT.lock().await;
    let moto = Moto::start();
    moto.use_from_this_process();
    let client = shared::config::secrets::client().await;
    // A deployment from before rotation: one generated SECRET_KEY.
    client
        .create_secret()
        .name(SECRET)
        .secret_string(json!({ "SECRET_KEY": FIRST_KEY }).to_string())
        .send()
        .await
        .unwrap();

    // Warm functions, started before the rotation.
    let auth = TestApp::new(
        auth::app(shared::testing::state_from(
            pool.clone(),
            Login::Auth,
            cold_settings().await,
        )),
        pool.clone(),
    );
    let suppliers_state =
        shared::testing::state_from(pool.clone(), Login::Tenant, cold_settings().await);
    let suppliers = TestApp::new(suppliers::app(suppliers_state.clone()), pool.clone());
    let other_suppliers = suppliers_on(&pool, cold_settings().await);

    // Live data: a signed-in session, MFA on, a supplier with bank details.
    let asked = auth
        .post(
            "/api/auth/register",
            json!({"organization_name": "Shop", "name": "Ann", "email": "ann@example.com",
                   "password": "Corr3ct-horse"}),
        )
        .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.body);
    let keys = cold_settings().await.keys.snapshot();
    let link = shared::testing::mailed_token_with(
        &pool,
        "ann@example.com",
        "/confirm-registration",
        &keys,
    )
    .await;
    let registered = auth
        .post("/api/auth/register/confirm", json!({ "token": link }))
        .await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.body);
    let old_access = registered.body["access_token"].as_str().unwrap().to_owned();
    let old_refresh = registered.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let user_id: Uuid = registered.body["user"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(kid_of(&old_access), "k0");
    let step_up = auth.step_up(&old_access, "POST /api/auth/mfa/setup").await;
    let setup = auth
        .by(&old_access)
        .header("x-step-up-token", step_up.as_str())
        .post("/api/auth/mfa/setup", json!({}))
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let totp = setup.body["secret"].as_str().unwrap().to_owned();
    let verified = auth
        .by(&old_access)
        .post("/api/auth/mfa/verify", json!({"code": totp_code(&totp, 0)}))
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    // The supplier's bank details need a step-up of their own (as the step-up route signs it;
    // with MFA on it takes a code, which the sign-in below needs).
    let keys = cold_settings().await.keys.snapshot();
    let step_up = shared::testing::step_up_token_with(&keys, &old_access, "POST /api/suppliers");
    let supplier = suppliers
        .by(&old_access)
        .header("x-step-up-token", step_up.as_str())
        .post(
            "/api/suppliers",
            json!({"name": "Acme", "payment_details": {"account_holder_name": "Acme GmbH",
                   "currency": "EUR", "type": "iban",
                   "details": {"iban": "DE89 3704 0044 0532 0130 00"}}}),
        )
        .await;
    assert_eq!(supplier.status, StatusCode::CREATED, "{}", supplier.body);
    let supplier_id: Uuid = supplier.body["id"].as_str().unwrap().parse().unwrap();
    // A Wise recipient made for these details is found by their sealed value's digest.
    sqlx::query(
        "INSERT INTO wise_recipients (org_id, supplier_id, wise_profile_id, details_digest, wise_recipient_id)
         SELECT org_id, id, 7, sha256(payment_details), 99 FROM suppliers",
    )
    .execute(&pool)
    .await
    .unwrap();
    // And a payment approval given for them, which binds their sealed value's digest.
    sqlx::query(
        "WITH o AS (INSERT INTO purchase_orders (org_id, supplier_id, currency)
                    SELECT org_id, id, 'EUR' FROM suppliers RETURNING org_id, id)
         INSERT INTO payment_approvals (org_id, purchase_order_id, amount, currency,
                                        source_currency, reasons, requested_by, payee_digest)
         SELECT o.org_id, o.id, 10, 'EUR', 'EUR', '{payee_changed}', $1,
                (SELECT sha256(payment_details) FROM suppliers)
         FROM o",
    )
    .bind(user_id)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(sealed_by(&pool).await, ("k0".into(), "k0".into()));

    // The first rotation: new keys at the head of both rings, SECRET_KEY kept as k0 behind them,
    // and the sealed data moved to the new data key.
    let outcomes = rotate(&client, &pool, "11111111-1111-4111-8111-111111111111").await;
    assert_eq!(outcomes[3]["resealed"]["mfa_secrets"], 1, "{outcomes:?}");
    assert_eq!(
        outcomes[3]["resealed"]["payment_details"], 1,
        "{outcomes:?}"
    );
    let first = secret_object(&client).await;
    assert!(!first.contains_key("SECRET_KEY"), "{:?}", first.keys());
    let token_ids: Vec<&str> = first["TOKEN_KEYS"]
        .split(',')
        .map(|e| e.split(':').next().unwrap())
        .collect();
    let data_ids: Vec<&str> = first["DATA_KEYS"]
        .split(',')
        .map(|e| e.split(':').next().unwrap())
        .collect();
    assert_eq!((token_ids.len(), token_ids[1]), (2, "k0"));
    assert_eq!((data_ids.len(), data_ids[1]), (2, "k0"));
    let (new_token_key, new_data_key) = (token_ids[0].to_owned(), data_ids[0].to_owned());
    assert_eq!(
        sealed_by(&pool).await,
        (new_data_key.clone(), new_data_key.clone())
    );
    let recipients: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM wise_recipients r JOIN suppliers s ON s.id = r.supplier_id
         WHERE r.details_digest = sha256(s.payment_details)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(recipients, 1, "the recipient follows its re-sealed details");
    let approvals: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM payment_approvals a JOIN purchase_orders o ON o.id = a.purchase_order_id
         JOIN suppliers s ON s.id = o.supplier_id
         WHERE a.payee_digest = sha256(s.payment_details)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(approvals, 1, "the approval follows its re-sealed details");

    // The warm functions still hold only k0 ...
    assert_eq!(
        suppliers_state.settings.keys.snapshot().signing_key().0,
        "k0"
    );
    // ... and read the new keys the moment they meet them: a supplier's details sealed by the
    // new key open on the warm suppliers function.
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT payment_details FROM suppliers")
        .fetch_one(&pool)
        .await
        .unwrap();
    let opened = shared::payment_details::PaymentDetails::open(
        &suppliers_state.settings.keys,
        supplier_id,
        &sealed,
    )
    .await
    .unwrap();
    assert_eq!(opened.details["iban"], "DE89370400440532013000");
    assert_eq!(
        suppliers_state.settings.keys.snapshot().signing_key().0,
        new_token_key
    );

    // The session signed in before the rotation goes on: its access token (k0) verifies during
    // the window, on warm and cold functions alike, and its refresh token rotates.
    let me = auth.by(&old_access).get("/api/auth/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let cold = suppliers_on(&pool, cold_settings().await);
    assert_eq!(
        cold.by(&old_access).get("/api/suppliers").await.status,
        StatusCode::OK
    );
    let refreshed = auth
        .post("/api/auth/refresh", json!({"refresh_token": old_refresh}))
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);

    // MFA sign-in on the warm auth function: the TOTP secret, re-sealed, still opens.
    let login = auth
        .post(
            "/api/auth/login",
            json!({"email": "ann@example.com", "password": "Corr3ct-horse"}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let mfa_token = login.body["mfa_token"].as_str().unwrap().to_owned();
    let signed_in = auth
        .post(
            "/api/auth/login/mfa",
            json!({"mfa_token": mfa_token, "code": totp_code(&totp, 30)}),
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let new_access = signed_in.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(kid_of(&new_access), new_token_key);
    // A warm function that has not read the new keys yet accepts a token signed by the new key.
    let listed = other_suppliers.by(&new_access).get("/api/suppliers").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);

    // When the window has ended, a token signed by the retired key is refused (401), while
    // tokens signed by the newest key are not.
    let mut ended = first.clone();
    ended.insert(
        "TOKEN_KEYS_ROTATED_AT".into(),
        (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339(),
    );
    ended.insert(
        "DATABASE_URL".into(),
        "postgres://unused@localhost/unused".into(),
    );
    let after_window = suppliers_on(&pool, shared::Settings::from_vars(&ended).unwrap());
    // Signed now by k0, as a function that never read the rotation would, for a live session.
    let live_session = claims_of(&new_access)["sid"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let stale = shared::auth::jwt::issue(
        &Keys::derive(&secrecy::SecretString::from(FIRST_KEY.to_owned())),
        shared::domain::UserId(user_id),
        registered.body["organization"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
        shared::auth::Role::Owner,
        live_session,
    )
    .unwrap()
    .0;
    assert_eq!(
        other_suppliers
            .by(&stale)
            .get("/api/suppliers")
            .await
            .status,
        StatusCode::OK
    );
    let refused = after_window.by(&stale).get("/api/suppliers").await;
    shared::testing::assert_problem(&refused, StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(
        after_window
            .by(&new_access)
            .get("/api/suppliers")
            .await
            .status,
        StatusCode::OK
    );

    // A repeated createSecret (Secrets Manager retries) writes nothing new.
    let again = step(
        &client,
        &pool,
        "createSecret",
        "11111111-1111-4111-8111-111111111111",
    )
    .await
    .unwrap();
    assert_eq!(again["created"], false);

    // The second rotation drops k0: nothing is sealed with it any more.
    rotate(&client, &pool, "22222222-2222-4222-8222-222222222222").await;
    let second = secret_object(&client).await;
    assert!(!second["TOKEN_KEYS"].contains("k0:") && !second["DATA_KEYS"].contains("k0:"));
    assert!(second["DATA_KEYS"].contains(&format!("{new_data_key}:")));
    let fresh = cold_settings().await;
    let (mfa, details): (Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT (SELECT mfa_secret FROM users), (SELECT payment_details FROM suppliers)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let secret_bytes = fresh.keys.open(&mfa, user_id.as_bytes()).await.unwrap();
    assert_eq!(
        base32::encode(base32::Alphabet::Rfc4648 { padding: false }, &secret_bytes),
        totp.trim_end_matches('=')
    );
    shared::payment_details::PaymentDetails::open(&fresh.keys, supplier_id, &details)
        .await
        .unwrap();
    // k0 is gone: its tokens are unknown everywhere now.
    let cold = suppliers_on(&pool, fresh);
    let gone = cold.by(&old_access).get("/api/suppliers").await;
    shared::testing::assert_problem(&gone, StatusCode::UNAUTHORIZED, "invalid_token");

    // A malformed pending version fails testSecret with the reason, and is never made current.
    client
        .put_secret_value()
        .secret_id(SECRET)
        .client_request_token("33333333-3333-4333-8333-333333333333")
        .secret_string(json!({"TOKEN_KEYS": "no-id-here", "DATA_KEYS": ":x"}).to_string())
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    let error = step(
        &client,
        &pool,
        "testSecret",
        "33333333-3333-4333-8333-333333333333",
    )
    .await
    .unwrap_err();
    let error = format!("{error:#}");
    assert!(
        error.contains("TOKEN_KEYS") && !error.contains("no-id-here"),
        "{error}"
    );
    assert_eq!(secret_object(&client).await, second);
}

/// A warm function reads its secrets again every SETTINGS_REFRESH_SECONDS on its own, and not
/// sooner.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn warm_functions_read_the_keys_again_when_the_refresh_interval_passed(_pool: PgPool) {
    let _environment = ENVIRONMENT.lock().await;
    let moto = Moto::start();
    moto.use_from_this_process();
    let client = shared::config::secrets::client().await;
    let secret = json!({ "SECRET_KEY": FIRST_KEY }).to_string();
    client
        .create_secret()
        .name(SECRET)
        .secret_string(secret)
        .send()
        .await
        .unwrap();
    let settings = shared::Settings::load(HashMap::from([
        (
            "DATABASE_URL".into(),
            "postgres://unused@localhost/unused".into(),
        ),
        ("SETTINGS_SECRET_ID".into(), SECRET.into()),
        ("SETTINGS_REFRESH_SECONDS".into(), "1".into()),
    ]))
    .await
    .unwrap();
    let rotated = json!({
        "TOKEN_KEYS": format!("t1:{}", "n".repeat(40)),
        "DATA_KEYS": format!("d1:{}", "m".repeat(40)),
    });
    client
        .put_secret_value()
        .secret_id(SECRET)
        .secret_string(rotated.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        settings.keys.current().await.signing_key().0,
        "k0",
        "not due yet"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    assert_eq!(settings.keys.current().await.signing_key().0, "t1");
}
