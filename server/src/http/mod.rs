//! The HTTP surface: the Leptos app and its server functions, static files, health checks, and
//! the layers in front of them (outermost first): tracing, compression, security headers, the
//! host check, the body limit, rate limits, and the cross-site and admin-page guards.

pub mod assets;
mod audit_csv;
pub mod guard;
pub mod headers;
pub mod limits;
mod live;
mod refusal;
mod stats_csv;

use app::server::AppState;
use app::{shell, App};
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};

use crate::auth::SignIn;
use diesel_async::RunQueryDsl;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::trace::TraceLayer;

/// The whole web application, with the development login only (no single sign-on).
pub fn router(state: AppState) -> Router {
    router_with(state, SignIn::default())
}

/// The whole web application, signing people in as `sign_in` says.
pub fn router_with(state: AppState, sign_in: SignIn) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    let fallback_state = state.clone();
    let mut router = Router::new();
    if state.site.metrics_on_site {
        crate::telemetry::install();
        router = router.route("/metrics", get(crate::telemetry::scrape));
    }
    if state.site.test_clock && state.site.dev_login_allowed() {
        tracing::warn!("the test clock is on: POST /_test/clock moves this server's time");
        router = router.route("/_test/clock", post(move_clock));
    }
    router
        .route("/admin/audit.csv", get(audit_csv::export))
        .route("/stats/{file}", get(stats_csv::export))
        .route("/healthz", get(healthz))
        .merge(crate::api::v1::routes())
        .merge(live::routes())
        .merge(assets::routes(std::path::Path::new(
            &*state.leptos_options.site_root,
        )))
        .route("/readyz", get(readyz))
        .merge(crate::auth::routes(sign_in.clone()))
        .leptos_routes_with_context(
            &state,
            routes,
            app::server::context::provide_request_context,
            move || shell(options.clone()),
        )
        // Every route above tags its response with its pattern, for the request counts.
        .route_layer(middleware::from_fn(crate::telemetry::tag_route))
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(
            move || provide_context(fallback_state.clone()), shell
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::requests,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), limits::rate))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::body_size,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), guard::host))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            headers::security_headers,
        ))
        .layer(middleware::from_fn(assets::cache_headers))
        // Pages and JSON are compressed per response with gzip: a brotli encoder holds a
        // window of megabytes, and 64 at once took the process from 50 MB to 720 MB. The
        // static files are served from their brotli copies made at build.
        .layer(
            CompressionLayer::new()
                .no_br()
                .quality(CompressionLevel::Fastest),
        )
        .layer(TraceLayer::new_for_http())
        .layer(middleware::from_fn(crate::telemetry::count_requests))
        .layer(Extension(sign_in))
        .with_state(state)
}

/// The person whose session cookie came with the request, for the routes outside Leptos.
async fn signed_in(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<app::server::models::User, app::error::AppError> {
    use app::error::AppError;
    let token = app::server::sessions::token_from_headers(headers, state.site.cookie_name())
        .ok_or(AppError::Unauthorized)?;
    let mut conn = state.conn().await?;
    app::server::sessions::user_for_token(
        &mut conn,
        &token,
        state.clock.now(),
        state.site.session_policy(),
    )
    .await?
    .ok_or(AppError::Unauthorized)
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
    if let Ok(conn) = state.conn().await {
        let _ = app::server::queue::notify(&conn, None).await;
    }
    state.clock.now().to_rfc3339().into_response()
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// The process can serve: the database answers, and the identity provider (when configured)
/// has been discovered.
async fn readyz(State(state): State<AppState>, Extension(sign_in): Extension<SignIn>) -> Response {
    let ok = match state.conn().await {
        Ok(mut conn) => diesel::sql_query("SELECT 1")
            .execute(&mut conn)
            .await
            .is_ok(),
        Err(_) => false,
    };
    if !ok {
        return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response();
    }
    if sign_in.sso.as_ref().is_some_and(|sso| !sso.is_ready()) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "identity provider unavailable",
        )
            .into_response();
    }
    "ready".into_response()
}
