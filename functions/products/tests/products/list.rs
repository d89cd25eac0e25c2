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

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn several_suppliers_are_one_filter_repeated_or_comma_separated(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let mut suppliers = Vec::new();
    for (name, sku) in [("Acme", "A-1"), ("Bolts Ltd", "B-1"), ("Cogs Inc", "C-1")] {
        let id = supplier(&app, &org, name).await;
        let mut body = product(sku, "1.00");
        body["supplier_id"] = json!(id);
        app.by(&org).post("/api/products", body).await.assert(201);
        suppliers.push(id);
    }
    let (acme, bolts) = (&suppliers[0], &suppliers[1]);
    let skus = |r: &shared::testing::TestResponse| -> Vec<String> {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sku"].as_str().unwrap().to_owned())
            .collect()
    };
    for path in [
        format!("/api/products?supplier_id={acme}&supplier_id={bolts}"),
        format!("/api/products?supplier_id={acme},{bolts}"),
        format!("/api/products?supplier_id={acme}%2C{bolts}&include_total=true"),
    ] {
        assert_eq!(
            skus(&app.by(&org.token).get(&path).await),
            ["A-1", "B-1"],
            "{path}"
        );
    }
    let one = app
        .by(&org.token)
        .get(&format!("/api/products?supplier_id={bolts}"))
        .await;
    assert_eq!(skus(&one), ["B-1"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_list_of_ids_with_one_that_is_not_a_uuid_is_422_naming_the_parameter(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let acme = supplier(&app, &org, "Acme").await;
    for query in [
        format!("supplier_id={acme},bolts"),
        "supplier_id=bolts".to_owned(),
    ] {
        let r = app
            .by(&org.token)
            .get(&format!("/api/products?{query}"))
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(
            r.body["errors"][0]["field"], "supplier_id",
            "{query}: {}",
            r.body
        );
    }
    // Repeated, with a value that is not a UUID: refused, never read as the one valid id.
    let repeated = app
        .by(&org.token)
        .get(&format!(
            "/api/products?supplier_id={acme}&supplier_id=bolts"
        ))
        .await;
    assert_problem(
        &repeated,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(repeated.body["errors"][0]["field"], "supplier_id");
    // Only ids make a list: any other parameter given twice is refused, naming it.
    let twice = app.by(&org.token).get("/api/products?q=bolt&q=nut").await;
    assert_problem(
        &twice,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(twice.body["errors"][0]["field"], "q");
    assert_eq!(twice.body["errors"][0]["code"], "repeated");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_sort_the_list_lacks_is_422_naming_sort(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    for sort in ["stock_level", "-stock_level", "available_desc", "Name"] {
        let r = app
            .by(&org.token)
            .get(&format!("/api/products?sort={sort}"))
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "sort", "{sort}: {}", r.body);
    }
}
