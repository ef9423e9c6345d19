//! What every server function does first: find the state, find out who calls, check they may,
//! and answer failures with the right HTTP status.

use http::request::Parts;
use http::{header, HeaderValue, Method};
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

use super::models::User;
use super::{sessions, AppState};
use crate::error::AppError;

/// The application state the server put in context.
pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState is missing from the Leptos context");
        AppError::Internal
    })
}

/// Who calls, looked up once per request: a page asks in its layout and again in the server
/// functions it renders with.
#[derive(Clone, Default)]
struct CallerOnce(std::sync::Arc<tokio::sync::OnceCell<Option<User>>>);

/// What each request (a page or a server function call) starts with in its context.
pub fn provide_request_context() {
    provide_context(CallerOnce::default());
}

/// The signed-in caller, if any.
pub async fn current_user(state: &AppState) -> Result<Option<User>, AppError> {
    match use_context::<CallerOnce>() {
        Some(once) => once
            .0
            .get_or_try_init(|| caller(state, true))
            .await
            .cloned(),
        None => caller(state, true).await,
    }
}

async fn caller(state: &AppState, touch: bool) -> Result<Option<User>, AppError> {
    let Some(parts) = use_context::<Parts>() else {
        return Ok(None);
    };
    let Some(token) = sessions::token_from_headers(&parts.headers, state.site.cookie_name()) else {
        return Ok(None);
    };
    let mut conn = state.conn().await?;
    let policy = state.site.session_policy();
    Ok(sessions::find(&mut conn, &token, state.clock.now(), policy, touch).await?)
}

/// The signed-in caller, or 401.
pub async fn require_user() -> Result<(AppState, User), AppError> {
    let state = state()?;
    match current_user(&state).await? {
        Some(user) => Ok((state, user)),
        None => Err(fail(AppError::Unauthorized)),
    }
}

/// The signed-in caller, or 401, for a page polling for news: it does not count as use of the
/// session (an open page does not keep it alive past the idle timeout).
pub async fn require_user_polling() -> Result<(AppState, User), AppError> {
    let state = state()?;
    match caller(&state, false).await? {
        Some(user) => Ok((state, user)),
        None => Err(fail(AppError::Unauthorized)),
    }
}

/// The signed-in caller if they are an admin; 401 for visitors, 403 for developers.
pub async fn require_admin() -> Result<(AppState, User), AppError> {
    let (state, user) = require_user().await?;
    if user.is_admin() {
        Ok((state, user))
    } else {
        Err(fail(AppError::Forbidden))
    }
}

/// Sets the response status that matches `err` and returns it, for `map_err(fail)`.
///
/// A plain HTML form post (no JavaScript) is answered with a redirect back to the form that
/// carries the error, so its status is left alone.
pub fn fail(err: impl Into<AppError>) -> AppError {
    let err = err.into();
    if let Some(response) = use_context::<ResponseOptions>() {
        if !is_plain_form_post() {
            response.set_status(err.status());
        }
        if let AppError::RateLimited { retry_after_secs } = err {
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.insert_header(header::RETRY_AFTER, value);
            }
        }
    }
    err
}

/// True when the request is a browser form submission rather than a call from the app's WASM.
pub fn is_plain_form_post() -> bool {
    use_context::<Parts>().is_some_and(|parts| {
        parts.method == Method::POST
            && parts
                .headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"))
    })
}

/// Sends a browser that posted a plain form on to `path`; the WASM app navigates by itself.
pub fn redirect_plain_form(path: &str) {
    if is_plain_form_post() {
        leptos_axum::redirect(path);
    }
}

/// Stores (or, with `None`, clears) the session cookie on the response.
pub fn set_session_cookie(state: &AppState, token: Option<&str>) {
    if let Some(response) = use_context::<ResponseOptions>() {
        response.append_header(
            header::SET_COOKIE,
            sessions::cookie_header(
                state.site.cookie_name(),
                token,
                state.site.session_policy().lifetime,
                state.site.secure_cookies,
            ),
        );
    }
}

/// The client's address as the server worked it out (the peer, or what a trusted proxy says),
/// put on each request by the HTTP layer.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub std::net::IpAddr);

/// The calling browser's User-Agent and address, for the sessions list.
pub fn caller_origin() -> (String, String) {
    let Some(parts) = use_context::<Parts>() else {
        return (String::new(), String::new());
    };
    let agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let address = parts
        .extensions
        .get::<ClientAddress>()
        .map(|a| a.0.to_string())
        .unwrap_or_default();
    (agent, address)
}

/// The session token the request carries.
pub fn session_token(state: &AppState) -> Option<String> {
    use_context::<Parts>()
        .and_then(|parts| sessions::token_from_headers(&parts.headers, state.site.cookie_name()))
}

/// The Content-Security-Policy of a page whose inline scripts carry `nonce`: scripts from this
/// site and those inline ones only (never `unsafe-inline` for scripts), WASM compilation, no
/// plugins, never framed. With `email_styles`, inline styles are allowed too: the development
/// mailbox shows a message's HTML, styled inline as every email is, in a sandboxed frame that
/// runs no script.
pub fn page_policy(nonce: &str, email_styles: bool) -> String {
    let styles = if email_styles {
        "'self' 'unsafe-inline'"
    } else {
        "'self'"
    };
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src {styles}; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Puts the page's Content-Security-Policy, with this response's nonce, on the response.
pub fn set_page_policy() {
    let email_styles =
        use_context::<Parts>().is_some_and(|parts| parts.uri.path().starts_with("/admin/mailbox/"));
    if let (Some(nonce), Some(response)) =
        (leptos::nonce::use_nonce(), use_context::<ResponseOptions>())
    {
        if let Ok(value) = http::HeaderValue::from_str(&page_policy(&nonce, email_styles)) {
            response.insert_header(header::CONTENT_SECURITY_POLICY, value);
        }
    }
}

/// Whether the request came through a proxy (it carries `Forwarded`, `X-Forwarded-*`, `Via`
/// or `X-Real-IP`). A bare port forward adds none of them: the development login must never
/// be forwarded to other machines.
pub fn came_through_proxy() -> bool {
    use_context::<Parts>().is_some_and(|parts| {
        parts.headers.keys().any(|name| {
            let name = name.as_str();
            matches!(name, "forwarded" | "via" | "x-real-ip") || name.starts_with("x-forwarded-")
        })
    })
}
