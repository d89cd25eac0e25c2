//! Rules about memberships that more than one function applies: when someone made an owner or
//! admin by another person may act as one, and telling every owner that it happened.

use std::time::Duration;

use sqlx::PgConnection;
use uuid::Uuid;

use super::role::Role;
use crate::email::outbox::{Mail, Outbox, Text};
use crate::error::ApiError;

/// Refused (403 `admin_cooling_off`) while `user_id`, made an owner or admin of `org_id` by
/// someone else (invited or promoted), is within `cooling_off` of that (or of joining, when they
/// joined later): a second person is only a second person if they did not appear a moment ago.
/// `what` says what they tried (`approve payments`).
pub async fn require_settled_admin(
    conn: &mut PgConnection,
    org_id: Uuid,
    user_id: Uuid,
    cooling_off: Duration,
    what: &str,
) -> Result<(), ApiError> {
    let until = sqlx::query_scalar!(
        r#"SELECT greatest(admin_granted_at, joined_at) + make_interval(secs => $3) AS "until!"
           FROM memberships
           WHERE org_id = $1 AND user_id = $2 AND admin_granted_at IS NOT NULL
             AND greatest(admin_granted_at, joined_at) + make_interval(secs => $3) > now()"#,
        org_id,
        user_id,
        cooling_off.as_secs_f64()
    )
    .fetch_optional(conn)
    .await?;
    match until {
        None => Ok(()),
        Some(until) => Err(ApiError::forbidden(
            "admin_cooling_off",
            format!(
                "you became an owner or admin of this organization recently: you can {what} \
                 from {}",
                until.format("%Y-%m-%d %H:%M UTC")
            ),
        )),
    }
}

/// Queues a mail to every active owner of `org_id` saying that `person` (name, email) became
/// `role` there, by `by` (a name), and what they may not do yet.
pub async fn tell_owners_of_new_admin(
    conn: &mut PgConnection,
    outbox: &Outbox,
    org_id: Uuid,
    person: (&str, &str),
    role: Role,
    by: &str,
    cooling_off: Duration,
) -> Result<(), ApiError> {
    let Some(role) = role_name(role) else {
        return Ok(());
    };
    let (name, email) = person;
    let hours = cooling_off.as_secs() / 3600;
    let owners = Owners::of(&mut *conn, org_id).await?;
    let text = Text::new(
        format!("{name} is now {role} of {}", owners.org),
        format!(
            "{name} <{email}> is now {role} of {org} on Stockroom ({by} made it so).\n\n\
             For the next {hours} hours they cannot approve payments, change suppliers' bank \
             details or the payment approval threshold.\n\n\
             If you did not expect this, sign in, check the organization's people and its audit \
             log, and deactivate them.\n",
            org = owners.org
        ),
    );
    owners
        .tell(conn, outbox, org_id, "admin_granted", text)
        .await
}

/// Queues a mail to every active owner of `org_id` saying that `by` (a name) invited `email` to
/// be `role` there: the owners hear of it before the invitation is accepted.
pub async fn tell_owners_of_admin_invitation(
    conn: &mut PgConnection,
    outbox: &Outbox,
    org_id: Uuid,
    email: &str,
    role: Role,
    by: &str,
) -> Result<(), ApiError> {
    let Some(role) = role_name(role) else {
        return Ok(());
    };
    let owners = Owners::of(&mut *conn, org_id).await?;
    let text = Text::new(
        format!("{by} invited {email} to be {role} of {}", owners.org),
        format!(
            "{by} invited {email} to be {role} of {org} on Stockroom. You will be told again \
             when they accept.\n\n\
             If you did not expect this, sign in and deactivate the invited member in the \
             organization's people: the invitation is then cancelled.\n",
            org = owners.org
        ),
    );
    owners
        .tell(conn, outbox, org_id, "admin_invited", text)
        .await
}

/// "an owner", "an admin"; `None` for a plain user.
fn role_name(role: Role) -> Option<&'static str> {
    match role {
        Role::Owner => Some("an owner"),
        Role::Admin => Some("an admin"),
        Role::User => None,
    }
}

/// An organization's name and its active owners' addresses.
struct Owners {
    org: String,
    emails: Vec<String>,
}

impl Owners {
    async fn of(conn: &mut PgConnection, org_id: Uuid) -> Result<Self, ApiError> {
        let row = sqlx::query!(
            r#"SELECT o.name,
                      coalesce(array_agg(u.email ORDER BY u.email)
                               FILTER (WHERE u.email IS NOT NULL), '{}') AS "owners!"
               FROM organizations o
               LEFT JOIN memberships m ON m.org_id = o.id AND m.role = 'owner' AND m.is_active
                                      AND m.joined_at IS NOT NULL
               LEFT JOIN users u ON u.id = m.user_id
               WHERE o.id = $1
               GROUP BY o.id"#,
            org_id
        )
        .fetch_one(conn)
        .await?;
        Ok(Self {
            org: row.name,
            emails: row.owners,
        })
    }

    async fn tell(
        self,
        conn: &mut PgConnection,
        outbox: &Outbox,
        org_id: Uuid,
        kind: &'static str,
        text: Text,
    ) -> Result<(), ApiError> {
        for owner in self.emails {
            let mail = Mail::to(kind, owner, text.clone());
            outbox.queue(&mut *conn, Some(org_id), mail).await?;
        }
        Ok(())
    }
}

/// The addresses of `org`'s active owners and admins: whom the organization's alarms go to.
pub async fn admin_addresses(conn: &mut PgConnection, org: Uuid) -> Result<Vec<String>, ApiError> {
    Ok(sqlx::query_scalar!(
        "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.org_id = $1 AND m.is_active AND m.joined_at IS NOT NULL
           AND m.role IN ('owner', 'admin')
         ORDER BY u.email",
        org
    )
    .fetch_all(conn)
    .await?)
}
