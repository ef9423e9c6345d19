//! `GET /auth/callback`: finishing a sign-in, or refusing it with an explanation.

use app::server::context::ClientAddress;
use app::server::sessions::{self, Origin};
use app::server::users::{Identity, ProviderIdentity};
use app::server::{audit, AppState};
use app::types::SignInProblem;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use diesel_async::AsyncConnection;
use openidconnect::core::CoreGenderClaim;
use openidconnect::{
    AccessToken, AuthorizationCode, Nonce, OAuth2TokenResponse, PkceCodeVerifier,
    RequestTokenError, SubjectIdentifier, TokenResponse,
};
use serde_json::json;

use super::provider::{OtherClaims, TokenProblem};
use super::{
    attempts, binding_cookie, claims, problem_page, provider, query_params, see_other, with_cookie,
    SignIn, Sso,
};

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
pub(super) async fn callback(
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
    let binding =
        sessions::token_from_headers(headers, &state.site.sign_in_cookie_name(attempt_state));
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
