//! Single sign-on through an OpenID Connect provider, and signing out.
//!
//! `GET /auth/login` starts the authorization-code flow with PKCE (S256), a `state` and a
//! `nonce`, bound to the browser by a cookie; `GET /auth/callback` finishes it — the attempt is
//! taken out (single use), the code exchanged with the verifier, the ID token verified
//! (`provider`), the person decided (`claims`), created or updated, and a fresh session
//! started. Every refusal ends on the sign-in page with an explanation (`/login?problem=…`),
//! never a 500 and never a half-made session, and is logged; the ones about a sign-in this
//! site started are audited. `POST /auth/logout` ends the session and, when the provider offers
//! it, the provider's session too (RP-initiated logout).

pub mod attempts;
mod callback;
pub mod claims;
mod logout;
pub mod provider;
mod sso;

use std::sync::Arc;

use app::rules::paths;
use app::server::sessions::{self};
use app::server::AppState;
use app::types::SignInProblem;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{CsrfToken, Nonce, PkceCodeChallenge, Scope};

pub use sso::Sso;

/// How Loaner signs people in, for the routes below: single sign-on, or not (development login).
#[derive(Clone, Default)]
pub struct SignIn {
    pub sso: Option<Arc<Sso>>,
}

/// The sign-in and sign-out routes.
pub fn routes(sign_in: SignIn) -> Router<AppState> {
    Router::new()
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback::callback))
        .route("/auth/logout", post(logout::logout))
        .layer(Extension(sign_in))
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// The sign-in page, explaining `problem`.
fn problem_page(problem: SignInProblem, next: &str) -> Response {
    let mut location = format!("/login?problem={}", problem.code());
    if next != "/" {
        location.push_str("&next=");
        location.push_str(&percent_encode(next));
    }
    see_other(&location)
}

fn percent_encode(text: &str) -> String {
    openidconnect::url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Single-valued query parameters; `None` when a parameter comes twice (a tampered URL).
fn query_params(raw: Option<&str>) -> Option<std::collections::HashMap<String, String>> {
    let mut params = std::collections::HashMap::new();
    for (key, value) in
        openidconnect::url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
    {
        if params
            .insert(key.into_owned(), value.into_owned())
            .is_some()
        {
            return None;
        }
    }
    Some(params)
}

/// The cookie binding the sign-in `attempt_state` names to this browser (`None` clears it).
fn binding_cookie(state: &AppState, attempt_state: &str, value: Option<&str>) -> HeaderValue {
    sessions::cookie_header(
        &state.site.sign_in_cookie_name(attempt_state),
        value,
        attempts::LIFETIME,
        state.site.secure_cookies,
    )
}

/// `GET /auth/login?next=/path`: off to the identity provider.
async fn login(
    State(state): State<AppState>,
    Extension(sign_in): Extension<SignIn>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(sso) = sign_in.sso else {
        return (
            StatusCode::NOT_FOUND,
            "Single sign-on is not configured on this server.",
        )
            .into_response();
    };
    let params = query_params(query.as_deref()).unwrap_or_default();
    let next = paths::next_path(params.get("next").map(String::as_str));
    let Some(metadata) = sso.metadata() else {
        tracing::warn!("sign-in refused: the identity provider has not been discovered yet");
        return problem_page(SignInProblem::ProviderUnavailable, &next);
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let client = sso.client(&metadata);
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in sso.config.scopes.iter().filter(|s| *s != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, csrf, nonce) = request.url();
    let binding = sessions::new_token();
    let stored = async {
        let mut conn = state.conn().await?;
        attempts::start(
            &mut conn,
            csrf.secret(),
            &binding,
            nonce.secret(),
            verifier.secret(),
            &next,
            state.clock.now(),
        )
        .await
    }
    .await;
    if let Err(err) = stored {
        tracing::error!(error = %err, "cannot record a sign-in attempt");
        return problem_page(SignInProblem::ProviderUnavailable, &next);
    }
    with_cookie(
        see_other(url.as_str()),
        binding_cookie(&state, csrf.secret(), Some(&binding)),
    )
}
