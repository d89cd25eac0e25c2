use std::sync::atomic::{AtomicU32, Ordering};

use http::{Method, StatusCode};
use serde_json::json;
use shared::testing::{TestApp, assert_problem};
use sqlx::PgPool;
use uuid::Uuid;

struct Apps {
    auth: TestApp,
    dashboard: TestApp,
    pool: PgPool,
}

fn apps(pool: PgPool) -> Apps {
    let state = shared::testing::state(pool.clone());
    Apps {
        auth: TestApp::new(auth::app(state.clone()), pool.clone()),
        dashboard: TestApp::new(dashboard::app(state), pool.clone()),
        pool,
    }
}

fn next_ip() -> String {
    static N: AtomicU32 = AtomicU32::new(1);
    format!("10.8.0.{}", N.fetch_add(1, Ordering::Relaxed))
}

/// An organization with two products (one low on stock), a movement, an open PO and a task.
async fn seeded(apps: &Apps) -> (Uuid, Uuid, String) {
    let body = json!({"organization_name": "Org", "name": "U", "email": "ann@example.com", "password": "Corr3ct-horse"});
    let r = apps
        .auth
        .request_from(
            Method::POST,
            "/api/auth/register",
            Some(body),
            None,
            Some(&next_ip()),
        )
        .await;
    let org: Uuid = r.body["organization"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let user: Uuid = r.body["user"]["id"].as_str().unwrap().parse().unwrap();
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    let supplier: Uuid =
        sqlx::query_scalar("INSERT INTO suppliers (org_id, name) VALUES ($1, 'Acme') RETURNING id")
            .bind(org)
            .fetch_one(&apps.pool)
            .await
            .unwrap();
    for (sku, name, reorder, stock) in [
        ("B-1", "Bolt", 10, 3),
        ("N-1", "=HYPERLINK(\"http://evil\")", 0, 8),
    ] {
        let p: Uuid = sqlx::query_scalar("INSERT INTO products (org_id, sku, name, price, currency, reorder_point, supplier_id) VALUES ($1, $2, $3, 1.50, 'EUR', $4, $5) RETURNING id")
            .bind(org).bind(sku).bind(name).bind(reorder).bind(supplier).fetch_one(&apps.pool).await.unwrap();
        sqlx::query("INSERT INTO stock_levels (org_id, product_id, location_id, on_hand) SELECT $1, $2, id, $3 FROM locations WHERE org_id = $1")
            .bind(org).bind(p).bind(stock).execute(&apps.pool).await.unwrap();
        sqlx::query("INSERT INTO stock_movements (org_id, product_id, location_id, kind, quantity, reason) SELECT $1, $2, id, 'receive', $3, 'opening' FROM locations WHERE org_id = $1")
            .bind(org).bind(p).bind(stock).execute(&apps.pool).await.unwrap();
    }
    sqlx::query("INSERT INTO purchase_orders (org_id, supplier_id, currency, status) VALUES ($1, $2, 'EUR', 'submitted')").bind(org).bind(supplier).execute(&apps.pool).await.unwrap();
    sqlx::query("INSERT INTO tasks (org_id, user_id, title) VALUES ($1, $2, 'Reorder bolts')")
        .bind(org)
        .bind(user)
        .execute(&apps.pool)
        .await
        .unwrap();
    (org, user, token)
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_summary_counts_what_needs_attention(pool: PgPool) {
    let apps = apps(pool);
    let (_, _, token) = seeded(&apps).await;
    let r = apps
        .dashboard
        .get_with("/api/dashboard/summary", &token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["products"], 2);
    assert_eq!(r.body["low_stock"], 1);
    assert_eq!(r.body["open_purchase_orders"], 1);
    assert_eq!(r.body["active_reservations"], 0);
    assert_eq!(r.body["my_open_tasks"], 1);
    assert_eq!(r.body["recent_activity"][0]["action"], "register");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn csv_exports_are_named_typed_and_safe_in_a_spreadsheet(pool: PgPool) {
    let apps = apps(pool);
    let (_, _, token) = seeded(&apps).await;
    let r = apps
        .dashboard
        .get_with("/api/dashboard/export/products.csv", &token)
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
    let stock = apps
        .dashboard
        .get_with("/api/dashboard/export/stock.csv", &token)
        .await;
    assert!(
        String::from_utf8(stock.bytes.to_vec())
            .unwrap()
            .contains("B-1,Bolt,Main,3,0,3")
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn xlsx_exports_open_in_openpyxl(pool: PgPool) {
    let apps = apps(pool);
    let (_, _, token) = seeded(&apps).await;
    for kind in ["products", "stock", "movements"] {
        let r = apps
            .dashboard
            .get_with(&format!("/api/dashboard/export/{kind}.xlsx"), &token)
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.headers["content-type"],
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        let path = std::env::temp_dir().join(format!("stockroom-{kind}-{}.xlsx", Uuid::new_v4()));
        std::fs::write(&path, &r.bytes).unwrap();
        let output = std::process::Command::new("python3")
            .args(["-c", "import sys, openpyxl; ws = openpyxl.load_workbook(sys.argv[1]).active; print(ws.title, ws.max_row, ws.cell(1, 1).value, ws.cell(2, 1).value)"])
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
        let expected = match kind {
            "products" => "products 3 sku B-1",
            "stock" => "stock 3 sku B-1",
            _ => "movements 3 id 1",
        };
        assert_eq!(seen.trim(), expected);
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_unknown_export_is_404_and_reports_need_permission(pool: PgPool) {
    let apps = apps(pool);
    let (org, _, token) = seeded(&apps).await;
    for file in ["orders.csv", "products.pdf", "products"] {
        assert_problem(
            &apps
                .dashboard
                .get_with(&format!("/api/dashboard/export/{file}"), &token)
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    let hash = shared::auth::password::Password::new("Corr3ct-horse".into(), "p")
        .unwrap()
        .hash()
        .await
        .unwrap();
    sqlx::query("INSERT INTO users (org_id, email, name, password_hash, role, permissions) VALUES ($1, 'clerk@example.com', 'C', $2, 'user', '{\"tasks\": \"write\"}')")
        .bind(org).bind(hash).execute(&apps.pool).await.unwrap();
    let clerk = apps
        .auth
        .request_from(
            Method::POST,
            "/api/auth/login",
            Some(json!({"email": "clerk@example.com", "password": "Corr3ct-horse"})),
            None,
            Some(&next_ip()),
        )
        .await;
    let clerk = clerk.body["access_token"].as_str().unwrap();
    assert_problem(
        &apps
            .dashboard
            .get_with("/api/dashboard/summary", clerk)
            .await,
        StatusCode::FORBIDDEN,
        "missing_permission",
    );
}
