//! Signing in and out. The development login lets anyone be anyone, so it exists only in
//! development mode on a loopback address, and only for requests made directly on this machine
//! (none that came through a proxy); real sign-in goes through the identity provider.

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;

use super::forms::Form;
use super::models::User;
use super::sessions::Origin;
use super::users::{self, Identity, SignInError};
use super::{audit, people, sessions, AppState, DbError};
use crate::error::{AppError, FieldError};
use crate::rules::validate;
use crate::types::Role;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("The development login is switched off on this server.")]
    DevLoginDisabled,
    #[error("The development login only answers requests made directly on this machine, not through a proxy.")]
    DevLoginThroughProxy,
    #[error("invalid sign-in fields")]
    Invalid(Vec<FieldError>),
    #[error("The email {0} belongs to another account.")]
    AccountConflict(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<AuthError> for AppError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::DevLoginDisabled | AuthError::DevLoginThroughProxy => AppError::Refused {
                rule: "dev_login".into(),
                message: err.to_string(),
            },
            AuthError::Invalid(fields) => AppError::Validation(fields),
            AuthError::AccountConflict(_) => AppError::Refused {
                rule: "account_conflict".into(),
                message: err.to_string(),
            },
            AuthError::Db(db) => db.into(),
        }
    }
}

/// What the development login form sends.
pub struct DevLogin<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub role: &'a str,
    pub groups: &'a str,
    /// The request carried `Forwarded` or `X-Forwarded-*`.
    pub through_proxy: bool,
    pub user_agent: &'a str,
    pub address: &'a str,
}

impl From<SignInError> for AuthError {
    fn from(err: SignInError) -> Self {
        match err {
            SignInError::AccountConflict(email) => AuthError::AccountConflict(email),
            SignInError::Db(db) => AuthError::Db(db),
        }
    }
}

/// Signs in as whoever the form says (development mode only) and returns the session token.
pub async fn dev_login(state: &AppState, form: &DevLogin<'_>) -> Result<(User, String), AuthError> {
    if !state.site.dev_login_allowed() {
        return Err(AuthError::DevLoginDisabled);
    }
    if form.through_proxy {
        return Err(AuthError::DevLoginThroughProxy);
    }
    let mut fields = Form::default();
    let mut keep = |field: &str, result: Result<String, String>| {
        result
            .map_err(|m| fields.errors.push(FieldError::new(field, m)))
            .ok()
    };
    let name = keep("name", validate::person_name(form.name));
    let email = keep("email", validate::email(form.email));
    let role = Role::parse(form.role.trim());
    if role.is_none() {
        fields
            .errors
            .push(FieldError::new("role", "Choose developer or admin."));
    }
    let groups = fields.groups("groups", form.groups).unwrap_or_default();
    fields.finish().map_err(AuthError::Invalid)?;
    let (Some(name), Some(email), Some(role)) = (name, email, role) else {
        return Err(AuthError::Invalid(Vec::new()));
    };
    let now = state.clock.now();
    let mut conn = state.conn().await?;
    let who = Identity {
        email: &email,
        name: &name,
        role,
        groups: &groups,
        via: "development login",
        provider: None,
    };
    let origin = Origin {
        user_agent: form.user_agent,
        address: form.address,
        via: "development login",
        id_token: None,
    };
    let (user, token) = sign_in(state, &mut conn, &who, &origin, now).await?;
    tracing::info!(user.id = %user.id, user.role = %role, "development sign-in");
    Ok((user, token))
}

/// Signs `who` in (creating or updating them) and starts a fresh session. Someone who lost the
/// admin role since their last sign-in has every other session ended first, so no browser keeps
/// admin rights they no longer have.
pub async fn sign_in(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    who: &Identity<'_>,
    origin: &Origin<'_>,
    now: DateTime<Utc>,
) -> Result<(User, String), AuthError> {
    let signed_in = users::sign_in(conn, who, now).await?;
    let policy = state.site.session_policy();
    let token = conn
        .transaction(async |conn| {
            if signed_in.demoted() {
                let user = &signed_in.user;
                let ended =
                    people::end_sessions(conn, user, user, None, "no longer an admin", now).await?;
                tracing::info!(user.id = %user.id, ended, "lost the admin role: sessions ended");
            }
            sessions::create(conn, signed_in.user.id, now, policy, origin).await
        })
        .await?;
    Ok((signed_in.user, token))
}

/// Ends the session behind `token`, audited as the person's sign-out; returns the provider's
/// ID token it kept, if any.
pub async fn logout(state: &AppState, token: &str) -> Result<Option<String>, AuthError> {
    let mut conn = state.conn().await?;
    let now = state.clock.now();
    let ended = conn
        .transaction(async |conn| {
            let Some(ended) = sessions::delete(conn, token).await? else {
                return Ok::<_, DbError>(None);
            };
            if let Some(user) = users::find(conn, ended.user_id).await? {
                audit::stamp(conn, Some(&user), now).await?;
                audit::about_person(
                    conn,
                    "user.sign_out",
                    &user.id.to_string(),
                    &user.email,
                    json!({}),
                )
                .await?;
            }
            Ok(Some(ended))
        })
        .await?;
    Ok(ended.and_then(|e| e.id_token))
}
