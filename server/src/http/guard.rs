//! The guards in front of the app. `Host` must name this site (or the page is refused with 421:
//! a DNS-rebinding page on another name that resolves here gets nothing). State-changing
//! requests must come from this site's own pages: `Origin` is compared with the public URL
//! (scheme, host and port); without one, `Sec-Fetch-Site` and then `Referer` decide. Admin
//! pages answer 401 to visitors and 403 to developers (the page itself explains).

use app::error::AppError;
use app::server::{sessions, AppState};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::refusal::{refuse, refuse_status};

/// Paths a load balancer probes with whatever `Host` it likes; they reveal nothing.
fn any_host_may_ask(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

/// Refuses requests for another host name.
pub async fn host(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if any_host_may_ask(request.uri().path()) {
        return next.run(request).await;
    }
    // The Host header names the site; an absolute-form request line may name it instead, but
    // never a different one.
    let header = request.headers().get(header::HOST);
    let authority = request.uri().authority().map(|a| a.as_str());
    let host = match (header, authority) {
        (Some(header), authority) => header
            .to_str()
            .ok()
            .filter(|h| authority.is_none_or(|a| a.eq_ignore_ascii_case(h))),
        (None, authority) => authority,
    };
    if host.is_some_and(|h| state.site.answers_for(h)) {
        return next.run(request).await;
    }
    tracing::warn!(host = ?host, "refused a request for another host name");
    refuse_status(
        request.headers(),
        request.uri().path(),
        StatusCode::MISDIRECTED_REQUEST,
        &format!(
            "This server answers for {} only.",
            state.site.public_url.origin()
        ),
    )
}

/// Whether a state-changing request comes from this site's own pages (or from no browser).
///
/// `Origin: null` is what a browser sends for a plain form posted from a page with
/// `Referrer-Policy: no-referrer` (the one-click link pages) — and from a sandboxed frame on any
/// site; fetch metadata tells the two apart, and without it the request is refused.
pub fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let fetch_site = text(header::HeaderName::from_static("sec-fetch-site"));
    match text(header::ORIGIN) {
        Some("null") => return fetch_site == Some("same-origin"),
        Some(origin) => return state.site.is_own_origin(origin),
        None => {}
    }
    if let Some(site) = fetch_site {
        return matches!(site, "same-origin" | "none");
    }
    if let Some(referer) = text(header::REFERER) {
        return app::server::state::origin_of_url(referer)
            .is_some_and(|origin| state.site.is_own_origin(&origin));
    }
    // No browser sends a state-changing request without any of the three: a script or curl.
    true
}

fn is_admin_page(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// Refuses state-changing requests from other sites, and gives admin pages the status that
/// matches the visitor.
pub async fn requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS)
        && !same_origin(&state, request.headers())
    {
        tracing::warn!(path = %request.uri().path(), "refused a cross-site request");
        return refuse(
            request.headers(),
            request.uri().path(),
            "Not from this site",
            AppError::Refused {
                rule: "same_origin".into(),
                message: "This request came from another web site, so it was refused. Use Loaner's own pages.".into(),
            },
        );
    }
    if !(is_admin_page(request.uri().path()) && matches!(method, Method::GET | Method::HEAD)) {
        return next.run(request).await;
    }
    let status = admin_page_status(&state, request.headers()).await;
    let mut response = next.run(request).await;
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    response
}

/// `None` for an admin; 401 or 403 otherwise.
async fn admin_page_status(state: &AppState, headers: &HeaderMap) -> Option<StatusCode> {
    let Some(token) = sessions::token_from_headers(headers, state.site.cookie_name()) else {
        return Some(StatusCode::UNAUTHORIZED);
    };
    let Ok(mut conn) = state.conn().await else {
        return Some(StatusCode::SERVICE_UNAVAILABLE);
    };
    match sessions::user_for_token(
        &mut conn,
        &token,
        state.clock.now(),
        state.site.session_policy(),
    )
    .await
    {
        Ok(Some(user)) if user.is_admin() => None,
        Ok(Some(_)) => Some(StatusCode::FORBIDDEN),
        Ok(None) => Some(StatusCode::UNAUTHORIZED),
        Err(_) => Some(StatusCode::SERVICE_UNAVAILABLE),
    }
}

#[cfg(test)]
mod tests {
    use super::is_admin_page;

    #[test]
    fn admin_pages_are_recognised() {
        assert!(is_admin_page("/admin/machines"));
        assert!(!is_admin_page("/administrivia"));
        assert!(!is_admin_page("/api/admin/admin_list_loans"));
    }
}
