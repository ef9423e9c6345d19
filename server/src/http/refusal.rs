//! How the HTTP layer says no before the app sees a request (wrong host, another site's post, too
//! large, too many): a small readable page for browsers, the app's JSON error for programs and
//! the app's own calls.

use app::error::AppError;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The refusal page's policy: its one stylesheet, nothing else.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Whether the caller reads HTML (a browser navigating or posting a plain form).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A refusal of a request for `path`: `title` and `error`'s message, with `error`'s status. The
/// JSON API's paths answer in the API's error shape.
pub fn refuse(headers: &HeaderMap, path: &str, title: &str, error: AppError) -> Response {
    let status = error.status();
    if path.starts_with("/api/v1/") {
        return crate::api::v1::error_response(&error, None);
    }
    let mut response = if wants_html(headers) {
        let page = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} · Loaner</title><link rel=\"stylesheet\" href=\"/pkg/loaner.css\"></head><body><main class=\"page narrow\"><h1>{title}</h1><div class=\"notice notice-warn\" role=\"alert\"><p>{message}</p></div><p><a href=\"/\">Back to the catalogue</a></p></main></body></html>",
            title = escape(title),
            message = escape(&match &error {
                // Each field and what is wrong with it: there is no form to highlight here.
                AppError::Validation(fields) => fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            }),
        );
        (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
            ],
            page,
        )
            .into_response()
    } else {
        let body = serde_json::to_string(&error).unwrap_or_else(|_| "\"Internal\"".into());
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    if let AppError::RateLimited { retry_after_secs } = error {
        if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

/// A plain refusal with a status that has no `AppError` of its own (421).
pub fn refuse_status(
    headers: &HeaderMap,
    path: &str,
    status: StatusCode,
    message: &str,
) -> Response {
    let mut response = refuse(
        headers,
        path,
        "Wrong address",
        AppError::Conflict(message.to_owned()),
    );
    *response.status_mut() = status;
    response
}
