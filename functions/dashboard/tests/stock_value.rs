//! What the stock is worth, now and at a past date: totals per currency, per location and per
//! product, and the export.
//!
//! Routes: `GET /api/reports/stock-value`, `GET /api/reports/stock-value/products`,
//! `GET /api/reports/stock-value.csv`, `GET /api/reports/stock-value.xlsx`.

use http::StatusCode;
use serde_json::{Value, json};
use shared::testing::{TestApp, assert_problem};
use sqlx::PgPool;
use uuid::Uuid;

fn app(pool: PgPool) -> TestApp {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Tenant, &[]);
    TestApp::new(dashboard::app(state), pool)
}

struct Shop {
    token: String,
    front: Uuid,
    back: Uuid,
}

/// A shop whose ledger began in November:
/// - 1 Nov: 10 bolts (EUR) in at 3.00 at the front, 5 nuts (EUR, no cost at all) at the front,
///   4 caps (USD, a standard cost of 1.00 and no receipt cost) at the back;
/// - 10 Nov: 10 more bolts at 5.00 at the back (average 4.00), 5 bolts sold at the front.
async fn shop(app: &TestApp) -> Shop {
    let owner = app.register("ann@example.com").await;
    let org: Uuid = owner.org_id.parse().unwrap();
    let db = &app.pool;
    let front: Uuid = sqlx::query_scalar("SELECT id FROM locations WHERE org_id = $1")
        .bind(org)
        .fetch_one(db)
        .await
        .unwrap();
    let back: Uuid = sqlx::query_scalar(
        "INSERT INTO locations (org_id, name) VALUES ($1, 'Back room') RETURNING id",
    )
    .bind(org)
    .fetch_one(db)
    .await
    .unwrap();
    let product = |sku: &'static str, currency: &'static str, cost: Option<&'static str>| async move {
        sqlx::query_scalar::<_, Uuid>(
            "INSERT INTO products (org_id, sku, name, price, currency, cost)
             VALUES ($1, $2, $2, 9, $3, $4::numeric) RETURNING id",
        )
        .bind(org)
        .bind(sku)
        .bind(currency)
        .bind(cost)
        .fetch_one(db)
        .await
        .unwrap()
    };
    let bolt = product("BOLT", "EUR", Some("2.00")).await;
    let nut = product("NUT", "EUR", None).await;
    let cap = product("CAP", "USD", Some("1.00")).await;
    let moved = |product: Uuid, location: Uuid, quantity: i32, at: &'static str| async move {
        // (A row is checked before its conflict: units out are an update.)
        sqlx::query(if quantity > 0 {
            "INSERT INTO stock_levels (org_id, product_id, location_id, on_hand)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (product_id, location_id) DO UPDATE SET on_hand = stock_levels.on_hand + $4"
        } else {
            "UPDATE stock_levels SET on_hand = on_hand + $4
             WHERE org_id = $1 AND product_id = $2 AND location_id = $3"
        })
        .bind(org)
        .bind(product)
        .bind(location)
        .bind(quantity)
        .execute(db)
        .await
        .unwrap();
        let kind = if quantity > 0 { "receive" } else { "sell" };
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO stock_movements (org_id, product_id, location_id, kind, quantity, reason, created_at)
             VALUES ($1, $2, $3, $4::movement_kind, $5, 'seed', $6::timestamptz) RETURNING id",
        )
        .bind(org)
        .bind(product)
        .bind(location)
        .bind(kind)
        .bind(quantity)
        .bind(at)
        .fetch_one(db)
        .await
        .unwrap()
    };
    let averaged = |movement: i64, average: &'static str, at: &'static str| async move {
        sqlx::query(
            "INSERT INTO product_costs (org_id, product_id, movement_id, currency, on_hand_before,
                                        quantity, unit_cost, average_cost, created_at)
             VALUES ($1, $2, $3, 'EUR', 0, 10, $4::numeric, $4::numeric, $5::timestamptz)",
        )
        .bind(org)
        .bind(bolt)
        .bind(movement)
        .bind(average)
        .bind(at)
        .execute(db)
        .await
        .unwrap();
        sqlx::query("UPDATE products SET average_cost = $2::numeric WHERE id = $1")
            .bind(bolt)
            .bind(average)
            .execute(db)
            .await
            .unwrap();
    };
    let first = "2026-11-01T10:00:00Z";
    let m = moved(bolt, front, 10, first).await;
    averaged(m, "3.00", first).await;
    moved(nut, front, 5, first).await;
    moved(cap, back, 4, first).await;
    let second = "2026-11-10T10:00:00Z";
    let m = moved(bolt, back, 10, second).await;
    averaged(m, "4.00", second).await;
    moved(bolt, front, -5, second).await;
    Shop {
        token: owner.token,
        front,
        back,
    }
}

