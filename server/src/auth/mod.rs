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
pub mod claims;
pub mod provider;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration as StdDuration, Instant};

use app::rules::validate;
use app::server::context::ClientAddress;
use app::server::sessions::{self, Origin};
use app::server::users::{Identity, ProviderIdentity};
use app::server::{audit, AppState, PublicUrl};
use app::types::SignInProblem;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use diesel_async::AsyncConnection;
use openidconnect::core::{CoreAuthenticationFlow, CoreGenderClaim, CoreJsonWebKeySet};
use openidconnect::{
    AccessToken, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, RedirectUrl, RequestTokenError, Scope, SubjectIdentifier, TokenResponse,
};
use serde_json::json;
use tokio::sync::watch;

use crate::config::{ClientAuthMethod, OidcConfig, Secret};
use provider::{Metadata, OtherClaims, SsoClient, SsoIdToken, TokenChecks, TokenProblem};

/// How Loaner signs people in, for the routes below: single sign-on, or not (development login).
#[derive(Clone, Default)]
pub struct SignIn {
    pub sso: Option<Arc<Sso>>,
}

/// The configured identity provider and what was discovered about it.
pub struct Sso {
    config: OidcConfig,
    secret: Option<Secret>,
    http: openidconnect::reqwest::Client,
    callback_url: RedirectUrl,
    signed_out_url: String,
    discovered: RwLock<Option<Arc<Metadata>>>,
    keys_fetched: Mutex<Option<Instant>>,
}

impl Sso {
    pub fn new(config: &OidcConfig, public_url: &PublicUrl) -> anyhow::Result<Arc<Self>> {
        let http = openidconnect::reqwest::Client::builder()
            // The provider's answers are never followed elsewhere (SSRF).
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(StdDuration::from_secs(10))
            .build()?;
        Ok(Arc::new(Self {
            secret: config.secret()?,
            config: config.clone(),
            http,
            callback_url: RedirectUrl::new(format!("{}/auth/callback", public_url.url))?,
            signed_out_url: format!("{}/signed-out", public_url.url),
            discovered: RwLock::new(None),
            keys_fetched: Mutex::new(None),
        }))
    }

    pub fn display_name(&self) -> &str {
        &self.config.display_name
    }

    /// Discovery has succeeded: sign-ins can start.
    pub fn is_ready(&self) -> bool {
        self.metadata().is_some()
    }

    fn metadata(&self) -> Option<Arc<Metadata>> {
        self.discovered.read().ok().and_then(|d| d.clone())
    }

    /// Reads the discovery document and the signing keys.
    pub async fn discover(&self) -> anyhow::Result<()> {
        // Exactly as configured: discovery must name the same issuer, trailing slash and all.
        let issuer = IssuerUrl::new(self.config.issuer.trim().to_owned())?;
        let metadata = Metadata::discover_async(issuer, &self.http).await?;
        if let Ok(mut at) = self.keys_fetched.lock() {
            *at = Some(Instant::now());
        }
        if let Ok(mut slot) = self.discovered.write() {
            *slot = Some(Arc::new(metadata));
        }
        Ok(())
    }

    /// Keeps discovery current: retried with backoff (1 s doubling to a minute) while the
    /// provider is unreachable, then refreshed hourly.
    pub fn keep_discovered(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tokio::spawn(async move {
            let mut backoff = StdDuration::from_secs(1);
            let mut healthy = false;
            loop {
                let wait = match self.discover().await {
                    Ok(()) => {
                        if !healthy {
                            tracing::info!(issuer = %self.config.issuer, "identity provider discovered");
                        }
                        healthy = true;
                        backoff = StdDuration::from_secs(1);
                        StdDuration::from_secs(3600)
                    }
                    Err(err) => {
                        healthy = false;
                        tracing::warn!(issuer = %self.config.issuer, error = %err, retry_in = ?backoff, "identity provider discovery failed");
                        let wait = backoff;
                        backoff = (backoff * 2).min(StdDuration::from_secs(60));
                        wait
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            }
        });
    }

    fn client(&self, metadata: &Metadata) -> SsoClient {
        SsoClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            self.secret.as_ref().map(|s| ClientSecret::new(s.0.clone())),
        )
        .set_redirect_uri(self.callback_url.clone())
        .set_auth_type(match self.config.client_auth_method {
            ClientAuthMethod::ClientSecretBasic => AuthType::BasicAuth,
            ClientAuthMethod::ClientSecretPost => AuthType::RequestBody,
        })
    }

    fn checks(&self, metadata: &Metadata) -> TokenChecks {
        TokenChecks {
            client_id: self.config.client_id.clone(),
            issuer: metadata.issuer().to_string(),
            keys: metadata.jwks().clone(),
        }
    }

    /// Fetches the signing keys again (a token named a key id we do not know), at most once per
    /// `provider::REFETCH_AFTER`. Returns whether new keys were stored.
    async fn refetch_keys(&self, metadata: &Metadata) -> bool {
        {
            let Ok(mut last) = self.keys_fetched.lock() else {
                return false;
            };
            if !provider::may_refetch(*last) {
                return false;
            }
            *last = Some(Instant::now());
        }
        match CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http).await {
            Ok(keys) => {
                let updated = metadata.clone().set_jwks(keys);
                if let Ok(mut slot) = self.discovered.write() {
                    *slot = Some(Arc::new(updated));
                }
                tracing::info!("refetched the identity provider's signing keys");
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot refetch the identity provider's signing keys");
                false
            }
        }
    }
}

