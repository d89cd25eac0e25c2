//! Connecting, subscribing and what is pushed: to whom, and until when.

use serde_json::json;
use shared::testing::TestApp;
use sqlx::PgPool;
use tokio_tungstenite::tungstenite;

use crate::support::{closed, next, pending, send, setup};

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_member_gets_the_committed_events_they_subscribed_to(pool: PgPool) {
    let s = setup(pool).await;
    let ann = s.products.register("ann@example.com").await;
    let mut socket = s.subscribed(&ann, json!(["stock.*"])).await;
    assert_eq!(s.connections().await, 1);

    let product = s.product(&ann, "APL", 5).await;
    s.receive(&ann, &product, 3).await;
    let report = s.dispatch(&ann).await;
    // product.created, stock.changed, stock.low (3 is below 5): two of them subscribed.
    assert_eq!((report.events, report.pushed), (3, 2), "{report:?}");
    let got = pending(&mut socket).await;
    // In the order the database wrote them (the level's crossing, then the ledger line).
    let types: Vec<_> = got.iter().map(|m| m["event"]["type"].clone()).collect();
    assert_eq!(types, [json!("stock.low"), json!("stock.changed")]);
    let changed = &got[1];
    assert_eq!(changed["kind"], "event");
    assert_eq!(changed["event"]["organization_id"], ann.org_id);
    assert_eq!(changed["event"]["data"]["object"]["product_id"], product);
    assert_eq!(changed["event"]["data"]["object"]["quantity"], 3);
    assert_eq!(
        changed["event"]["data"]["object"]["on_hand"], 3,
        "{changed}"
    );

    // A new subscription replaces the old; events already pushed are not pushed again.
    send(
        &mut socket,
        json!({"action": "subscribe", "types": ["product.*"]}),
    )
    .await;
    assert_eq!(
        next(&mut socket).await,
        json!({"kind": "subscribed", "types": ["product.*"]})
    );
    assert_eq!(s.dispatch(&ann).await.pushed, 0);
    s.product(&ann, "PEAR", 0).await;
    s.receive(&ann, &product, 1).await;
    assert_eq!(s.dispatch(&ann).await.pushed, 1);
    let got = pending(&mut socket).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["event"]["type"], "product.created");
    assert_eq!(got[0]["event"]["data"]["object"]["sku"], "PEAR");

    // Closing forgets the connection.
    socket.close(None).await.unwrap();
    for _ in 0..50 {
        if s.connections().await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(s.connections().await, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_organizations_events_and_unreadable_modules_are_not_pushed(pool: PgPool) {
    let s = setup(pool).await;
    let ann = s.products.register("ann@example.com").await;
    let zoe = s.products.register("zoe@example.com").await;
    let bob = s
        .products
        .with_member(
            &ann,
            "bob@example.com",
            shared::auth::Role::User,
            json!({"products": "read"}),
        )
        .await;
    let mut bobs = s.subscribed(&bob, json!(["*"])).await;
    let mut zoes = s.subscribed(&zoe, json!(["*"])).await;

    let product = s.product(&ann, "APL", 0).await;
    s.receive(&ann, &product, 3).await;
    s.dispatch(&ann).await;
    s.dispatch(&zoe).await;
    // Bob reads products, not inventory: the product, not its stock.
    let got = pending(&mut bobs).await;
    let types: Vec<_> = got.iter().map(|m| m["event"]["type"].clone()).collect();
    assert_eq!(types, [json!("product.created")]);
    assert!(pending(&mut zoes).await.is_empty());

    // Bob's grants are read at each push: without products, nothing.
    sqlx::query("UPDATE memberships SET permissions = '{}' WHERE user_id = $1::uuid")
        .bind(&bob.user_id)
        .execute(&s.pool)
        .await
        .unwrap();
    s.product(&ann, "PEAR", 0).await;
    s.dispatch(&ann).await;
    assert!(pending(&mut bobs).await.is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn only_a_live_sessions_token_in_the_subprotocol_connects(pool: PgPool) {
    let s = setup(pool).await;
    let ann = s.products.register("ann@example.com").await;
    let refused = |result: Result<_, tungstenite::Error>| match result {
        Err(tungstenite::Error::Http(answer)) => answer.status().as_u16(),
        Err(other) => panic!("not an HTTP refusal: {other}"),
        Ok(_) => panic!("connected"),
    };
    // No token, a token without the subprotocol, a forged token, an unknown type.
    assert_eq!(refused(s.connect_with("", "").await), 401);
    assert_eq!(refused(s.connect_with("stockroom", "").await), 401);
    assert_eq!(refused(s.connect_with(&ann.token, "").await), 401);
    assert_eq!(
        refused(
            s.connect_with("stockroom, eyJhbGciOiJIUzI1NiJ9.e30.x", "")
                .await
        ),
        401
    );
    let offered = format!("stockroom, {}", ann.token);
    assert_eq!(
        refused(s.connect_with(&offered, "?types=stock.exploded").await),
        400
    );
    assert_eq!(s.connections().await, 0);
    assert_eq!(s.gateway.open_connections(), 0);

    // Subscribing at connection time, with `?types=`.
    let mut socket = s
        .connect_with(&offered, "?types=product.created,stock.*")
        .await
        .unwrap();
    s.product(&ann, "APL", 0).await;
    s.dispatch(&ann).await;
    assert_eq!(pending(&mut socket).await.len(), 1);

    // Messages that are not understood are answered, and the connection stays.
    send(
        &mut socket,
        json!({"action": "subscribe", "types": ["stock.*", "nope.*"]}),
    )
    .await;
    let answer = next(&mut socket).await;
    assert_eq!(answer["kind"], "error");
    assert_eq!(answer["code"], "unknown_event_type");
    assert!(
        answer["detail"].as_str().unwrap().contains("nope.*"),
        "{answer}"
    );
    send(&mut socket, json!("hello")).await;
    assert_eq!(next(&mut socket).await["code"], "bad_message");
    assert!(pending(&mut socket).await.is_empty());

    // At most 20 connections per member and organization (this one, and 19 more).
    let mut more = Vec::new();
    for _ in 0..19 {
        more.push(s.connect_with(&offered, "").await.unwrap());
    }
    assert_eq!(refused(s.connect_with(&offered, "").await), 429);
    more.pop().unwrap().close(None).await.unwrap();
    let mut again = None;
    for _ in 0..50 {
        if let Ok(socket) = s.connect_with(&offered, "").await {
            again = Some(socket);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "a closed connection frees its place");

    // A signed-out session cannot connect.
    sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1::uuid")
        .bind(&ann.user_id)
        .execute(&s.pool)
        .await
        .unwrap();
    assert_eq!(refused(s.connect_with(&offered, "").await), 401);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_connection_ends_with_its_session(pool: PgPool) {
    let s = setup(pool).await;
    let ann = s.products.register("ann@example.com").await;
    let product = s.product(&ann, "APL", 0).await;
    s.dispatch(&ann).await;
    let members = TestApp::new(
        products::app(shared::testing::state_as(
            s.pool.clone(),
            shared::db::Login::Tenant,
            &[],
        )),
        s.pool.clone(),
    );
    let inventory = json!({"inventory": "read"});
    let bob = members
        .with_member(
            &ann,
            "bob@example.com",
            shared::auth::Role::User,
            inventory.clone(),
        )
        .await;
    let cy = members
        .with_member(
            &ann,
            "cy@example.com",
            shared::auth::Role::User,
            inventory.clone(),
        )
        .await;
    let di = members
        .with_member(&ann, "di@example.com", shared::auth::Role::User, inventory)
        .await;
    let mut bobs = s.subscribed(&bob, json!(["*"])).await;
    let mut cys = s.subscribed(&cy, json!(["*"])).await;
    let mut dis = s.subscribed(&di, json!(["*"])).await;

    // Bob signs out; Cy's session moves to another organization; Di is deactivated.
    sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1::uuid")
        .bind(&bob.user_id)
        .execute(&s.pool)
        .await
        .unwrap();
    let zoe = s.products.register("zoe@example.com").await;
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, joined_at) VALUES ($1::uuid, $2::uuid, 'user', now())",
    )
    .bind(&zoe.org_id)
    .bind(&cy.user_id)
    .execute(&s.pool)
    .await
    .unwrap();
    sqlx::query("UPDATE refresh_tokens SET org_id = $1::uuid WHERE user_id = $2::uuid")
        .bind(&zoe.org_id)
        .bind(&cy.user_id)
        .execute(&s.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE memberships SET is_active = false WHERE user_id = $1::uuid")
        .bind(&di.user_id)
        .execute(&s.pool)
        .await
        .unwrap();

    // The next event is pushed to none of them: each connection is closed instead.
    s.receive(&ann, &product, 2).await;
    let report = s.dispatch(&ann).await;
    assert_eq!((report.pushed, report.closed), (0, 3), "{report:?}");
    for socket in [&mut bobs, &mut cys, &mut dis] {
        assert!(closed(socket).await);
    }
    assert_eq!(s.connections().await, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_scheduler_closes_ended_connections_without_an_event(pool: PgPool) {
    let s = setup(pool).await;
    let ann = s.products.register("ann@example.com").await;
    let mut socket = s.subscribed(&ann, json!(["*"])).await;
    // A connection the gateway no longer has (its $disconnect was lost) is forgotten too.
    sqlx::query(
        "INSERT INTO realtime_connections (connection_id, org_id, user_id, session_id)
         SELECT 'lost=', org_id, user_id, session_id FROM realtime_connections",
    )
    .execute(&s.pool)
    .await
    .unwrap();
    let report = dispatch_sweep(&s).await;
    assert_eq!(report.closed, 0, "live sessions stay");
    sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1::uuid")
        .bind(&ann.user_id)
        .execute(&s.pool)
        .await
        .unwrap();
    let report = dispatch_sweep(&s).await;
    assert_eq!(report.closed, 2);
    assert!(closed(&mut socket).await);
    assert_eq!(s.connections().await, 0);
}

async fn dispatch_sweep(s: &crate::support::Setup) -> shared::events::dispatch::Report {
    shared::events::dispatch::sweep(&s.worker, &s.channels, std::time::Duration::ZERO)
        .await
        .unwrap()
}
