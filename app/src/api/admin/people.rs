//! Admin server functions about people: who has signed in, and ending their sessions.

use leptos::prelude::*;

use crate::error::AppError;
use crate::types::{PersonRow, UserId};

/// Everyone who has signed in, with their role, groups and live sessions.
#[server(prefix = "/api/admin", endpoint = "list_people")]
pub async fn list_people() -> Result<Vec<PersonRow>, AppError> {
    use crate::server::{context, people};
    let (state, _) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    people::list(&mut conn, state.clock.now(), state.site.session_policy())
        .await
        .map_err(context::fail)
}

/// Ends every session of a person (they must sign in again); returns how many ended. An admin
/// ending their own sessions keeps the one they are using.
#[server(prefix = "/api/admin", endpoint = "end_sessions")]
pub async fn end_sessions(id: UserId) -> Result<usize, AppError> {
    use crate::server::{context, people, users};
    let (state, admin) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    let target = users::find(&mut conn, id)
        .await
        .map_err(context::fail)?
        .ok_or_else(|| context::fail(AppError::NotFound(format!("Person {id}"))))?;
    let keep = (target.id == admin.id)
        .then(|| context::session_token(&state))
        .flatten();
    let ended = people::end_sessions(
        &mut conn,
        &admin,
        &target,
        keep.as_deref(),
        "ended by an admin",
        state.clock.now(),
    )
    .await
    .map_err(context::fail)?;
    context::redirect_plain_form("/admin/people");
    Ok(ended)
}