/// The sign-in and sign-out routes.
pub fn routes(sign_in: SignIn) -> Router<AppState> {
    Router::new()
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback))
        .route("/auth/logout", post(logout))
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

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie, _)| *cookie == name)
        .map(|(_, value)| value.to_owned())
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
    let next = validate::next_path(params.get("next").map(String::as_str));
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

/// Why a callback was refused, and whether it was a sign-in this site started (audited).
struct Refusal {
    problem: SignInProblem,
    /// For the log and the audit entry.
    detail: String,
    /// Who the provider said it was, once known.
    who: Option<(String, Option<String>)>,
}

impl Refusal {
    fn new(problem: SignInProblem, detail: impl Into<String>) -> Self {
        Self {
            problem,
            detail: detail.into(),
            who: None,
        }
    }
}

/// `GET /auth/callback?code=…&state=…`: back from the identity provider.
async fn callback(
    State(state): State<AppState>,
    Extension(sign_in): Extension<SignIn>,
    address: Option<Extension<ClientAddress>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let address = address.map(|a| a.0 .0.to_string()).unwrap_or_default();
    let Some(sso) = sign_in.sso else {
        return (
            StatusCode::NOT_FOUND,
            "Single sign-on is not configured on this server.",
        )
            .into_response();
    };
    let Some(params) = query_params(query.as_deref()) else {
        tracing::warn!("sign-in callback refused: a parameter came twice");
        return problem_page(SignInProblem::Expired, "/");
    };
    let Some(state_param) = params.get("state") else {
        tracing::warn!("sign-in callback refused: no state");
        return problem_page(SignInProblem::Expired, "/");
    };
    let clear_binding = binding_cookie(&state, state_param, None);
    let now = state.clock.now();
    let taken = match state.conn().await {
        Ok(mut conn) => attempts::take(&mut conn, state_param).await,
        Err(err) => Err(err),
    };
    let attempt = match taken {
        Ok(Some(attempt)) => attempt,
        Ok(None) => {
            // Not a sign-in this site started, or one already finished: a replay or a forgery.
            tracing::warn!("sign-in callback refused: unknown or already used state");
            return with_cookie(problem_page(SignInProblem::Expired, "/"), clear_binding);
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot look up a sign-in attempt");
            return with_cookie(
                problem_page(SignInProblem::ProviderUnavailable, "/"),
                clear_binding,
            );
        }
    };
    let next = attempt.next_path.clone();
    let response = match finish(&state, &sso, &attempt, &params, &headers, &address, now).await {
        Ok(token) => {
            // The browser's earlier session (if any) ends: one browser, one person.
            if let Some(old) = sessions::token_from_headers(&headers, state.site.cookie_name()) {
                if let Ok(mut conn) = state.conn().await {
                    let _ = sessions::delete(&mut conn, &old).await;
                }
            }
            with_cookie(
                see_other(&next),
                sessions::cookie_header(
                    state.site.cookie_name(),
                    Some(&token),
                    state.site.session_policy().lifetime,
                    state.site.secure_cookies,
                ),
            )
        }
        Err(refusal) => {
            tracing::warn!(problem = refusal.problem.code(), detail = %refusal.detail, "sign-in refused");
            record_refusal(&state, &refusal, now).await;
            problem_page(refusal.problem, &next)
        }
    };
    with_cookie(response, clear_binding)
}

