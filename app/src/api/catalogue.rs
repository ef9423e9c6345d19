//! The catalogue of pools and the request form's facts.

use leptos::prelude::*;

use crate::error::AppError;
use crate::types::{PoolCard, RenderedCatalogue, RequestFormInfo};

/// Every pool with its free machines. Visitors may browse it before signing in.
#[server(endpoint = "list_pools")]
pub async fn list_pools() -> Result<Vec<PoolCard>, AppError> {
    use crate::server::{context, pools};
    let state = context::state()?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    pools::catalogue(&mut conn).await.map_err(context::fail)
}

/// The catalogue's pool cards as the home page shows them. They are read and rendered once per
/// change to the inventory: while nothing changes, a visit reads nothing from the database.
#[server(endpoint = "catalogue_cards")]
pub async fn catalogue_cards() -> Result<RenderedCatalogue, AppError> {
    use crate::server::{context, pools, DbError};
    let state = context::state()?;
    let cards = state
        .catalogue
        .get(&state.live, async || {
            let mut conn = state.conn().await?;
            let pools = pools::catalogue(&mut conn).await?;
            Ok::<_, DbError>(RenderedCatalogue {
                pools: pools.len(),
                html: crate::pages::catalogue::render_cards(pools),
            })
        })
        .await
        .map_err(context::fail)?;
    Ok(RenderedCatalogue::clone(&cards))
}

/// What the request form shows for one pool.
#[server(endpoint = "get_request_form")]
pub async fn get_request_form(pool: String) -> Result<RequestFormInfo, AppError> {
    use crate::server::{context, pools};
    let (state, _) = context::require_user().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    pools::request_form(&mut conn, &pool)
        .await
        .map_err(context::fail)?
        .ok_or_else(|| context::fail(AppError::NotFound(format!("Pool \"{pool}\""))))
}
