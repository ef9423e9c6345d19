//! `/admin/audit.csv`: the audit log as the page filters it, for spreadsheets (admins only).

use app::error::AppError;
use app::server::{audit, AppState};
use app::types::AuditFilter;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};

use super::refusal::refuse;

pub async fn export(
    State(state): State<AppState>,
    Query(filter): Query<AuditFilter>,
    headers: HeaderMap,
) -> Response {
    match rows(&state, &filter, &headers).await {
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
        Err(err) => refuse(&headers, "/admin/audit.csv", "Audit log", err),
    }
}

async fn rows(
    state: &AppState,
    filter: &AuditFilter,
    headers: &HeaderMap,
) -> Result<String, AppError> {
    let user = super::signed_in(state, headers).await?;
    let mut conn = state.conn().await?;
    if !user.is_admin() {
        return Err(AppError::Forbidden);
    }
    audit::check_filter(filter).map_err(AppError::Validation)?;
    let rows = audit::search(&mut conn, filter, Some(i64::MAX), None).await?;
    audit::to_csv(&rows).map_err(|err| {
        tracing::error!(error = %err, "cannot write the audit CSV");
        AppError::Internal
    })
}
