//! Signing in and out. The development login lets anyone be anyone, so it exists only in
//! development mode on a loopback address; real sign-in goes through the identity provider.

use super::models::User;
use super::{sessions, users, AppState, DbError};
use crate::error::{AppError, FieldError};
use crate::rules::validate;
use crate::types::Role;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("The development login is switched off on this server.")]
    DevLoginDisabled,
    #[error("invalid sign-in fields")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<AuthError> for AppError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::DevLoginDisabled => AppError::Forbidden,
            AuthError::Invalid(fields) => AppError::Validation(fields),
            AuthError::Db(db) => db.into(),
        }
    }
}

/// Signs in as whoever the form says (development mode only) and returns the session token.
pub async fn dev_login(
    state: &AppState,
    name: &str,
    email: &str,
    role: &str,
    groups: &str,
) -> Result<(User, String), AuthError> {
    if !state.site.dev_login_allowed() {
        return Err(AuthError::DevLoginDisabled);
    }
    let mut errors = Vec::new();
    let name = validate::person_name(name)
        .map_err(|m| errors.push(FieldError::new("name", m)))
        .ok();
    let email = validate::email(email)
        .map_err(|m| errors.push(FieldError::new("email", m)))
        .ok();
    let role = Role::parse(role)
        .ok_or_else(|| errors.push(FieldError::new("role", "Choose developer or admin.")))
        .ok();
    let mut form = super::forms::Form::default();
    let groups = form.groups("groups", groups).unwrap_or_default();
    if let Err(more) = form.finish() {
        errors.extend(more);
    }
    let (Some(name), Some(email), Some(role)) = (name, email, role) else {
        return Err(AuthError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(AuthError::Invalid(errors));
    }
    let now = state.clock.now();
    let mut conn = state.conn().await?;
    let user = users::sign_in(&mut conn, &email, &name, role, &groups, now).await?;
    let token = sessions::create(&mut conn, user.id, now, state.session_lifetime()).await?;
    tracing::info!(user.id = user.id, user.role = %role, "development sign-in");
    Ok((user, token))
}

/// Ends the session behind `token`.
pub async fn logout(state: &AppState, token: &str) -> Result<(), AuthError> {
    let mut conn = state.conn().await?;
    sessions::delete(&mut conn, token).await?;
    Ok(())
}
