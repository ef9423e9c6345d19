//! Signing in and out. The development login lets anyone be anyone, so it exists only in
//! development mode on a loopback address, and only for requests made directly on this machine
//! (none that came through a proxy); real sign-in goes through the identity provider.

use super::forms::Form;
use super::models::User;
use super::users::{self, Identity};
use super::{sessions, AppState, DbError};
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
    };
    let user = users::sign_in(&mut conn, &who, now).await?;
    let token = sessions::create(&mut conn, user.id, now, state.session_lifetime()).await?;
    tracing::info!(user.id = %user.id, user.role = %role, "development sign-in");
    Ok((user, token))
}

/// Ends the session behind `token`.
pub async fn logout(state: &AppState, token: &str) -> Result<(), AuthError> {
    let mut conn = state.conn().await?;
    sessions::delete(&mut conn, token).await?;
    Ok(())
}
