//! A person's own account: their signed-in sessions, and ending them.

use leptos::prelude::*;

use crate::error::AppError;
use crate::types::{SessionId, SessionRow};

/// The caller's live sessions, the current one marked.
#[server(endpoint = "my_sessions")]
pub async fn my_sessions() -> Result<Vec<SessionRow>, AppError> {
    use crate::server::{context, sessions};
    let (state, user) = context::require_user().await?;
    let token = context::session_token(&state);
    let mut conn = state.conn().await.map_err(context::fail)?;
    sessions::list(
        &mut conn,
        user.id,
        token.as_deref(),
        state.clock.now(),
        state.site.session_policy(),
    )
    .await
    .map_err(context::fail)
}

/// Ends one of the caller's own sessions (another browser). A session of someone else is
/// "not found", whoever asks.
#[server(endpoint = "end_my_session")]
pub async fn end_my_session(id: SessionId) -> Result<(), AppError> {
    use crate::server::{context, people};
    let (state, user) = context::require_user().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    if !people::end_own_session(&mut conn, &user, id, state.clock.now())
        .await
        .map_err(context::fail)?
    {
        return Err(context::fail(AppError::NotFound(format!("Session {id}"))));
    }
    context::redirect_plain_form("/account");
    Ok(())
}

/// Ends every session of the caller except this one; returns how many ended.
#[server(endpoint = "end_other_sessions")]
pub async fn end_other_sessions() -> Result<usize, AppError> {
    use crate::server::{context, people};
    let (state, user) = context::require_user().await?;
    let Some(token) = context::session_token(&state) else {
        return Err(context::fail(AppError::Unauthorized));
    };
    let mut conn = state.conn().await.map_err(context::fail)?;
    let ended = people::end_sessions(
        &mut conn,
        &user,
        &user,
        Some(&token),
        "signed out elsewhere",
        state.clock.now(),
    )
    .await
    .map_err(context::fail)?;
    context::redirect_plain_form("/account");
    Ok(ended)
}
