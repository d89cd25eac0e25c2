//! `PATCH /api/users/{id}`: roles, permissions and names; the owners' rules, the step-up, the
//! cooling-off of a new owner or admin, and the audit trail.
//!
//! Routes: `PATCH /api/users/{id}`, `GET /api/audit-log`.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn permission_and_role_changes_apply_on_the_next_request(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    let bob = apps
        .users
        .member(&ann.org_id, "bob@example.com", json!({}))
        .await;
    assert_eq!(
        apps.probe
            .by(&bob.token)
            .get("/probe/products/write")
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let updated = apps
        .users
        .by(&ann.token)
        .stepped_up()
        .patch(
            &format!("/api/users/{}", bob.user_id),
            json!({"permissions": {"products": "write"}}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["effective_permissions"]["products"], "write");
    // Same token as before: the change is read from the database on every request.
    assert_eq!(
        apps.probe
            .by(&bob.token)
            .get("/probe/products/write")
            .await
            .status,
        StatusCode::OK
    );

    let promoted = apps
        .users
        .by(&ann.token)
        .stepped_up()
        .patch(
            &format!("/api/users/{}", bob.user_id),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    assert_eq!(
        apps.users.by(&bob.token).get("/api/users").await.status,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn nobody_demotes_or_deactivates_themselves(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    let bob = apps
        .users
        .person(&ann.org_id, "bob@example.com", Role::Admin, json!({}))
        .await;
    let demote = apps
        .users
        .by(&bob.token)
        .stepped_up()
        .patch(
            &format!("/api/users/{}", bob.user_id),
            json!({"role": "user"}),
        )
        .await;
    assert_problem(&demote, StatusCode::FORBIDDEN, "cannot_change_own_role");
    let deactivate = apps
        .users
        .by(&ann.token)
        .post(&format!("/api/users/{}/deactivate", ann.user_id), json!({}))
        .await;
    assert_problem(&deactivate, StatusCode::FORBIDDEN, "cannot_deactivate_self");
    // Renaming oneself is fine.
    let rename = apps
        .users
        .by(&bob.token)
        .patch(
            &format!("/api/users/{}", bob.user_id),
            json!({"name": "Robert"}),
        )
        .await;
    assert_eq!(rename.body["name"], "Robert");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn only_owners_touch_owners(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    let bob = apps
        .users
        .person(&ann.org_id, "bob@example.com", Role::Admin, json!({}))
        .await;
    let demote = apps
        .users
        .by(&bob.token)
        .stepped_up()
        .patch(
            &format!("/api/users/{}", ann.user_id),
            json!({"role": "user"}),
        )
        .await;
    assert_problem(&demote, StatusCode::FORBIDDEN, "owner_required");
    let create = apps
        .users
        .by(&bob.token)
        .stepped_up()
        .post(
            "/api/users",
            json!({"email": "o@example.com", "name": "O", "role": "owner"}),
        )
        .await;
    assert_problem(&create, StatusCode::FORBIDDEN, "owner_required");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn two_owners_demoting_each_other_at_once_leave_one_owner(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = apps.users.register("ann@example.com").await;
    let bob = apps
        .users
        .person(&ann.org_id, "bob@example.com", Role::Owner, json!({}))
        .await;
    let (bob_path, ann_path) = (
        format!("/api/users/{}", bob.user_id),
        format!("/api/users/{}", ann.user_id),
    );
    let (a, b) = tokio::join!(
        apps.users
            .by(&ann.token)
            .stepped_up()
            .patch(&bob_path, json!({"role": "admin"})),
        apps.users
            .by(&bob.token)
            .stepped_up()
            .patch(&ann_path, json!({"role": "admin"})),
    );
    let statuses = [a.status, b.status];
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    let owners: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'owner' AND is_active")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(owners, 1, "{:?} / {:?}", a.body, b.body);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn invalid_roles_and_modules_are_422_and_change_nothing(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    let bob = apps
        .users
        .member(&ann.org_id, "bob@example.com", json!({"products": "read"}))
        .await;
    let role = apps
        .users
        .by(&ann.token)
        .stepped_up()
        .patch(
            &format!("/api/users/{}", bob.user_id),
            json!({"role": "superuser"}),
        )
        .await;
    assert_problem(&role, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(role.body["errors"][0]["field"], "role");
    let module = apps
        .users
        .by(&ann.token)
        .stepped_up()
        .patch(
            &format!("/api/users/{}", bob.user_id),
            json!({"permissions": {"weapons": "write"}}),
        )
        .await;
    assert_problem(
        &module,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(module.body["errors"][0]["field"], "permissions.weapons");
    let level = apps
        .users
        .by(&ann.token)
        .stepped_up()
        .patch(
            &format!("/api/users/{}", bob.user_id),
            json!({"permissions": {"products": "admin"}}),
        )
        .await;
    assert_problem(
        &level,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let unchanged = apps
        .users
        .by(&ann.token)
        .get(&format!("/api/users/{}", bob.user_id))
        .await;
    assert_eq!(unchanged.body["permissions"], json!({"products": "read"}));
    assert_eq!(unchanged.body["role"], "user");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn changes_are_audited_with_before_and_after(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    let bob = apps
        .users
        .member(&ann.org_id, "bob@example.com", json!({}))
        .await;
    let promoted = apps
        .users
        .by(&ann.token)
        .stepped_up()
        .patch(
            &format!("/api/users/{}", bob.user_id),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    let log = apps
        .users
        .by(&ann.token)
        .get(&format!(
            "/api/audit-log?entity=user&entity_id={}",
            bob.user_id
        ))
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let items = log.body["items"].as_array().unwrap();
    let update = items
        .iter()
        .find(|e| e["action"] == "user_updated")
        .expect("an update entry");
    assert_eq!(update["before"]["role"], "user");
    assert_eq!(update["after"]["role"], "admin");
    assert_eq!(update["actor_user_id"], ann.user_id.as_str());
    assert_eq!(
        update["actor_name"], "Owner",
        "who acted, as people read it"
    );
    assert!(update["request_id"].is_string());
    // Newest first, filterable by actor, paginated.
    assert_eq!(items[0]["action"], "user_updated");
    let by_actor = apps
        .users
        .by(&ann.token)
        .get(&format!(
            "/api/audit-log?actor_user_id={}&limit=1&include_total=true",
            ann.user_id
        ))
        .await;
    assert_eq!(by_actor.body["items"].as_array().unwrap().len(), 1);
    assert!(by_actor.body["total"].as_i64().unwrap() >= 2);
    assert!(by_actor.body["next_cursor"].is_string());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn changing_a_role_or_permissions_needs_a_step_up_and_a_name_does_not(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = apps.users.register("ann@example.com").await;
    let bob = apps
        .users
        .member(&ann.org_id, "bob@example.com", json!({"products": "read"}))
        .await;
    let path = format!("/api/users/{}", bob.user_id);
    let stored = || async {
        sqlx::query_as::<_, (String, serde_json::Value, String)>(
            "SELECT m.role::text, m.permissions, u.name
             FROM users u JOIN memberships m ON m.user_id = u.id
             WHERE u.email = 'bob@example.com'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let before = stored().await;

    let role = apps
        .users
        .by(&ann.token)
        .patch(&path, json!({"role": "admin"}))
        .await;
    assert_problem(&role, StatusCode::UNAUTHORIZED, "step_up_required");
    let permissions = apps
        .users
        .by(&ann.token)
        .patch(&path, json!({"permissions": {"products": "write"}}))
        .await;
    assert_problem(&permissions, StatusCode::UNAUTHORIZED, "step_up_required");
    // A name and a role together: the role still needs it, and the name is not changed alone.
    let both = apps
        .users
        .by(&ann.token)
        .patch(&path, json!({"name": "Robert", "role": "admin"}))
        .await;
    assert_problem(&both, StatusCode::UNAUTHORIZED, "step_up_required");
    assert_eq!(stored().await, before, "nothing changed without a step-up");

    // Bob's proof is not Ann's.
    let bobs = shared::testing::step_up_token(&bob.token, &format!("PATCH {path}"));
    let foreign = apps
        .users
        .by(&ann.token)
        .header("X-Step-Up-Token", &bobs)
        .patch(&path, json!({"role": "admin"}))
        .await;
    assert_problem(&foreign, StatusCode::UNAUTHORIZED, "step_up_required");
    assert_eq!(stored().await, before);

    // A name needs no step-up, but a member's name is theirs: Bob renames himself, Ann herself.
    let renamed = apps
        .users
        .by(&ann.token)
        .patch(&path, json!({"name": "Robert"}))
        .await;
    assert_problem(&renamed, StatusCode::FORBIDDEN, "name_is_personal");
    let own = format!("/api/users/{}", ann.user_id);
    let renamed = apps
        .users
        .by(&ann.token)
        .patch(&own, json!({"name": "Annie"}))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["name"], "Annie");

    // With Ann's own step-up the role changes.
    let anns = shared::testing::step_up_token(&ann.token, &format!("PATCH {path}"));
    let promoted = apps
        .users
        .by(&ann.token)
        .header("X-Step-Up-Token", &anns)
        .patch(&path, json!({"role": "admin"}))
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    assert_eq!(promoted.body["role"], "admin");
    assert_eq!(stored().await.0, "admin");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn making_someone_an_admin_or_an_owner_starts_their_cooling_off_and_tells_the_owners(
    pool: PgPool,
) {
    let apps = apps(pool.clone());
    let ann = apps.users.register("ann@example.com").await;
    let bob = apps
        .users
        .member(&ann.org_id, "bob@example.com", json!({}))
        .await;
    let cleo = apps
        .users
        .person(&ann.org_id, "cleo@example.com", Role::Admin, json!({}))
        .await;
    let granted = |who: String| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, Option<chrono::DateTime<chrono::Utc>>>(
                "SELECT admin_granted_at FROM memberships WHERE user_id = $1::uuid",
            )
            .bind(who)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert!(
        granted(cleo.user_id.clone()).await.is_none(),
        "an admin of long standing"
    );
    for (who, role) in [(&bob, "admin"), (&cleo, "owner")] {
        let path = format!("/api/users/{}", who.user_id);
        let r = apps
            .users
            .by(&ann.token)
            .stepped_up()
            .patch(&path, json!({ "role": role }))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(
            granted(who.user_id.clone()).await.is_some(),
            "{role}: cooling off"
        );
    }
    // Every owner hears of each: Ann of Bob and of Cleo, Cleo (an owner now) of her own.
    let subjects: Vec<String> = shared::testing::queued_mail(&pool, "ann@example.com")
        .await
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert_eq!(
        subjects,
        [
            "Member is now an admin of Org",
            "Member is now an owner of Org"
        ]
    );
    // A user's permissions changing, or an owner made an admin, starts nothing.
    let dan = apps
        .users
        .member(&ann.org_id, "dan@example.com", json!({}))
        .await;
    let path = format!("/api/users/{}", dan.user_id);
    let r = apps
        .users
        .by(&ann.token)
        .stepped_up()
        .patch(&path, json!({"permissions": {"products": "read"}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(granted(dan.user_id.clone()).await.is_none());
}
