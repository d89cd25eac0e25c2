//! `/api/suppliers/{id}/contacts`: contacts added, updated and removed, one of them primary.
//!
//! Routes: `GET /api/suppliers/{id}/contacts`, `POST /api/suppliers/{id}/contacts`,
//!  `PATCH /api/suppliers/{id}/contacts/{contact_id}`,
//!  `DELETE /api/suppliers/{id}/contacts/{contact_id}`.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn contacts_are_added_updated_and_removed_with_one_primary(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let supplier = create(&app, &org, json!({"name": "Acme"})).await;
    let base = format!(
        "/api/suppliers/{}/contacts",
        supplier["id"].as_str().unwrap()
    );
    let pat = app
        .by(&org.token)
        .post(
            &base,
            json!({"name": "Pat", "email": "pat@acme.example", "is_primary": true}),
        )
        .await;
    assert_eq!(pat.status, StatusCode::CREATED, "{}", pat.body);
    let sam = app
        .by(&org.token)
        .post(
            &base,
            json!({"name": "Sam", "role": "Accounts", "is_primary": true}),
        )
        .await;
    let contacts = app.by(&org.token).get(&base).await;
    let primaries: Vec<&str> = contacts.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["is_primary"] == true)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(primaries, ["Sam"]);

    let sam_path = format!("{base}/{}", sam.body["id"].as_str().unwrap());
    let updated = app
        .by(&org.token)
        .patch(
            &sam_path,
            json!({"phone": "+44 20 7946 0000", "role": null}),
        )
        .await;
    assert_eq!(updated.body["phone"], "+44 20 7946 0000");
    assert!(updated.body["role"].is_null());
    let removed = app.by(&org.token).delete(&sam_path).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let detail = app
        .by(&org.token)
        .get(&format!(
            "/api/suppliers/{}",
            supplier["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(detail.body["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(detail.body["contacts"][0]["name"], "Pat");
}
