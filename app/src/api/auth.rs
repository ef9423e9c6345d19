//! Who is signed in; the development login. Signing out is `POST /auth/logout` (a plain form:
//! it may continue at the identity provider).

use leptos::prelude::*;

use crate::error::AppError;
use crate::types::SessionInfo;

/// The caller and the site mode, for the layout.
#[server(endpoint = "get_session")]
pub async fn get_session() -> Result<SessionInfo, AppError> {
    use crate::server::context::{current_user, state};
    let state = state()?;
    let user = current_user(&state).await?;
    Ok(SessionInfo {
        user: user.map(|u| u.view()),
        dev_mode: state.site.dev_login_allowed(),
        sso_name: state.site.sso_name.clone(),
    })
}

/// Signs in as anyone (development mode on loopback only).
#[server(endpoint = "dev_login")]
pub async fn dev_login(
    name: String,
    email: String,
    role: String,
    groups: Option<String>,
    next: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{auth, context};
    let state = context::state()?;
    let (user_agent, address) = context::caller_origin();
    let form = auth::DevLogin {
        user_agent: &user_agent,
        address: &address,
        name: &name,
        email: &email,
        role: &role,
        groups: groups.as_deref().unwrap_or_default(),
        through_proxy: context::came_through_proxy(),
    };
    let (_, token) = auth::dev_login(&state, &form)
        .await
        .map_err(context::fail)?;
    context::set_session_cookie(&state, Some(&token));
    context::redirect_plain_form(&crate::rules::paths::next_path(next.as_deref()));
    Ok(())
}
