//! The dashboard: the summary and the exports.
//!
//! Routes: `GET /api/dashboard/summary`, `GET /api/dashboard/export/{file}`.

use http::StatusCode;
use serde_json::json;
use shared::testing::{TestApp, assert_problem};
use sqlx::PgPool;
use uuid::Uuid;

fn app(pool: PgPool) -> TestApp {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Tenant, &[]);
    TestApp::new(dashboard::app(state), pool)
}

/// An organization with two products (one low on stock), a movement, an open PO and a task.
async fn seeded(app: &TestApp) -> (Uuid, Uuid, String) {
    let owner = app.register("ann@example.com").await;
    let org: Uuid = owner.org_id.parse().unwrap();
    let user: Uuid = owner.user_id.parse().unwrap();
    let token = owner.token;
    let supplier: Uuid =
        sqlx::query_scalar("INSERT INTO suppliers (org_id, name) VALUES ($1, 'Acme') RETURNING id")
            .bind(org)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    for (sku, name, reorder, stock) in [
        ("B-1", "Bolt", 10, 3),
        ("N-1", "=HYPERLINK(\"http://evil\")", 0, 8),
    ] {
        let p: Uuid = sqlx::query_scalar("INSERT INTO products (org_id, sku, name, price, currency, reorder_point, supplier_id) VALUES ($1, $2, $3, 1.50, 'EUR', $4, $5) RETURNING id")
            .bind(org).bind(sku).bind(name).bind(reorder).bind(supplier).fetch_one(&app.pool).await.unwrap();
        sqlx::query("INSERT INTO stock_levels (org_id, product_id, location_id, on_hand) SELECT $1, $2, id, $3 FROM locations WHERE org_id = $1")
            .bind(org).bind(p).bind(stock).execute(&app.pool).await.unwrap();
        sqlx::query("INSERT INTO stock_movements (org_id, product_id, location_id, kind, quantity, reason) SELECT $1, $2, id, 'receive', $3, 'opening' FROM locations WHERE org_id = $1")
            .bind(org).bind(p).bind(stock).execute(&app.pool).await.unwrap();
    }
    sqlx::query("INSERT INTO purchase_orders (org_id, supplier_id, currency, status) VALUES ($1, $2, 'EUR', 'submitted')").bind(org).bind(supplier).execute(&app.pool).await.unwrap();
    sqlx::query("INSERT INTO tasks (org_id, user_id, title) VALUES ($1, $2, 'Reorder bolts')")
        .bind(org)
        .bind(user)
        .execute(&app.pool)
        .await
        .unwrap();
    (org, user, token)
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_summary_counts_what_needs_attention(pool: PgPool) {
    let app = app(pool);
    let (_, _, token) = seeded(&app).await;
    let r = app.by(&token).get("/api/dashboard/summary").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["products"], 2);
    assert_eq!(r.body["low_stock"], 1);
    assert_eq!(r.body["open_purchase_orders"], 1);
    assert_eq!(r.body["active_reservations"], 0);
    assert_eq!(r.body["my_open_tasks"], 1);
    assert_eq!(r.body["recent_activity"][0]["action"], "register");
    let at = r.body["recent_activity"][0]["created_at"].as_str().unwrap();
    assert!(at.ends_with('Z'), "times end in Z as everywhere else: {at}");
    assert!(at.parse::<chrono::DateTime<chrono::Utc>>().is_ok(), "{at}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn csv_exports_are_named_typed_and_safe_in_a_spreadsheet(pool: PgPool) {
    let app = app(pool);
    let (_, _, token) = seeded(&app).await;
    let r = app
        .by(&token)
        .get("/api/dashboard/export/products.csv")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"products-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let text = String::from_utf8(r.bytes.to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("sku,name,price,currency"));
    assert!(lines[1].starts_with("B-1,Bolt,1.50,EUR"), "{}", lines[1]);
    assert!(
        lines[2].contains("\"'=HYPERLINK"),
        "formulas are neutralised: {}",
        lines[2]
    );
    let stock = app.by(&token).get("/api/dashboard/export/stock.csv").await;
    assert!(
        String::from_utf8(stock.bytes.to_vec())
            .unwrap()
            .contains("B-1,Bolt,Main,3,0,3")
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn csv_times_are_rfc_3339_in_utc_ending_in_z(pool: PgPool) {
    let app = app(pool);
    let (_, _, token) = seeded(&app).await;
    // `products.csv` ends with `created_at`; `movements.csv` has it second.
    for (file, column) in [("products.csv", None), ("movements.csv", Some(1))] {
        let r = app
            .by(&token)
            .get(&format!("/api/dashboard/export/{file}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{file}");
        let text = String::from_utf8(r.bytes.to_vec()).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let column = column.unwrap_or(header.len() - 1);
        assert_eq!(header[column], "created_at", "{file}");
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 2, "{file}: {text}");
        for row in rows {
            let at = match column {
                1 => row.split(',').nth(1),
                _ => row.rsplit(',').next(),
            }
            .unwrap();
            assert!(at.ends_with('Z'), "{file}: times end in Z: {row}");
            assert!(
                chrono::DateTime::parse_from_rfc3339(at).is_ok(),
                "{file}: RFC 3339: {at}"
            );
        }
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn xlsx_exports_open_in_openpyxl(pool: PgPool) {
    let app = app(pool);
    let (_, _, token) = seeded(&app).await;
    for kind in ["products", "stock", "movements"] {
        let r = app
            .by(&token)
            .get(&format!("/api/dashboard/export/{kind}.xlsx"))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.headers["content-type"],
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        let path = std::env::temp_dir().join(format!("stockroom-{kind}-{}.xlsx", Uuid::new_v4()));
        std::fs::write(&path, &r.bytes).unwrap();
        let output = std::process::Command::new("python3")
            .args(["-c", "import sys, openpyxl; ws = openpyxl.load_workbook(sys.argv[1]).active; print(ws.title, ws.max_row, ws.cell(1, 1).value, ws.cell(2, 1).value, ' '.join(type(c.value).__name__ for c in ws[2]))"])
            .arg(&path)
            .output()
            .expect("python3 with openpyxl (make test installs it)");
        std::fs::remove_file(&path).ok();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let seen = String::from_utf8(output.stdout).unwrap();
        // Cells keep their types: money and quantities are numbers, times are date-times.
        let expected = match kind {
            "products" => {
                "products 3 sku B-1 str str float str NoneType str NoneType int bool str bool datetime"
            }
            "stock" => "stock 3 sku B-1 str str str int int int",
            _ => "movements 3 id 1 int datetime str str str int str NoneType NoneType",
        };
        assert_eq!(seen.trim(), expected);
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_unknown_export_is_404_and_reports_need_permission(pool: PgPool) {
    let app = app(pool);
    let (org, _, token) = seeded(&app).await;
    for file in ["orders.csv", "products.pdf", "products"] {
        let response = app
            .by(&token)
            .get(&format!("/api/dashboard/export/{file}"))
            .await;
        assert_problem(&response, StatusCode::NOT_FOUND, "unknown_export");
        // The answer names the files there are, for a form or a developer to pick from.
        assert_eq!(response.body["errors"][0]["field"], "file");
        let message = response.body["errors"][0]["message"].as_str().unwrap();
        for name in ["products.csv", "stock.xlsx", "movements.csv"] {
            assert!(message.contains(name), "{message}");
        }
    }
    let clerk = app
        .member(
            &org.to_string(),
            "clerk@example.com",
            json!({"tasks": "write"}),
        )
        .await;
    let clerk = clerk.token.as_str();
    assert_problem(
        &app.by(clerk).get("/api/dashboard/summary").await,
        StatusCode::FORBIDDEN,
        "missing_permission",
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_hold_past_its_deadline_is_neither_active_nor_reserved(pool: PgPool) {
    let app = app(pool);
    let (org, _, token) = seeded(&app).await;
    // Two holds on N-1 (8 on hand): one live, one past its deadline that no sweep released yet.
    for (quantity, expires) in [(2, "1 hour"), (3, "-1 second")] {
        sqlx::query(
            "WITH p AS (SELECT id FROM products WHERE org_id = $1 AND sku = 'N-1'),
                  l AS (SELECT id FROM locations WHERE org_id = $1)
             INSERT INTO reservations (org_id, product_id, location_id, quantity, expires_at)
             SELECT $1, p.id, l.id, $2, now() + $3::interval FROM p, l",
        )
        .bind(org)
        .bind(quantity)
        .bind(expires)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    sqlx::query("UPDATE stock_levels SET reserved = 5 WHERE org_id = $1 AND on_hand = 8")
        .bind(org)
        .execute(&app.pool)
        .await
        .unwrap();
    let r = app.by(&token).get("/api/dashboard/summary").await;
    assert_eq!(r.body["active_reservations"], 1, "{}", r.body);
    let csv = app.by(&token).get("/api/dashboard/export/stock.csv").await;
    let text = String::from_utf8(csv.bytes.to_vec()).unwrap();
    let row = text.lines().find(|l| l.starts_with("N-1")).unwrap();
    assert!(
        row.ends_with(",8,2,6"),
        "on hand 8, reserved 2, available 6: {row}"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn recent_activity_shows_only_what_the_caller_may_read(pool: PgPool) {
    let app = app(pool);
    let (org, owner, owner_token) = seeded(&app).await;
    let reports_only = app
        .member(
            &org.to_string(),
            "bob@example.com",
            json!({"reports": "read"}),
        )
        .await;
    let with_products = app
        .member(
            &org.to_string(),
            "cy@example.com",
            json!({"reports": "read", "products": "read"}),
        )
        .await;
    let bob: Uuid = reports_only.user_id.parse().unwrap();
    for (actor, action, entity) in [
        (owner, "login_failed", "user"),
        (owner, "refresh_reuse_detected", "user"),
        (owner, "product_created", "product"),
        (owner, "task_created", "task"),
        (bob, "task_created", "task"),
    ] {
        sqlx::query("INSERT INTO audit_log (org_id, actor_user_id, action, entity, entity_id) VALUES ($1, $2, $3, $4, gen_random_uuid())")
            .bind(org).bind(actor).bind(action).bind(entity).execute(&app.pool).await.unwrap();
    }
    let actions = |body: &serde_json::Value| -> Vec<String> {
        body["recent_activity"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                format!(
                    "{}:{}",
                    a["entity"].as_str().unwrap(),
                    a["action"].as_str().unwrap()
                )
            })
            .collect()
    };
    let get = |token: String| {
        let dashboard = &app;
        async move {
            dashboard
                .by(&token)
                .get("/api/dashboard/summary")
                .await
                .body
        }
    };
    assert_eq!(
        actions(&get(reports_only.token).await),
        ["task:task_created"],
        "only Bob's own to-do"
    );
    assert_eq!(
        actions(&get(with_products.token).await),
        ["product:product_created"]
    );
    let everything = actions(&get(owner_token).await);
    assert!(
        everything.contains(&"user:login_failed".to_owned()),
        "{everything:?}"
    );
    assert!(
        everything.contains(&"organization:register".to_owned()),
        "{everything:?}"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_export_too_large_for_one_response_is_never_attempted_without_a_bucket(pool: PgPool) {
    let app = app(pool.clone());
    let (_, _, token) = seeded(&app).await;
    let small = TestApp::new(
        dashboard::app(shared::testing::state_as(
            pool.clone(),
            shared::db::Login::Tenant,
            &[("EXPORT_INLINE_MAX_BYTES", "100")],
        )),
        pool,
    );
    for file in ["products.csv", "stock.xlsx"] {
        let r = small
            .by(&token)
            .get(&format!("/api/dashboard/export/{file}"))
            .await;
        assert_problem(&r, StatusCode::SERVICE_UNAVAILABLE, "export_too_large");
        assert!(
            r.body["detail"].as_str().unwrap().contains("EXPORT_BUCKET"),
            "{}",
            r.body
        );
    }
    // Within the limit it is the response, as before.
    let r = app
        .by(&token)
        .get("/api/dashboard/export/products.csv")
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

/// The value of `<name>` in moto's XML answer.
fn xml_value(xml: &str, name: &str) -> String {
    let start = xml.find(&format!("<{name}>")).expect(name) + name.len() + 2;
    let end = xml[start..].find('<').expect(name) + start;
    xml[start..end].to_owned()
}

/// The upload's SigV4 signature, checked by S3's stand-in: moto with authentication on (after
/// the few unauthenticated calls that create a user, its key and the bucket) stores what is
/// signed with the user's key and refuses what is signed with another.
#[tokio::test]
async fn export_uploads_are_signed_as_s3_checks() {
    use aws_credential_types::Credentials;
    let moto = shared::testing::Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "4")]);
    let http = reqwest::Client::new();
    let iam = |form: &'static [(&'static str, &'static str)]| {
        let request = http
            .post(format!("{}/", moto.endpoint))
            .header("authorization", "AWS4-HMAC-SHA256 Credential=test/20261130/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0")
            .form(&[form, &[("Version", "2010-05-08")]].concat());
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    iam(&[("Action", "CreateUser"), ("UserName", "exports")]).await;
    let key = iam(&[("Action", "CreateAccessKey"), ("UserName", "exports")]).await;
    iam(&[
        ("Action", "PutUserPolicy"),
        ("UserName", "exports"),
        ("PolicyName", "exports"),
        ("PolicyDocument", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#),
    ])
    .await;
    let created = http
        .put(format!("{}/stockroom-exports", moto.endpoint))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    // The SDK as the functions set it up (its HTTP client), with the user's key.
    let base = shared::config::secrets::sdk_config().await;
    let config = |secret: &str| {
        base.clone()
            .into_builder()
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                    xml_value(&key, "AccessKeyId"),
                    secret,
                    None,
                    None,
                    "test",
                )),
            )
            .build()
    };
    let bucket = |secret: &str| {
        shared::storage::Bucket::with_endpoint(
            "stockroom-exports",
            &config(secret),
            Some(moto.endpoint.clone()),
        )
    };
    let signed = bucket(&xml_value(&key, "SecretAccessKey"));
    signed
        .put(
            "exports/org/1/products.csv",
            b"sku\n".to_vec(),
            "text/csv",
            Some("attachment"),
        )
        .await
        .expect("an upload signed with the user's key is stored");
    let error = bucket("not-the-secret")
        .put(
            "exports/org/2/products.csv",
            b"sku\n".to_vec(),
            "text/csv",
            Some("attachment"),
        )
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("SignatureDoesNotMatch"),
        "{error}"
    );
}
