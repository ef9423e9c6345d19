//! `POST /auth/logout`: ending the session here and, when the provider offers it, there.

use app::server::sessions::{self};
use app::server::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use openidconnect::{ClientId, LogoutRequest, PostLogoutRedirectUrl};

use super::provider::SsoIdToken;
use super::{see_other, with_cookie, SignIn, Sso};

/// `POST /auth/logout`: ends the session here and, for a single sign-on session, at the
/// provider (which sends the browser back to `/signed-out`).
pub(super) async fn logout(
    State(state): State<AppState>,
    Extension(sign_in): Extension<SignIn>,
    headers: HeaderMap,
) -> Response {
    let id_token = match sessions::token_from_headers(&headers, state.site.cookie_name()) {
        Some(token) => match app::server::auth::logout(&state, &token).await {
            Ok(id_token) => id_token,
            Err(err) => {
                tracing::error!(error = %err, "cannot end a session");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Loaner cannot reach its database; you are still signed in. Try again.",
                )
                    .into_response();
            }
        },
        None => None,
    };
    let clear = sessions::cookie_header(
        state.site.cookie_name(),
        None,
        state.site.session_policy().lifetime,
        state.site.secure_cookies,
    );
    let at_provider = sign_in
        .sso
        .as_ref()
        .zip(id_token)
        .and_then(|(sso, id_token)| provider_sign_out(sso, &id_token).map(|url| (sso, url)));
    match at_provider {
        Some((sso, url)) => with_cookie(on_to_provider(sso.display_name(), &url), clear),
        None => with_cookie(see_other("/signed-out"), clear),
    }
}

/// A page that sends the browser on to the provider's sign-out. Not a redirect: the sign-out
/// form's `form-action 'self'` would stop a browser from following a redirect to another
/// origin, while a page's own refresh (or the link, without it) is a new navigation.
fn on_to_provider(provider: &str, url: &str) -> Response {
    let url = html_escape(url);
    let provider = html_escape(provider);
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={url}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Signing out · Loaner</title></head>\
         <body><main><h1>Signing out</h1><p>You are signed out of Loaner; {provider} signs you out next. \
         <a href=\"{url}\" data-testid=\"continue-sign-out\">Continue</a></p></main></body></html>"
    );
    let mut response = (StatusCode::OK, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    response
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The provider's end-session URL for this ID token, when it offers one.
fn provider_sign_out(sso: &Sso, id_token: &str) -> Option<String> {
    let metadata = sso.metadata()?;
    let endpoint = metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()?;
    let hint: SsoIdToken = id_token.parse().ok()?;
    let after = PostLogoutRedirectUrl::new(sso.signed_out_url.clone()).ok()?;
    let url = LogoutRequest::from(endpoint)
        .set_id_token_hint(&hint)
        .set_client_id(ClientId::new(sso.config.client_id.clone()))
        .set_post_logout_redirect_uri(after)
        .http_get_url();
    Some(url.to_string())
}
