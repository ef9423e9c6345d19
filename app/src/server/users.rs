//! People: created on first sign-in, updated on each one. Every sign-in is audited, and so is a
//! change of role or groups it brings, with the person as the actor.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Jsonb, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::db::is_unique_violation;
use super::models::User;
use super::schema::users;
use super::{audit, DbError};
use crate::types::{Role, UserId};

/// Who a sign-in says someone is.
#[derive(Clone, Debug)]
pub struct Identity<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub groups: &'a [String],
    /// How they signed in ("development login", "Acme SSO"), for the audit log.
    pub via: &'a str,
}

/// Creates the user with this (lower-cased) email, or updates their name, role and groups, and
/// records the sign-in in the audit log — all in one transaction. Two first sign-ins of the same
/// person at once (two tabs) both succeed: the one that loses the race updates the new row.
pub async fn sign_in(
    conn: &mut AsyncPgConnection,
    who: &Identity<'_>,
    now: DateTime<Utc>,
) -> Result<User, DbError> {
    match sign_in_once(conn, who, now).await {
        Err(DbError::Query(err)) if is_unique_violation(&err, "users_email_key") => {
            sign_in_once(conn, who, now).await
        }
        done => done,
    }
}

async fn sign_in_once(
    conn: &mut AsyncPgConnection,
    who: &Identity<'_>,
    now: DateTime<Utc>,
) -> Result<User, DbError> {
    let groups: Vec<Option<String>> = who.groups.iter().cloned().map(Some).collect();
    let email = who.email.to_lowercase();
    conn.transaction(async |conn| {
        let existing: Option<User> = users::table
            .filter(users::email.eq(&email))
            .for_update()
            .select(User::as_select())
            .first(conn)
            .await
            .optional()?;
        let user = match existing {
            Some(user) => {
                audit::stamp(conn, Some(&user), now).await?;
                diesel::update(users::table.find(user.id))
                    .set((
                        users::name.eq(who.name),
                        users::role.eq(who.role),
                        users::groups.eq(&groups),
                        users::last_login_at.eq(now),
                    ))
                    .returning(User::as_returning())
                    .get_result(conn)
                    .await?
            }
            None => {
                audit::stamp_as(conn, who.name, now).await?;
                diesel::insert_into(users::table)
                    .values((
                        users::email.eq(&email),
                        users::name.eq(who.name),
                        users::role.eq(who.role),
                        users::groups.eq(&groups),
                        users::created_at.eq(now),
                        users::last_login_at.eq(now),
                    ))
                    .returning(User::as_returning())
                    .get_result(conn)
                    .await?
            }
        };
        audit::stamp(conn, Some(&user), now).await?;
        diesel::sql_query("SELECT loaner_audit('user.sign_in', 'users', $1, $2, NULL, $3)")
            .bind::<Text, _>(user.id.to_string())
            .bind::<Text, _>(&user.email)
            .bind::<Jsonb, _>(json!({ "role": user.role, "groups": who.groups, "via": who.via }))
            .execute(conn)
            .await?;
        Ok(user)
    })
    .await
}

/// Finds a user by id.
pub async fn find(conn: &mut AsyncPgConnection, id: UserId) -> Result<Option<User>, DbError> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Everyone with the admin role, who gets the admins' messages.
pub async fn admins(conn: &mut AsyncPgConnection) -> Result<Vec<User>, DbError> {
    Ok(users::table
        .filter(users::role.eq(Role::Admin))
        .order(users::id)
        .select(User::as_select())
        .load(conn)
        .await?)
}