fn totals(body: &Value) -> Vec<(String, i64, String, i64, i64)> {
    body["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["currency"].as_str().unwrap().to_owned(),
                t["quantity"].as_i64().unwrap(),
                t["value"].as_str().unwrap().to_owned(),
                t["products"].as_i64().unwrap(),
                t["unvalued_quantity"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn owned(rows: &[(&str, i64, &str, i64, i64)]) -> Vec<(String, i64, String, i64, i64)> {
    rows.iter()
        .map(|&(c, q, v, p, u)| (c.to_owned(), q, v.to_owned(), p, u))
        .collect()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_stock_is_valued_now_per_currency_location_and_product(pool: PgPool) {
    let app = app(pool);
    let shop = shop(&app).await;
    let r = app.by(&shop.token).get("/api/reports/stock-value").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // 15 bolts at 4.00; the nuts have no cost; the caps at their standard cost, in USD.
    assert_eq!(
        totals(&r.body),
        owned(&[("EUR", 20, "60.00", 2, 5), ("USD", 4, "4.00", 1, 0)])
    );
    let locations: Vec<(Value, String, i64, String)> = r.body["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["location_id"].clone(),
                l["currency"].as_str().unwrap().to_owned(),
                l["quantity"].as_i64().unwrap(),
                l["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let (front, back) = (json!(shop.front), json!(shop.back));
    assert_eq!(
        locations,
        [
            (back.clone(), "EUR".into(), 10, "40.00".into()),
            (back, "USD".into(), 4, "4.00".into()),
            (front, "EUR".into(), 10, "20.00".into()),
        ],
        "by location name: the back room, then the default location"
    );

    let page = app
        .by(&shop.token)
        .get("/api/reports/stock-value/products?limit=2&include_total=true")
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body["total"], 3);
    let rows = &page.body["items"];
    assert_eq!(
        (
            &rows[0]["sku"],
            &rows[0]["quantity"],
            &rows[0]["cost_source"],
            &rows[0]["value"]
        ),
        (
            &json!("BOLT"),
            &json!(15),
            &json!("average"),
            &json!("60.00")
        )
    );
    assert_eq!(
        (
            &rows[1]["sku"],
            &rows[1]["currency"],
            &rows[1]["cost_source"],
            &rows[1]["value"]
        ),
        (
            &json!("CAP"),
            &json!("USD"),
            &json!("standard"),
            &json!("4.00")
        )
    );
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = app
        .by(&shop.token)
        .get(&format!(
            "/api/reports/stock-value/products?limit=2&cursor={cursor}"
        ))
        .await;
    let nut = &rest.body["items"][0];
    assert_eq!(
        (
            &nut["sku"],
            &nut["quantity"],
            &nut["unit_cost"],
            &nut["value"]
        ),
        (&json!("NUT"), &json!(5), &Value::Null, &Value::Null)
    );
    assert!(rest.body["next_cursor"].is_null());

    // One location.
    let back = app
        .by(&shop.token)
        .get(&format!(
            "/api/reports/stock-value/products?location_id={}",
            shop.back
        ))
        .await;
    let skus: Vec<(&str, i64)> = back.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["sku"].as_str().unwrap(), p["quantity"].as_i64().unwrap()))
        .collect();
    assert_eq!(skus, [("BOLT", 10), ("CAP", 4)]);

    // Another organization sees nothing of it.
    let other = app.register("bob@example.com").await;
    let theirs = app.by(&other.token).get("/api/reports/stock-value").await;
    assert_eq!(theirs.body["totals"], json!([]));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_past_date_is_valued_from_the_ledger_at_the_average_of_then(pool: PgPool) {
    let app = app(pool);
    let shop = shop(&app).await;
    // Before the second delivery: 10 bolts at the 3.00 of then, not today's 4.00.
    for at in [
        "2026-11-05",
        "2026-11-01",
        "2026-11-10T09:59:59Z",
        "2026-11-10T11:00:00%2B02:00",
    ] {
        let r = app
            .by(&shop.token)
            .get(&format!("/api/reports/stock-value?at={at}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{at}: {}", r.body);
        assert_eq!(
            totals(&r.body),
            owned(&[("EUR", 15, "30.00", 2, 5), ("USD", 4, "4.00", 1, 0)]),
            "{at}"
        );
    }
    // The end of the day of the second delivery: as now.
    let r = app
        .by(&shop.token)
        .get("/api/reports/stock-value?at=2026-11-10")
        .await;
    assert_eq!(
        totals(&r.body),
        owned(&[("EUR", 20, "60.00", 2, 5), ("USD", 4, "4.00", 1, 0)])
    );
    assert!(
        r.body["at"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-10T23:59:59")
    );
    let products = app
        .by(&shop.token)
        .get("/api/reports/stock-value/products?at=2026-11-05")
        .await;
    let bolt = &products.body["items"][0];
    assert_eq!(
        (&bolt["quantity"], &bolt["unit_cost"], &bolt["value"]),
        (&json!(10), &json!("3.000000"), &json!("30.00"))
    );
    // Before the ledger began: nothing.
    let r = app
        .by(&shop.token)
        .get("/api/reports/stock-value?at=2026-10-31")
        .await;
    assert_eq!(
        (r.body["totals"].clone(), r.body["locations"].clone()),
        (json!([]), json!([]))
    );

    // A moment still to come: the stock as it is now (the ledger has nothing later).
    let now = app.by(&shop.token).get("/api/reports/stock-value").await;
    let later = app
        .by(&shop.token)
        .get("/api/reports/stock-value?at=2999-01-01")
        .await;
    assert_eq!(totals(&later.body), totals(&now.body));
    // An offset whose `+` was not escaped arrives as a space, and is read as meant.
    let unescaped = app
        .by(&shop.token)
        .get("/api/reports/stock-value?at=2026-11-10T11:00:00+02:00")
        .await;
    assert_eq!(unescaped.status, StatusCode::OK, "{}", unescaped.body);
    assert_eq!(unescaped.body["totals"][0]["value"], "30.00");

    for at in ["yesterday", "2026-13-01", "2026-11-10T25:00:00Z"] {
        for path in [
            "/api/reports/stock-value",
            "/api/reports/stock-value/products",
            "/api/reports/stock-value.csv",
        ] {
            let r = app.by(&shop.token).get(&format!("{path}?at={at}")).await;
            assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(r.body["errors"][0]["field"], "at");
            assert_eq!(r.body["errors"][0]["code"], "invalid", "{at}");
        }
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_value_exports_as_csv_and_xlsx_at_a_past_date(pool: PgPool) {
    let app = app(pool);
    let shop = shop(&app).await;
    let r = app
        .by(&shop.token)
        .get("/api/reports/stock-value.csv?at=2026-11-05")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.headers["content-disposition"],
        "attachment; filename=\"stock-value-2026-11-05.csv\""
    );
    let text = String::from_utf8(r.bytes.to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "sku,name,location,quantity,currency,unit_cost,cost_source,value",
            "BOLT,BOLT,Main,10,EUR,3,average,30.00",
            "CAP,CAP,Back room,4,USD,1,standard,4.00",
            "NUT,NUT,Main,5,EUR,,,",
        ]
    );
    let now = app
        .by(&shop.token)
        .get("/api/reports/stock-value.xlsx")
        .await;
    assert_eq!(now.status, StatusCode::OK);
    assert!(now.bytes.starts_with(b"PK"), "an XLSX is a zip");
    assert_eq!(
        now.headers["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    // One location.
    let back = app
        .by(&shop.token)
        .get(&format!(
            "/api/reports/stock-value.csv?location_id={}",
            shop.back
        ))
        .await;
    let text = String::from_utf8(back.bytes.to_vec()).unwrap();
    assert_eq!(
        text.lines().skip(1).collect::<Vec<_>>(),
        [
            "BOLT,BOLT,Back room,10,EUR,4,average,40.00",
            "CAP,CAP,Back room,4,USD,1,standard,4.00"
        ]
    );
    // The ledger export shows what each row was worth (none for these seeded rows).
    let ledger = app
        .by(&shop.token)
        .get("/api/dashboard/export/movements.csv")
        .await;
    assert!(
        String::from_utf8(ledger.bytes.to_vec())
            .unwrap()
            .starts_with(
                "id,created_at,sku,location,kind,quantity,reason,unit_cost,cost_currency\n"
            )
    );
}
