//! Each product carries its stock: `on_hand`, `reserved` and `available`, summed over its
//! locations or at one (`location_id`), sorted (`sort=available`) and filtered
//! (`available_lt`) in the list, shown in the detail too.
//!
//! Routes: `GET /api/products`, `GET /api/products/{id}`.

use super::*;
use shared::testing::{Registered, TestApp, TestResponse};

/// The organization's default location ("Main").
async fn main_location(app: &TestApp, org: &Registered) -> String {
    let id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM locations WHERE org_id = $1::uuid AND is_default")
            .bind(&org.org_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    id.to_string()
}

async fn location(app: &TestApp, org: &Registered, name: &str) -> String {
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO locations (org_id, name) VALUES ($1::uuid, $2) RETURNING id",
    )
    .bind(&org.org_id)
    .bind(name)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    id.to_string()
}

/// A new product (price 1.00); its id.
async fn new_product(app: &TestApp, org: &Registered, sku: &str) -> String {
    let body = app
        .by(org)
        .post("/api/products", product(sku, "1.00"))
        .await
        .assert(201);
    body["id"].as_str().unwrap().to_owned()
}

/// `on_hand` units of `product` at `location`, as the inventory function leaves them.
async fn shelve(app: &TestApp, org: &Registered, product: &str, location: &str, on_hand: i32) {
    sqlx::query(
        "INSERT INTO stock_levels (org_id, product_id, location_id, on_hand)
         VALUES ($1::uuid, $2::uuid, $3::uuid, $4)",
    )
    .bind(&org.org_id)
    .bind(product)
    .bind(location)
    .bind(on_hand)
    .execute(&app.pool)
    .await
    .unwrap();
}

/// A reservation of `quantity` units that ends at `now() + expires` (an interval such as
/// `1 hour`, or `-1 second` for one past its deadline that no sweep released yet), with the
/// units counted in `stock_levels.reserved` as the inventory function leaves them.
async fn hold(
    app: &TestApp,
    org: &Registered,
    product: &str,
    location: &str,
    quantity: i32,
    expires: &str,
) {
    sqlx::query(
        "INSERT INTO reservations (org_id, product_id, location_id, quantity, expires_at)
         VALUES ($1::uuid, $2::uuid, $3::uuid, $4, now() + $5::interval)",
    )
    .bind(&org.org_id)
    .bind(product)
    .bind(location)
    .bind(quantity)
    .bind(expires)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE stock_levels SET reserved = reserved + $3
         WHERE product_id = $1::uuid AND location_id = $2::uuid",
    )
    .bind(product)
    .bind(location)
    .bind(quantity)
    .execute(&app.pool)
    .await
    .unwrap();
}

/// `(on_hand, reserved, available)` of a product in a list item or a detail.
fn figures(product: &serde_json::Value) -> (i64, i64, i64) {
    let figure = |name: &str| {
        product[name]
            .as_i64()
            .unwrap_or_else(|| panic!("{name} is a whole number: {product}"))
    };
    (figure("on_hand"), figure("reserved"), figure("available"))
}

/// The list item of `sku` in a page of the list.
fn item<'a>(page: &'a TestResponse, sku: &str) -> &'a serde_json::Value {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["sku"] == sku)
        .unwrap_or_else(|| panic!("{sku} in {}", page.body))
}

fn skus(page: &TestResponse) -> Vec<String> {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap().to_owned())
        .collect()
}

