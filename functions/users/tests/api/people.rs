use http::{Method, StatusCode};
use serde_json::json;
use shared::auth::Role;
use shared::testing::{PASSWORD, assert_problem, member, person, register};
use sqlx::PgPool;

use crate::support::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_owner_lists_the_organizations_people_page_by_page(pool: PgPool) {
    let apps = apps(pool);
    let ann = register(&apps.users, "ann@example.com").await;
    for n in 0..3 {
        member(
            &apps.users,
            &ann.org_id,
            &format!("u{n}@example.com"),
            json!({}),
        )
        .await;
    }
    let first = apps
        .users
        .get_with("/api/users?limit=2&include_total=true", &ann.token)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(first.body["total"], 4);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = apps
        .users
        .get_with(&format!("/api/users?limit=2&cursor={cursor}"), &ann.token)
        .await;
    assert_eq!(second.body["items"].as_array().unwrap().len(), 2);
    assert!(second.body["next_cursor"].is_null());
    let emails: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second.body["items"].as_array().unwrap())
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        [
            "ann@example.com",
            "u0@example.com",
            "u1@example.com",
            "u2@example.com"
        ]
    );
    assert!(!first.body.to_string().contains("$2b$"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn lists_filter_by_text_role_and_activity(pool: PgPool) {
    let apps = apps(pool);
    let ann = register(&apps.users, "ann@example.com").await;
    person(
        &apps.users,
        &ann.org_id,
        "bob@example.com",
        Role::Admin,
        json!({}),
    )
    .await;
    member(&apps.users, &ann.org_id, "cat@example.com", json!({})).await;
    let admins = apps
        .users
        .get_with("/api/users?role=admin", &ann.token)
        .await;
    assert_eq!(admins.body["items"].as_array().unwrap().len(), 1);
    let search = apps.users.get_with("/api/users?q=CAT", &ann.token).await;
    assert_eq!(search.body["items"][0]["email"], "cat@example.com");
    let wildcard = apps.users.get_with("/api/users?q=%25", &ann.token).await;
    assert_eq!(
        wildcard.body["items"].as_array().unwrap().len(),
        0,
        "% is a literal, not a wildcard"
    );
    let bad = apps
        .users
        .get_with("/api/users?limit=500", &ann.token)
        .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let bad_role = apps
        .users
        .get_with("/api/users?role=superuser", &ann.token)
        .await;
    assert_problem(
        &bad_role,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_plain_user_cannot_administer(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = register(&apps.users, "ann@example.com").await;
    let bob = member(
        &apps.users,
        &ann.org_id,
        "bob@example.com",
        json!({"products": "write"}),
    )
    .await;
    assert_problem(
        &apps.users.get_with("/api/users", &bob.token).await,
        StatusCode::FORBIDDEN,
        "admin_required",
    );
    let created = apps
        .users
        .post_with(
            "/api/users",
            json!({"email": "x@example.com", "name": "X"}),
            &bob.token,
        )
        .await;
    assert_problem(&created, StatusCode::FORBIDDEN, "admin_required");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 2, "nothing was created");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_user_reaches_only_the_modules_granted(pool: PgPool) {
    let apps = apps(pool);
    let ann = register(&apps.users, "ann@example.com").await;
    let bob = member(
        &apps.users,
        &ann.org_id,
        "bob@example.com",
        json!({"products": "read"}),
    )
    .await;
    assert_eq!(
        apps.probe
            .get_with("/probe/products/read", &bob.token)
            .await
            .status,
        StatusCode::OK
    );
    assert_problem(
        &apps
            .probe
            .get_with("/probe/products/write", &bob.token)
            .await,
        StatusCode::FORBIDDEN,
        "missing_permission",
    );
    // Admins bypass module checks.
    assert_eq!(
        apps.probe
            .get_with("/probe/products/write", &ann.token)
            .await
            .status,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn permission_and_role_changes_apply_on_the_next_request(pool: PgPool) {
    let apps = apps(pool);
    let ann = register(&apps.users, "ann@example.com").await;
    let bob = member(&apps.users, &ann.org_id, "bob@example.com", json!({})).await;
    assert_eq!(
        apps.probe
            .get_with("/probe/products/write", &bob.token)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let updated = patch_stepped_up(
        &apps,
        &ann.token,
        &format!("/api/users/{}", bob.user_id),
        json!({"permissions": {"products": "write"}}),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["effective_permissions"]["products"], "write");
    // Same token as before: the change is read from the database on every request.
    assert_eq!(
        apps.probe
            .get_with("/probe/products/write", &bob.token)
            .await
            .status,
        StatusCode::OK
    );

    let promoted = patch_stepped_up(
        &apps,
        &ann.token,
        &format!("/api/users/{}", bob.user_id),
        json!({"role": "admin"}),
    )
    .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    assert_eq!(
        apps.users.get_with("/api/users", &bob.token).await.status,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn deactivation_applies_at_once_and_ends_sessions(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = register(&apps.users, "ann@example.com").await;
    let bob = person(
        &apps.users,
        &ann.org_id,
        "bob@example.com",
        Role::Admin,
        json!({}),
    )
    .await;
    let response = apps
        .users
        .post_with(
            &format!("/api/users/{}/deactivate", bob.user_id),
            json!({}),
            &ann.token,
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["is_active"], false);
    assert_problem(
        &apps.users.get_with("/api/users", &bob.token).await,
        StatusCode::UNAUTHORIZED,
        "account_deactivated",
    );
    // The session in this organization ended.
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE u.email = 'bob@example.com' AND t.revoked_at IS NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(live, 0);
    // What sign-in reads: inactive, so auth refuses the password (auth's
    // `login::a_deactivated_user_cannot_log_in`).
    assert_eq!(sign_in_state(&pool, "bob@example.com").await, (false, true));

    let back = apps
        .users
        .post_with(
            &format!("/api/users/{}/reactivate", bob.user_id),
            json!({}),
            &ann.token,
        )
        .await;
    assert_eq!(back.body["is_active"], true);
    // A token from before the deactivation stays dead: its session ended with it.
    assert_problem(
        &apps.users.get_with("/api/users", &bob.token).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    );
    // Active again with the password kept: Bob signs in as before.
    assert_eq!(sign_in_state(&pool, "bob@example.com").await, (true, true));
}

/// What sign-in checks of the person with `email`: an active membership (of their only
/// organization), and a password that is [`PASSWORD`].
pub async fn sign_in_state(pool: &PgPool, email: &str) -> (bool, bool) {
    let (active, hash): (bool, Option<String>) = sqlx::query_as(
        "SELECT m.is_active, u.password_hash FROM users u JOIN memberships m ON m.user_id = u.id
         WHERE u.email = $1",
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .unwrap();
    let password = shared::auth::password::verify(PASSWORD, hash.as_deref())
        .await
        .unwrap();
    (active, password)
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn nobody_demotes_or_deactivates_themselves(pool: PgPool) {
    let apps = apps(pool);
    let ann = register(&apps.users, "ann@example.com").await;
    let bob = person(
        &apps.users,
        &ann.org_id,
        "bob@example.com",
        Role::Admin,
        json!({}),
    )
    .await;
    let demote = patch_stepped_up(
        &apps,
        &bob.token,
        &format!("/api/users/{}", bob.user_id),
        json!({"role": "user"}),
    )
    .await;
    assert_problem(&demote, StatusCode::FORBIDDEN, "cannot_change_own_role");
    let deactivate = apps
        .users
        .post_with(
            &format!("/api/users/{}/deactivate", ann.user_id),
            json!({}),
            &ann.token,
        )
        .await;
    assert_problem(&deactivate, StatusCode::FORBIDDEN, "cannot_deactivate_self");
    // Renaming oneself is fine.
    let rename = patch(
        &apps,
        &bob.token,
        &format!("/api/users/{}", bob.user_id),
        json!({"name": "Robert"}),
    )
    .await;
    assert_eq!(rename.body["name"], "Robert");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn only_owners_touch_owners(pool: PgPool) {
    let apps = apps(pool);
    let ann = register(&apps.users, "ann@example.com").await;
    let bob = person(
        &apps.users,
        &ann.org_id,
        "bob@example.com",
        Role::Admin,
        json!({}),
    )
    .await;
    let demote = patch_stepped_up(
        &apps,
        &bob.token,
        &format!("/api/users/{}", ann.user_id),
        json!({"role": "user"}),
    )
    .await;
    assert_problem(&demote, StatusCode::FORBIDDEN, "owner_required");
    let create = apps
        .users
        .stepped_up(
            Method::POST,
            "/api/users",
            Some(json!({"email": "o@example.com", "name": "O", "role": "owner"})),
            &bob.token,
        )
        .await;
    assert_problem(&create, StatusCode::FORBIDDEN, "owner_required");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn two_owners_demoting_each_other_at_once_leave_one_owner(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = register(&apps.users, "ann@example.com").await;
    let bob = person(
        &apps.users,
        &ann.org_id,
        "bob@example.com",
        Role::Owner,
        json!({}),
    )
    .await;
    let (bob_path, ann_path) = (
        format!("/api/users/{}", bob.user_id),
        format!("/api/users/{}", ann.user_id),
    );
    let (a, b) = tokio::join!(
        patch_stepped_up(&apps, &ann.token, &bob_path, json!({"role": "admin"})),
        patch_stepped_up(&apps, &bob.token, &ann_path, json!({"role": "admin"})),
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
    let ann = register(&apps.users, "ann@example.com").await;
    let bob = member(
        &apps.users,
        &ann.org_id,
        "bob@example.com",
        json!({"products": "read"}),
    )
    .await;
    let role = patch_stepped_up(
        &apps,
        &ann.token,
        &format!("/api/users/{}", bob.user_id),
        json!({"role": "superuser"}),
    )
    .await;
    assert_problem(&role, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(role.body["errors"][0]["field"], "role");
    let module = patch_stepped_up(
        &apps,
        &ann.token,
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
    let level = patch_stepped_up(
        &apps,
        &ann.token,
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
        .get_with(&format!("/api/users/{}", bob.user_id), &ann.token)
        .await;
    assert_eq!(unchanged.body["permissions"], json!({"products": "read"}));
    assert_eq!(unchanged.body["role"], "user");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn changes_are_audited_with_before_and_after(pool: PgPool) {
    let apps = apps(pool);
    let ann = register(&apps.users, "ann@example.com").await;
    let bob = member(&apps.users, &ann.org_id, "bob@example.com", json!({})).await;
    let promoted = patch_stepped_up(
        &apps,
        &ann.token,
        &format!("/api/users/{}", bob.user_id),
        json!({"role": "admin"}),
    )
    .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    let log = apps
        .users
        .get_with(
            &format!("/api/audit-log?entity=user&entity_id={}", bob.user_id),
            &ann.token,
        )
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
        .get_with(
            &format!(
                "/api/audit-log?actor_user_id={}&limit=1&include_total=true",
                ann.user_id
            ),
            &ann.token,
        )
        .await;
    assert_eq!(by_actor.body["items"].as_array().unwrap().len(), 1);
    assert!(by_actor.body["total"].as_i64().unwrap() >= 2);
    assert!(by_actor.body["next_cursor"].is_string());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_unknown_or_malformed_id_is_404(pool: PgPool) {
    let apps = apps(pool);
    let ann = register(&apps.users, "ann@example.com").await;
    assert_problem(
        &apps
            .users
            .get_with("/api/users/not-a-uuid", &ann.token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let random = uuid::Uuid::new_v4();
    assert_problem(
        &apps
            .users
            .get_with(&format!("/api/users/{random}"), &ann.token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn changing_a_role_or_permissions_needs_a_step_up_and_a_name_does_not(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = register(&apps.users, "ann@example.com").await;
    let bob = member(
        &apps.users,
        &ann.org_id,
        "bob@example.com",
        json!({"products": "read"}),
    )
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

    let role = patch(&apps, &ann.token, &path, json!({"role": "admin"})).await;
    assert_problem(&role, StatusCode::UNAUTHORIZED, "step_up_required");
    let permissions = patch(
        &apps,
        &ann.token,
        &path,
        json!({"permissions": {"products": "write"}}),
    )
    .await;
    assert_problem(&permissions, StatusCode::UNAUTHORIZED, "step_up_required");
    // A name and a role together: the role still needs it, and the name is not changed alone.
    let both = patch(
        &apps,
        &ann.token,
        &path,
        json!({"name": "Robert", "role": "admin"}),
    )
    .await;
    assert_problem(&both, StatusCode::UNAUTHORIZED, "step_up_required");
    assert_eq!(stored().await, before, "nothing changed without a step-up");

    // Bob's proof is not Ann's.
    let bobs = shared::testing::step_up_token(&bob.token, &format!("PATCH {path}"));
    let foreign = apps
        .users
        .request_with(
            Method::PATCH,
            &path,
            Some(json!({"role": "admin"})),
            Some(&ann.token),
            None,
            &[("X-Step-Up-Token", &bobs)],
        )
        .await;
    assert_problem(&foreign, StatusCode::UNAUTHORIZED, "step_up_required");
    assert_eq!(stored().await, before);

    // A name needs no step-up, but a member's name is theirs: Bob renames himself, Ann herself.
    let renamed = patch(&apps, &ann.token, &path, json!({"name": "Robert"})).await;
    assert_problem(&renamed, StatusCode::FORBIDDEN, "name_is_personal");
    let own = format!("/api/users/{}", ann.user_id);
    let renamed = patch(&apps, &ann.token, &own, json!({"name": "Annie"})).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["name"], "Annie");

    // With Ann's own step-up the role changes.
    let anns = shared::testing::step_up_token(&ann.token, &format!("PATCH {path}"));
    let promoted = apps
        .users
        .request_with(
            Method::PATCH,
            &path,
            Some(json!({"role": "admin"})),
            Some(&ann.token),
            None,
            &[("X-Step-Up-Token", &anns)],
        )
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
    let ann = register(&apps.users, "ann@example.com").await;
    let bob = member(&apps.users, &ann.org_id, "bob@example.com", json!({})).await;
    let cleo = person(
        &apps.users,
        &ann.org_id,
        "cleo@example.com",
        Role::Admin,
        json!({}),
    )
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
        let r = patch_stepped_up(&apps, &ann.token, &path, json!({ "role": role })).await;
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
    let dan = member(&apps.users, &ann.org_id, "dan@example.com", json!({})).await;
    let path = format!("/api/users/{}", dan.user_id);
    let r = patch_stepped_up(
        &apps,
        &ann.token,
        &path,
        json!({"permissions": {"products": "read"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(granted(dan.user_id.clone()).await.is_none());
}