/// Everything after the attempt was found: the checks, the code exchange, the token, the
/// person, the session. Returns the new session's token.
async fn finish(
    state: &AppState,
    sso: &Sso,
    attempt: &attempts::Attempt,
    params: &std::collections::HashMap<String, String>,
    headers: &HeaderMap,
    address: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, Refusal> {
    let attempt_state = params.get("state").map(String::as_str).unwrap_or_default();
    if attempt.expires_at <= now {
        return Err(Refusal::new(
            SignInProblem::Expired,
            "the sign-in attempt expired",
        ));
    }
    let binding = cookie_value(headers, &state.site.sign_in_cookie_name(attempt_state));
    if binding.is_none_or(|b| attempts::hash(&b) != attempt.binding_hash) {
        return Err(Refusal::new(
            SignInProblem::OtherBrowser,
            "the browser does not hold the cookie of the attempt",
        ));
    }
    if let Some(error) = params.get("error") {
        let problem = match error.as_str() {
            "access_denied" => SignInProblem::Cancelled,
            "temporarily_unavailable" | "server_error" => SignInProblem::ProviderUnavailable,
            _ => SignInProblem::Rejected,
        };
        let description = params
            .get("error_description")
            .map(String::as_str)
            .unwrap_or_default();
        return Err(Refusal::new(
            problem,
            format!(
                "the provider answered {}: {}",
                printable(error),
                printable(description)
            ),
        ));
    }
    let metadata = sso.metadata().ok_or_else(|| {
        Refusal::new(
            SignInProblem::ProviderUnavailable,
            "the provider is not discovered",
        )
    })?;
    let issuer = metadata.issuer().to_string();
    match params.get("iss") {
        Some(iss) if *iss != issuer => {
            return Err(Refusal::new(
                SignInProblem::Rejected,
                format!(
                    "the callback names issuer {}, not {issuer} (mix-up attack?)",
                    printable(iss)
                ),
            ))
        }
        None if metadata
            .additional_metadata()
            .additional_metadata
            .authorization_response_iss_parameter_supported =>
        {
            return Err(Refusal::new(
                SignInProblem::Rejected,
                "the provider promises `iss` in the callback but there is none",
            ))
        }
        _ => {}
    }
    let code = params
        .get("code")
        .ok_or_else(|| Refusal::new(SignInProblem::Rejected, "the callback has no code"))?;
    let client = sso.client(&metadata);
    let exchange = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .map_err(|e| Refusal::new(SignInProblem::ProviderUnavailable, e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(attempt.pkce_verifier.clone()))
        .request_async(&sso.http)
        .await;
    let tokens = exchange.map_err(|err| match err {
        RequestTokenError::ServerResponse(answer) => Refusal::new(
            SignInProblem::Rejected,
            format!("the provider refused the code: {answer}"),
        ),
        other => Refusal::new(
            SignInProblem::ProviderUnavailable,
            format!("the code exchange failed: {other}"),
        ),
    })?;
    let raw = tokens
        .id_token()
        .map(|t| t.to_string())
        .ok_or_else(|| Refusal::new(SignInProblem::Rejected, "the provider sent no ID token"))?;
    let nonce = Nonce::new(attempt.nonce.clone());
    let mut verified = provider::verify_id_token(&raw, &sso.checks(&metadata), &nonce, now);
    if matches!(verified, Err(TokenProblem::UnknownKey)) && sso.refetch_keys(&metadata).await {
        let metadata = sso.metadata().unwrap_or(metadata.clone());
        verified = provider::verify_id_token(&raw, &sso.checks(&metadata), &nonce, now);
    }
    let token = verified.map_err(|e| Refusal::new(SignInProblem::Rejected, e.to_string()))?;
    let mut email = token.email.clone();
    let mut email_verified = token.email_verified;
    let mut name = token.name.clone();
    let mut groups = claims::groups_from(token.other.0.get(&sso.config.groups_claim));
    let who = |email: &Option<String>| Some((token.subject.clone(), email.clone()));
    if (groups.is_none() || email.is_none() || email_verified.is_none())
        && metadata.userinfo_endpoint().is_some()
    {
        let info = async {
            client
                .user_info(
                    AccessToken::new(tokens.access_token().secret().clone()),
                    Some(SubjectIdentifier::new(token.subject.clone())),
                )
                .map_err(|e| e.to_string())?
                .request_async::<OtherClaims, _, CoreGenderClaim>(&sso.http)
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        match info {
            Ok(info) => {
                groups = groups.or_else(|| {
                    claims::groups_from(info.additional_claims().0.get(&sso.config.groups_claim))
                });
                let info_email = info.email().map(|e| e.to_string());
                if email.is_none() {
                    email = info_email.clone();
                }
                // Userinfo vouches only for the address it names itself.
                if email_verified.is_none() && info_email.is_some() && info_email == email {
                    email_verified = info.email_verified();
                }
                if name.is_none() {
                    name = info.name().and_then(|n| n.get(None)).map(|n| n.to_string());
                }
            }
            // Only the groups were missing: sign in without them rather than not at all.
            Err(e) if email.is_some() && email_verified.is_some() => {
                tracing::warn!(error = %e, "userinfo failed; signing in without groups from it");
            }
            Err(e) => {
                return Err(Refusal {
                    who: who(&email),
                    ..Refusal::new(
                        SignInProblem::ProviderUnavailable,
                        format!("userinfo failed: {e}"),
                    )
                })
            }
        }
    }
    let person = claims::decide(
        &sso.config,
        email.as_deref(),
        email_verified,
        name.as_deref(),
        groups.unwrap_or_default(),
    )
    .map_err(|problem| Refusal {
        who: who(&email),
        ..Refusal::new(problem, "the claims do not allow a sign-in")
    })?;
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let identity = Identity {
        email: &person.email,
        name: &person.name,
        role: person.role,
        groups: &person.groups,
        via: sso.display_name(),
        provider: Some(ProviderIdentity {
            issuer: &token.issuer,
            subject: &token.subject,
        }),
    };
    let origin = Origin {
        user_agent,
        address,
        via: sso.display_name(),
        id_token: Some(&raw),
    };
    let mut conn = state.conn().await.map_err(|e| {
        Refusal::new(
            SignInProblem::ProviderUnavailable,
            format!("no database connection: {e}"),
        )
    })?;
    let signed_in = app::server::auth::sign_in(state, &mut conn, &identity, &origin, now).await;
    match signed_in {
        Ok((user, session)) => {
            tracing::info!(user.id = %user.id, user.role = %user.role, "single sign-on");
            Ok(session)
        }
        Err(app::server::auth::AuthError::AccountConflict(email)) => Err(Refusal {
            who: Some((token.subject.clone(), Some(email))),
            ..Refusal::new(
                SignInProblem::AccountConflict,
                "the email is another account's",
            )
        }),
        Err(err) => Err(Refusal::new(
            SignInProblem::ProviderUnavailable,
            format!("cannot store the sign-in: {err}"),
        )),
    }
}

/// Text from a request, fit for a log line and the audit log: at most 200 characters, control
/// characters escaped.
fn printable(text: &str) -> String {
    text.chars()
        .take(200)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Audits a refused sign-in that this site started (strays are only logged).
async fn record_refusal(state: &AppState, refusal: &Refusal, now: chrono::DateTime<chrono::Utc>) {
    let (subject, email) = refusal.who.clone().unwrap_or_default();
    let actor = match (&subject, &email) {
        (s, Some(e)) if !s.is_empty() => format!("subject {s} (claimed email {e})"),
        (s, None) if !s.is_empty() => format!("subject {s}"),
        _ => "someone signing in".to_owned(),
    };
    let details = json!({ "problem": refusal.problem.code(), "detail": refusal.detail });
    let target = email.as_deref().unwrap_or("-");
    let written = async {
        let mut conn = state.conn().await?;
        conn.transaction(async |conn| {
            audit::stamp_as(conn, &actor, now).await?;
            audit::about_person(conn, "user.sign_in_refused", "-", target, details).await
        })
        .await
    }
    .await;
    if let Err(err) = written {
        tracing::error!(error = %err, "cannot audit a refused sign-in");
    }
}

/// `POST /auth/logout`: ends the session here and, for a single sign-on session, at the
/// provider (which sends the browser back to `/signed-out`).
async fn logout(
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
