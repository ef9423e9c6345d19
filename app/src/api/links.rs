//! One-click links from emails. No sign-in: the token is the authority for its one action.
//! Reading a link never changes anything; only the confirmation page's POST does.

use leptos::prelude::*;

use crate::error::AppError;
use crate::types::LinkView;

/// What a link would do, for the confirmation page.
#[server(endpoint = "get_link")]
pub async fn get_link(token: String) -> Result<LinkView, AppError> {
    use crate::server::{context, links};
    let state = context::state()?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    links::inspect(&mut conn, &token, state.clock.now())
        .await
        .map_err(context::fail)
}

/// Does what the link says, once; a second time is a harmless no-op.
#[server(endpoint = "use_link")]
pub async fn use_link(token: String, reason: Option<String>) -> Result<LinkView, AppError> {
    use crate::server::{context, links};
    let state = context::state()?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    links::redeem(
        &mut conn,
        &token,
        reason.as_deref().unwrap_or_default(),
        &state.site.reminder_offsets_minutes,
        state.clock.now(),
    )
    .await
    .map_err(context::fail)
}
