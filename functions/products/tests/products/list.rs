//! `GET /api/products` and `GET /api/products/{id}`: filters, sort, pages, detail, barcodes.
//!
//! Routes: `GET /api/products`, `GET /api/products/{id}`.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_list_filters_sorts_and_pages(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let acme = supplier(&app, &org, "Acme").await;
    for (sku, price, best) in [
        ("A-1", "3.00", false),
        ("B-2", "1.00", true),
        ("C-3", "2.00", true),
        ("D-4", "5.00", false),
        ("E-5", "4.00", false),
    ] {
        let mut body = product(sku, price);
        body["best_seller"] = json!(best);
        if sku == "D-4" {
            body["supplier_id"] = json!(acme);
            body["name"] = json!("Drill press");
        }
        app.by(&org).post("/api/products", body).await.assert(201);
    }
    let skus = |r: &shared::testing::TestResponse| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sku"].as_str().unwrap().to_owned())
            .collect()
    };
    let best = app
        .by(&org.token)
        .get("/api/products?best_seller=true")
        .await;
    assert_eq!(skus(&best), ["B-2", "C-3"]);
    let by_supplier = app
        .by(&org.token)
        .get(&format!("/api/products?supplier_id={acme}"))
        .await;
    assert_eq!(skus(&by_supplier), ["D-4"]);
    assert_eq!(
        skus(&app.by(&org.token).get("/api/products?q=drill").await),
        ["D-4"]
    );
    assert_eq!(
        skus(&app.by(&org.token).get("/api/products?q=e-5").await),
        ["E-5"]
    );

    // Walk every page of a descending price sort.
    let mut seen = Vec::new();
    let mut path = "/api/products?sort=-price&limit=2&include_total=true".to_owned();
    loop {
        let page = app.by(&org.token).get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(page.body["total"], 5);
        seen.extend(skus(&page));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => {
                path =
                    format!("/api/products?sort=-price&limit=2&include_total=true&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(seen, ["D-4", "E-5", "A-1", "C-3", "B-2"]);
    let bad = app.by(&org.token).get("/api/products?sort=colour").await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn detail_shows_the_supplier_and_its_contact(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let acme = supplier(&app, &org, "Acme").await;
    let mut body = product("P-1", "9.99");
    body["supplier_id"] = json!(acme);
    let p = app.by(&org).post("/api/products", body).await.assert(201);
    let detail = app
        .by(&org.token)
        .get(&format!("/api/products/{}", p["id"].as_str().unwrap()))
        .await;
    assert_eq!(detail.body["supplier"]["name"], "Acme");
    assert_eq!(
        detail.body["supplier"]["contact"]["email"],
        "pat@supplier.example"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_till_finds_a_product_by_its_barcode(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    app.by(&org)
        .post(
            "/api/products",
            json!({"sku": "BOLT", "name": "Bolt", "price": "1.00", "barcode": "4006381333931"}),
        )
        .await
        .assert(201);
    app.by(&org)
        .post(
            "/api/products",
            json!({"sku": "NUT", "name": "Nut", "price": "1.00", "barcode": "4006381333948"}),
        )
        .await
        .assert(201);
    let skus = |body: &serde_json::Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sku"].as_str().unwrap().to_owned())
            .collect()
    };
    let exact = app
        .by(&org.token)
        .get("/api/products?barcode=4006381333931")
        .await;
    assert_eq!(skus(&exact.body), ["BOLT"]);
    let partial = app
        .by(&org.token)
        .get("/api/products?barcode=400638133393")
        .await;
    assert_eq!(
        skus(&partial.body),
        Vec::<String>::new(),
        "exact, not a prefix"
    );
    let search = app.by(&org.token).get("/api/products?q=333948").await;
    assert_eq!(skus(&search.body), ["NUT"]);
}
