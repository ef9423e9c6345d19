//! The HTTP surface: the Leptos app and its server functions, static files, health checks, and
//! the guards in front of them (admin pages answer 401/403; cross-site posts are refused).

use app::server::{sessions, AppState};
use app::{shell, App};
use axum::extract::{Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Form;
use axum::Router;
use diesel_async::RunQueryDsl;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::trace::TraceLayer;

/// The whole web application.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    let fallback_state = state.clone();
    let mut router = Router::new();
    if state.site.test_clock && state.site.dev_login_allowed() {
        tracing::warn!("the test clock is on: POST /_test/clock moves this server's time");
        router = router.route("/_test/clock", post(move_clock));
    }
    router
        .route("/admin/audit.csv", get(audit_csv))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .leptos_routes_with_context(&state, routes, || {}, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(
            move || provide_context(fallback_state.clone()), shell
        ))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(CompressionLayer::new().quality(CompressionLevel::Precise(5)))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

#[derive(serde::Deserialize)]
struct ClockMove {
    advance_secs: i64,
}

/// Tests only: moves the server's clock forward and wakes the workers to look at their timers.
async fn move_clock(State(state): State<AppState>, Form(step): Form<ClockMove>) -> Response {
    state
        .clock
        .advance(chrono::Duration::seconds(step.advance_secs));
    if let Ok(mut conn) = state.conn().await {
        let _ = app::server::queue::notify(&mut conn).await;
    }
    state.clock.now().to_rfc3339().into_response()
}

/// The audit log as CSV, filtered like the page (admins only).
async fn audit_csv(
    State(state): State<AppState>,
    Query(filter): Query<app::types::AuditFilter>,
    headers: axum::http::HeaderMap,
) -> Response {
    let Some(token) = sessions::token_from_headers(&headers) else {
        return (StatusCode::UNAUTHORIZED, "Please sign in.").into_response();
    };
    let result = async {
        let mut conn = state.conn().await?;
        let user = sessions::user_for_token(&mut conn, &token, state.clock.now()).await?;
        match user {
            Some(user) if user.is_admin() => {
                let rows = app::server::audit::search(&mut conn, &filter, Some(i64::MAX)).await?;
                Ok(Some(rows))
            }
            _ => Ok(None),
        }
    }
    .await;
    match result {
        Ok(Some(rows)) => match app::server::audit::to_csv(&rows) {
            Ok(csv) => (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"loaner-audit.csv\"",
                    ),
                ],
                csv,
            )
                .into_response(),
            Err(err) => {
                tracing::error!(error = %err, "cannot write the audit CSV");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        },
        Ok(None) => (StatusCode::FORBIDDEN, "This is for admins.").into_response(),
        Err(err) => {
            let err: app::server::DbError = err;
            tracing::error!(error = %err, "cannot read the audit log");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// The process can serve: the database answers.
async fn readyz(State(state): State<AppState>) -> Response {
    let ok = match state.conn().await {
        Ok(mut conn) => diesel::sql_query("SELECT 1")
            .execute(&mut conn)
            .await
            .is_ok(),
        Err(_) => false,
    };
    if ok {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
    }
}

fn is_admin_page(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// Refuses state-changing requests from other sites, and gives admin pages the status that
/// matches the visitor (the page itself explains): 401 to visitors, 403 to developers.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) && !same_origin(&request) {
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    if !(is_admin_page(request.uri().path()) && matches!(method, Method::GET | Method::HEAD)) {
        return next.run(request).await;
    }
    let status = match sessions::token_from_headers(request.headers()) {
        None => Some(StatusCode::UNAUTHORIZED),
        Some(token) => match state.conn().await {
            Ok(mut conn) => {
                match sessions::user_for_token(&mut conn, &token, state.clock.now()).await {
                    Ok(Some(user)) if user.is_admin() => None,
                    Ok(Some(_)) => Some(StatusCode::FORBIDDEN),
                    Ok(None) => Some(StatusCode::UNAUTHORIZED),
                    Err(_) => Some(StatusCode::INTERNAL_SERVER_ERROR),
                }
            }
            Err(_) => Some(StatusCode::INTERNAL_SERVER_ERROR),
        },
    };
    let mut response = next.run(request).await;
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    response
}

/// No `Origin` (same-site navigation, curl) or an `Origin` naming this host.
fn same_origin(request: &Request) -> bool {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return true;
    };
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn post(origin: Option<&str>) -> Request {
        let mut builder = Request::post("/api/return_loan").header(header::HOST, "127.0.0.1:3000");
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn same_origin_posts_pass_and_foreign_ones_do_not() {
        assert!(same_origin(&post(None)));
        assert!(same_origin(&post(Some("http://127.0.0.1:3000"))));
        assert!(!same_origin(&post(Some("https://evil.example"))));
        assert!(!same_origin(&post(Some("null"))));
    }

    #[test]
    fn admin_pages_are_recognised() {
        assert!(is_admin_page("/admin/machines"));
        assert!(!is_admin_page("/administrivia"));
        assert!(!is_admin_page("/api/admin/admin_list_loans"));
    }
}
