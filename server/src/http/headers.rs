//! Security headers on every response. Pages carry a Content-Security-Policy with the nonce of
//! their own inline scripts (set by the page shell, which knows the nonce); everything else gets
//! a policy that allows nothing. No page may be framed; nothing is sniffed; the one-click link
//! pages, whose address is a credential, send no referrer.

use app::server::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The policy of responses that are not pages (JSON, files, refusals).
const NOTHING: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub async fn security_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let link_page = request.uri().path().starts_with("/l/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(NOTHING),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let referrer = if link_page {
        "no-referrer"
    } else {
        "same-origin"
    };
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static(referrer));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if state.site.public_url.https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}
