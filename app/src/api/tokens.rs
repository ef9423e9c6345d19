//! Personal API tokens: make one (its secret shown once), list them, revoke one. Admins see and
//! revoke everyone's.

use leptos::prelude::*;

use crate::error::AppError;
use crate::types::{ApiTokenId, ApiTokenView, CreatedApiToken, TokenLists};

/// The caller's tokens, newest first, and for an admin every person's.
#[server(endpoint = "list_api_tokens")]
pub async fn list_api_tokens() -> Result<TokenLists, AppError> {
    use crate::server::{context, tokens};
    let (state, user) = context::require_user().await?;
    let now = state.clock.now();
    let mut conn = state.conn().await.map_err(context::fail)?;
    let mine = tokens::list(&mut conn, Some(user.id), now)
        .await
        .map_err(context::fail)?;
    let everyone = match user.is_admin() {
        true => Some(
            tokens::list(&mut conn, None, now)
                .await
                .map_err(context::fail)?,
        ),
        false => None,
    };
    Ok(TokenLists { mine, everyone })
}

/// Makes a token for the caller; the answer carries its secret, which is never shown again.
#[server(endpoint = "create_api_token")]
pub async fn create_api_token(
    name: String,
    scope_loans_read: Option<String>,
    scope_loans_write: Option<String>,
    scope_machines_read: Option<String>,
    scope_machines_act: Option<String>,
    scope_admin: Option<String>,
    expires_in_days: Option<String>,
) -> Result<CreatedApiToken, AppError> {
    use crate::server::{context, tokens};
    use crate::types::{NewApiToken, Scope};
    let (state, user) = context::require_user().await?;
    // One checkbox per scope; a checked one sends "on".
    let checked = [
        (scope_loans_read, Scope::LoansRead),
        (scope_loans_write, Scope::LoansWrite),
        (scope_machines_read, Scope::MachinesRead),
        (scope_machines_act, Scope::MachinesAct),
        (scope_admin, Scope::Admin),
    ];
    let input = NewApiToken {
        name,
        scopes: checked
            .into_iter()
            .filter(|(on, _)| on.as_deref().is_some_and(|v| !v.is_empty() && v != "false"))
            .map(|(_, scope)| scope.as_str().to_owned())
            .collect(),
        expires_in_days: expires_in_days.unwrap_or_default(),
    };
    let now = state.clock.now();
    let mut conn = state.conn().await.map_err(context::fail)?;
    let (token, secret) =
        tokens::create(&mut conn, &user, &input, state.site.api_token_max_days, now)
            .await
            .map_err(context::fail)?;
    Ok(CreatedApiToken { token, secret })
}

/// Revokes a token at once: the caller's own, or anyone's for an admin.
#[server(endpoint = "revoke_api_token")]
pub async fn revoke_api_token(id: ApiTokenId) -> Result<ApiTokenView, AppError> {
    use crate::server::{context, tokens};
    let (state, user) = context::require_user().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    let token = tokens::revoke(&mut conn, &user, id, state.clock.now())
        .await
        .map_err(context::fail)?;
    context::redirect_plain_form("/account/tokens");
    Ok(token)
}
