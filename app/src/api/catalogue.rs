//! The catalogue of pools and the request form's facts.

use leptos::prelude::*;

use crate::error::AppError;
use crate::types::{PoolCard, RequestFormInfo};

/// Every pool with its free machines. Visitors may browse it before signing in.
#[server(endpoint = "list_pools")]
pub async fn list_pools() -> Result<Vec<PoolCard>, AppError> {
    use crate::server::{context, pools};
    let state = context::state()?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    pools::catalogue(&mut conn).await.map_err(context::fail)
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
