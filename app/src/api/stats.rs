//! The statistics page's figures.

use leptos::prelude::*;

use crate::error::AppError;
use crate::types::Stats;

/// The figures for a period and pool: the summary for everyone signed in, with the failures,
/// broken machines, bugs and groups for admins.
#[server(endpoint = "stats")]
pub async fn get_stats(
    days: String,
    from: String,
    to: String,
    pool: String,
) -> Result<Stats, AppError> {
    use crate::server::{context, stats};
    use crate::types::StatsFilter;
    let (state, user) = context::require_user().await?;
    let filter = StatsFilter {
        days,
        from,
        to,
        pool,
    };
    stats::for_viewer(&state, &user, filter)
        .await
        .map_err(context::fail)
}
