//! People: created on first sign-in, updated on each one.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::db::is_unique_violation;
use super::models::User;
use super::schema::users;
use super::DbError;
use crate::types::Role;

/// Creates the user with this (lower-cased) email, or updates their name and role, and records
/// the sign-in.
pub async fn sign_in(
    conn: &mut AsyncPgConnection,
    email: &str,
    name: &str,
    role: Role,
    groups: &[String],
    now: DateTime<Utc>,
) -> Result<User, DbError> {
    let groups: Vec<Option<String>> = groups.iter().cloned().map(Some).collect();
    let email = email.to_lowercase();
    // Two first sign-ins of the same person can race; the loser updates the winner's row.
    for _ in 0..2 {
        let updated = diesel::update(users::table.filter(users::email.eq(&email)))
            .set((
                users::name.eq(name),
                users::role.eq(role.as_str()),
                users::groups.eq(&groups),
                users::last_login_at.eq(now),
            ))
            .returning(User::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        if let Some(user) = updated {
            return Ok(user);
        }
        let inserted = diesel::insert_into(users::table)
            .values((
                users::email.eq(&email),
                users::name.eq(name),
                users::role.eq(role.as_str()),
                users::groups.eq(&groups),
                users::created_at.eq(now),
                users::last_login_at.eq(now),
            ))
            .returning(User::as_returning())
            .get_result(conn)
            .await;
        match inserted {
            Ok(user) => return Ok(user),
            Err(err) if is_unique_violation(&err, "users_email_key") => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(DbError::Query(diesel::result::Error::NotFound))
}

/// Finds a user by id.
pub async fn find(conn: &mut AsyncPgConnection, id: i64) -> Result<Option<User>, DbError> {
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
        .filter(users::role.eq(Role::Admin.as_str()))
        .order(users::id)
        .select(User::as_select())
        .load(conn)
        .await?)
}
