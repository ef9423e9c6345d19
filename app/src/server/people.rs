//! People and their sessions, for their own account page and for the admins' people page.
//! Ending sessions is audited, with who ended them.

use chrono::{DateTime, Utc};
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::models::User;
use super::schema::{sessions as sessions_table, users};
use super::sessions::{self, SessionPolicy};
use super::{audit, DbError};
use crate::types::{PersonRow, SessionId, UserId};

/// Everyone who has signed in, admins first, then by name, with their live sessions counted.
pub async fn list(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    policy: SessionPolicy,
) -> Result<Vec<PersonRow>, DbError> {
    let people: Vec<User> = users::table
        .order((users::role.asc(), users::name.asc(), users::id.asc()))
        .select(User::as_select())
        .load(conn)
        .await?;
    let counts: Vec<(UserId, i64)> = sessions_table::table
        .filter(sessions_table::expires_at.gt(now))
        .filter(sessions_table::last_seen_at.gt(now - policy.idle))
        .group_by(sessions_table::user_id)
        .select((sessions_table::user_id, count_star()))
        .load(conn)
        .await?;
    Ok(people
        .into_iter()
        .map(|user| PersonRow {
            active_sessions: counts
                .iter()
                .find(|(id, _)| *id == user.id)
                .map_or(0, |(_, n)| *n),
            groups: user.groups(),
            id: user.id,
            name: user.name,
            email: user.email,
            role: user.role,
            last_sign_in: user.last_login_at,
        })
        .collect())
}

/// Ends `target`'s sessions (all, or all but the caller's own `keep`), audited with `actor`
/// as who did it and `reason`. Returns how many ended.
pub async fn end_sessions(
    conn: &mut AsyncPgConnection,
    actor: &User,
    target: &User,
    keep: Option<&str>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    conn.transaction(async |conn| {
        let ended = sessions::end_all(conn, target.id, keep).await?;
        audit::stamp(conn, Some(actor), now).await?;
        // An admin signing someone out everywhere ends their API tokens too.
        if actor.id != target.id {
            super::tokens::revoke_all_of(conn, target.id, actor.id, now).await?;
        }
        audit::about_person(
            conn,
            "user.sessions_ended",
            &target.id.to_string(),
            &target.email,
            json!({ "sessions": ended, "kept_current": keep.is_some(), "reason": reason }),
        )
        .await?;
        Ok(ended)
    })
    .await
}

/// Ends one of `user`'s own sessions; false when they have no such session.
pub async fn end_own_session(
    conn: &mut AsyncPgConnection,
    user: &User,
    id: SessionId,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    conn.transaction(async |conn| {
        let ended = sessions::end_one(conn, user.id, id).await?;
        if ended {
            audit::stamp(conn, Some(user), now).await?;
            audit::about_person(
                conn,
                "user.sessions_ended",
                &user.id.to_string(),
                &user.email,
                json!({ "sessions": 1, "session": id }),
            )
            .await?;
        }
        Ok(ended)
    })
    .await
}
