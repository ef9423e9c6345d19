//! `/stats/{table}.csv`: one table of the statistics page, as the page's filter shows it.
//! Everyone signed in may download the summary's tables; the admins' tables are for admins.

use app::error::AppError;
use app::server::{stats, AppState};
use app::types::{StatsFilter, StatsTable};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};

use super::refusal::refuse;

pub async fn export(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(filter): Query<StatsFilter>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/stats/{file}");
    match table(&state, &file, filter, &headers).await {
        Ok((name, csv)) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"loaner-{name}.csv\""),
                ),
            ],
            csv,
        )
            .into_response(),
        Err(err) => refuse(&headers, &path, "Statistics", err),
    }
}

async fn table(
    state: &AppState,
    file: &str,
    filter: StatsFilter,
    headers: &HeaderMap,
) -> Result<(&'static str, String), AppError> {
    let user = super::signed_in(state, headers).await?;
    let which = file
        .strip_suffix(".csv")
        .and_then(StatsTable::from_slug)
        .ok_or_else(|| AppError::NotFound("That table".into()))?;
    if which.admin_only() && !user.is_admin() {
        return Err(AppError::Forbidden);
    }
    let page = stats::for_viewer(state, &user, filter).await?;
    let table = page.table(which).ok_or(AppError::Forbidden)?;
    let csv = stats::to_csv(&table).map_err(|err| {
        tracing::error!(error = %err, "cannot write the statistics CSV");
        AppError::Internal
    })?;
    Ok((which.slug(), csv))
}
