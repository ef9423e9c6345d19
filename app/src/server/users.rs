//! People: created on first sign-in, updated on each one. Every sign-in is audited, and so is a
//! change of role or groups it brings, with the person as the actor.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
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
    /// The identity provider's stable name for the person (single sign-on only).
    pub provider: Option<ProviderIdentity<'a>>,
}

/// The provider's issuer and subject (`iss`, `sub`): who the person is, whatever their email.
#[derive(Clone, Copy, Debug)]
pub struct ProviderIdentity<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The email is another account's: one known by a different provider identity, or the
    /// person's new email is already taken.
    #[error("the email {0} belongs to another account")]
    AccountConflict(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for SignInError {
    fn from(err: diesel::result::Error) -> Self {
        SignInError::Db(err.into())
    }
}

/// A finished sign-in: the person as stored now, and the role they had before (None: new).
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub previous_role: Option<Role>,
}

impl SignedIn {
    /// They were an admin and are not any more.
    pub fn demoted(&self) -> bool {
        self.previous_role == Some(Role::Admin) && self.user.role != Role::Admin
    }
}

/// Creates the person or updates their name, email, role and groups, and records the sign-in
/// in the audit log — all in one transaction. Single sign-on finds the person by the provider's
/// subject first, then by email (linking an account that has no provider identity yet); an
/// email already tied to a different subject is refused. Two first sign-ins of the same person
/// at once (two tabs) both succeed: the one that loses the race updates the new row.
pub async fn sign_in(
    conn: &mut AsyncPgConnection,
    who: &Identity<'_>,
    now: DateTime<Utc>,
) -> Result<SignedIn, SignInError> {
    match sign_in_once(conn, who, now).await {
        Err(SignInError::Db(DbError::Query(err)))
            if is_unique_violation(&err, "users_email_key")
                || is_unique_violation(&err, "users_sso_key") =>
        {
            sign_in_once(conn, who, now).await
        }
        done => done,
    }
}

async fn sign_in_once(
    conn: &mut AsyncPgConnection,
    who: &Identity<'_>,
    now: DateTime<Utc>,
) -> Result<SignedIn, SignInError> {
    let groups: Vec<Option<String>> = who.groups.iter().cloned().map(Some).collect();
    let email = who.email.to_ascii_lowercase();
    conn.transaction(async |conn| {
        let by_subject: Option<User> = match who.provider {
            Some(p) => users::table
                .filter(users::sso_issuer.eq(p.issuer))
                .filter(users::sso_subject.eq(p.subject))
                .for_update()
                .select(User::as_select())
                .first(conn)
                .await
                .optional()
                .map_err(DbError::from)?,
            None => None,
        };
        let by_email: Option<(User, Option<String>, Option<String>)> = users::table
            .filter(users::email.eq(&email))
            .for_update()
            .select((User::as_select(), users::sso_issuer, users::sso_subject))
            .first(conn)
            .await
            .optional()
            .map_err(DbError::from)?;
        let existing = match (by_subject, by_email, who.provider) {
            (Some(user), Some((other, _, _)), _) if other.id != user.id => {
                return Err(SignInError::AccountConflict(email.clone()));
            }
            (Some(user), _, _) => Some(user),
            // Known by another subject (or another provider): not this person.
            (None, Some((_, Some(_), Some(_))), Some(_)) => {
                return Err(SignInError::AccountConflict(email.clone()));
            }
            (None, Some((user, _, _)), _) => Some(user),
            (None, None, _) => None,
        };
        let previous_role = existing.as_ref().map(|u| u.role);
        let (issuer, subject) = match who.provider {
            Some(p) => (Some(p.issuer), Some(p.subject)),
            None => (None, None),
        };
        let user = match existing {
            Some(user) => {
                audit::stamp(conn, Some(&user), now).await?;
                let changes = (
                    users::email.eq(&email),
                    users::name.eq(who.name),
                    users::role.eq(who.role),
                    users::groups.eq(&groups),
                    users::last_login_at.eq(now),
                );
                let query = diesel::update(users::table.find(user.id));
                let updated = if who.provider.is_some() {
                    query
                        .set((
                            changes,
                            users::sso_issuer.eq(issuer),
                            users::sso_subject.eq(subject),
                        ))
                        .returning(User::as_returning())
                        .get_result(conn)
                        .await
                } else {
                    query
                        .set(changes)
                        .returning(User::as_returning())
                        .get_result(conn)
                        .await
                };
                updated.map_err(DbError::from)?
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
                        users::sso_issuer.eq(issuer),
                        users::sso_subject.eq(subject),
                    ))
                    .returning(User::as_returning())
                    .get_result(conn)
                    .await
                    .map_err(DbError::from)?
            }
        };
        audit::stamp(conn, Some(&user), now).await?;
        audit::about_person(
            conn,
            "user.sign_in",
            &user.id.to_string(),
            &user.email,
            json!({ "role": user.role, "groups": who.groups, "via": who.via }),
        )
        .await?;
        Ok(SignedIn {
            user,
            previous_role,
        })
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