/// Every page of `path` (which has a `?`), following `next_cursor`: the SKUs in order, and the
/// number of pages.
async fn walk(app: &TestApp, org: &Registered, path: &str) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut next = path.to_owned();
    loop {
        let page = app.by(&org.token).get(&next).await;
        pages += 1;
        seen.extend(skus(&page));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => next = format!("{path}&cursor={cursor}"),
            None => return (seen, pages),
        }
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_product_without_stock_shows_zeros(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let id = new_product(&app, &org, "NONE").await;
    let list = app.by(&org.token).get("/api/products").await;
    assert_eq!(figures(item(&list, "NONE")), (0, 0, 0));
    let detail = app.by(&org.token).get(&format!("/api/products/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert_eq!(figures(&detail.body), (0, 0, 0));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn stock_is_summed_over_locations_or_shown_at_the_one_asked_for(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let main = main_location(&app, &org).await;
    let back = location(&app, &org, "Back room").await;
    let bolt = new_product(&app, &org, "BOLT").await;
    let nut = new_product(&app, &org, "NUT").await;
    shelve(&app, &org, &bolt, &main, 10).await;
    hold(&app, &org, &bolt, &main, 3, "1 hour").await;
    shelve(&app, &org, &bolt, &back, 5).await;
    shelve(&app, &org, &nut, &main, 4).await;

    let all = app.by(&org.token).get("/api/products").await;
    assert_eq!(figures(item(&all, "BOLT")), (15, 3, 12), "both locations");
    assert_eq!(figures(item(&all, "NUT")), (4, 0, 4));
    let detail = app
        .by(&org.token)
        .get(&format!("/api/products/{bolt}"))
        .await;
    assert_eq!(figures(&detail.body), (15, 3, 12), "{}", detail.body);

    let at_back = app
        .by(&org.token)
        .get(&format!("/api/products?location_id={back}"))
        .await;
    assert_eq!(figures(item(&at_back, "BOLT")), (5, 0, 5));
    assert_eq!(
        figures(item(&at_back, "NUT")),
        (0, 0, 0),
        "no stock row at that location"
    );
    let at_main = app
        .by(&org.token)
        .get(&format!("/api/products?location_id={main}"))
        .await;
    assert_eq!(figures(item(&at_main, "BOLT")), (10, 3, 7));
    for (location, expected) in [(&back, (5, 0, 5)), (&main, (10, 3, 7))] {
        let detail = app
            .by(&org.token)
            .get(&format!("/api/products/{bolt}?location_id={location}"))
            .await;
        assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
        assert_eq!(figures(&detail.body), expected, "{}", detail.body);
    }
    let nut_at_back = app
        .by(&org.token)
        .get(&format!("/api/products/{nut}?location_id={back}"))
        .await;
    assert_eq!(
        figures(&nut_at_back.body),
        (0, 0, 0),
        "{}",
        nut_at_back.body
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_hold_past_its_deadline_is_not_reserved(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let main = main_location(&app, &org).await;
    let bolt = new_product(&app, &org, "BOLT").await;
    shelve(&app, &org, &bolt, &main, 8).await;
    hold(&app, &org, &bolt, &main, 2, "1 hour").await;
    // Past its deadline: no sweep released it yet, but it holds nothing any more.
    hold(&app, &org, &bolt, &main, 3, "-1 second").await;

    let list = app.by(&org.token).get("/api/products").await;
    assert_eq!(figures(item(&list, "BOLT")), (8, 2, 6));
    let detail = app
        .by(&org.token)
        .get(&format!("/api/products/{bolt}"))
        .await;
    assert_eq!(figures(&detail.body), (8, 2, 6), "{}", detail.body);
    let at_main = app
        .by(&org.token)
        .get(&format!("/api/products/{bolt}?location_id={main}"))
        .await;
    assert_eq!(figures(&at_main.body), (8, 2, 6), "{}", at_main.body);
    let below_six = app.by(&org.token).get("/api/products?available_lt=6").await;
    assert_eq!(skus(&below_six), Vec::<String>::new(), "6 are available");
}

/// Five products whose available stock is `A-1` 3, `B-2` 0 (no stock), `C-3` 3, `D-4` 7
/// (9 on hand, 2 held), `E-5` 0 (4 on hand, all held): two ties.
async fn five_with_ties(app: &TestApp, org: &Registered) -> Vec<(i64, String, String)> {
    let main = main_location(app, org).await;
    let mut made = Vec::new();
    for (sku, on_hand, held) in [
        ("A-1", 3, 0),
        ("B-2", 0, 0),
        ("C-3", 3, 0),
        ("D-4", 9, 2),
        ("E-5", 4, 4),
    ] {
        let id = new_product(app, org, sku).await;
        if on_hand > 0 {
            shelve(app, org, &id, &main, on_hand).await;
        }
        if held > 0 {
            hold(app, org, &id, &main, held, "1 hour").await;
        }
        made.push((i64::from(on_hand - held), id, sku.to_owned()));
    }
    made
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn sort_by_available_pages_through_ties_by_id_both_ways(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let mut products = five_with_ties(&app, &org).await;
    // Ties are broken by id (a UUID orders as its lower-case text does).
    products.sort();
    let ascending: Vec<String> = products.iter().map(|(_, _, sku)| sku.clone()).collect();

    let (seen, pages) = walk(&app, &org, "/api/products?sort=available&limit=2").await;
    assert_eq!(seen, ascending);
    assert_eq!(pages, 3);
    let (seen, pages) = walk(&app, &org, "/api/products?sort=-available&limit=2").await;
    let descending: Vec<String> = ascending.iter().rev().cloned().collect();
    assert_eq!(seen, descending);
    assert_eq!(pages, 3);
    // The figures sorted by are the ones shown.
    let first = app
        .by(&org.token)
        .get("/api/products?sort=-available&limit=1")
        .await;
    assert_eq!(figures(item(&first, "D-4")), (9, 2, 7));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn available_lt_filters_and_the_total_counts_only_the_matches(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    five_with_ties(&app, &org).await;

    let mut none_left = skus(&app.by(&org.token).get("/api/products?available_lt=1").await);
    none_left.sort();
    assert_eq!(none_left, ["B-2", "E-5"]);
    let mut below_four = skus(&app.by(&org.token).get("/api/products?available_lt=4").await);
    below_four.sort();
    assert_eq!(below_four, ["A-1", "B-2", "C-3", "E-5"]);
    let nothing = app
        .by(&org.token)
        .get("/api/products?available_lt=0&include_total=true")
        .await;
    assert_eq!(skus(&nothing), Vec::<String>::new());
    assert_eq!(nothing.body["total"], 0, "{}", nothing.body);

    // Filtered, sorted and paged: every page counts the four matches, not the five products.
    let path = "/api/products?available_lt=4&sort=-available&limit=2&include_total=true";
    let mut seen = Vec::new();
    let mut next = path.to_owned();
    loop {
        let page = app.by(&org.token).get(&next).await;
        assert_eq!(page.body["total"], 4, "{}", page.body);
        seen.extend(skus(&page));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => next = format!("{path}&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    let mut top: Vec<&str> = seen[..2].iter().map(String::as_str).collect();
    top.sort_unstable();
    assert_eq!(top, ["A-1", "C-3"], "the two with 3 come first");
    // At a location where nothing is stocked, every product has none available.
    let back = location(&app, &org, "Back room").await;
    let at_back = app
        .by(&org.token)
        .get(&format!(
            "/api/products?location_id={back}&available_lt=1&include_total=true"
        ))
        .await;
    assert_eq!(at_back.body["total"], 5, "{}", at_back.body);
}
