//! The loan policy: the site's defaults and what each pool applies on top of them.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::models::{Pool, SitePolicy};
use super::schema::site_policy;
use super::DbError;
use crate::rules::policy;
use crate::types::{Policy, SiteDefaults};

/// The site's defaults.
pub async fn site_defaults(conn: &AsyncPgConnection) -> Result<SiteDefaults, DbError> {
    let row: SitePolicy = site_policy::table
        .select(SitePolicy::as_select())
        .first(&mut &*conn)
        .await?;
    Ok(row.defaults())
}

/// The policy `pool` applies.
pub async fn effective(conn: &AsyncPgConnection, pool: &Pool) -> Result<Policy, DbError> {
    Ok(policy::resolve(
        &site_defaults(conn).await?,
        &pool.overrides(),
    ))
}
