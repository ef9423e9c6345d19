//! Pools as the catalogue and the request form see them.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::models::Pool;
use super::schema::{loans, machines, pools};
use super::{markdown, policies, DbError};
use crate::rules::policy;
use crate::types::{LoanState, MachineState, PoolCard, PoolId, RequestFormInfo, SiteDefaults};

/// Finds a pool by its slug. Text that cannot be a slug finds nothing (and never reaches the
/// database).
pub async fn find_by_slug(conn: &AsyncPgConnection, slug: &str) -> Result<Option<Pool>, DbError> {
    if crate::rules::validate::slug(slug).is_err() {
        return Ok(None);
    }
    Ok(pools::table
        .filter(pools::slug.eq(slug))
        .select(Pool::as_select())
        .first(&mut &*conn)
        .await
        .optional()?)
}

/// Finds a pool by id.
pub async fn find(conn: &mut AsyncPgConnection, id: PoolId) -> Result<Pool, DbError> {
    Ok(pools::table
        .find(id)
        .select(Pool::as_select())
        .first(conn)
        .await?)
}

/// Every pool in service with its machine counts, by name.
pub async fn catalogue(conn: &mut AsyncPgConnection) -> Result<Vec<PoolCard>, DbError> {
    let all: Vec<Pool> = pools::table
        .filter(pools::retired_at.is_null())
        .order(super::db::lower(pools::name))
        .select(Pool::as_select())
        .load(conn)
        .await?;
    let site = policies::site_defaults(conn).await?;
    let counts = counts(conn).await?;
    Ok(all.iter().map(|pool| card(pool, &site, &counts)).collect())
}

/// What the request form shows for one pool.
pub async fn request_form(
    conn: &mut AsyncPgConnection,
    slug: &str,
) -> Result<Option<RequestFormInfo>, DbError> {
    let Some(pool) = find_by_slug(conn, slug)
        .await?
        .filter(|p| p.retired_at.is_none())
    else {
        return Ok(None);
    };
    let site = policies::site_defaults(conn).await?;
    let counts = counts(conn).await?;
    let card = card(&pool, &site, &counts);
    Ok(Some(RequestFormInfo {
        durations: policy::offered_durations(
            card.policy.default_duration_hours,
            card.policy.max_duration_hours,
        ),
        pool: card,
    }))
}

#[derive(Default, Clone, Copy)]
struct Counts {
    free: i64,
    total: i64,
    waiting: i64,
}

/// Per pool: machines available now, machines in service (not retired or in maintenance), and
/// loans waiting for one.
async fn counts(conn: &mut AsyncPgConnection) -> Result<HashMap<PoolId, Counts>, DbError> {
    let rows: Vec<(PoolId, MachineState, i64)> = machines::table
        .group_by((machines::pool_id, machines::state))
        .select((
            machines::pool_id,
            machines::state,
            diesel::dsl::count_star(),
        ))
        .load(conn)
        .await?;
    let mut counts: HashMap<PoolId, Counts> = HashMap::new();
    for (pool_id, state, n) in rows {
        let entry = counts.entry(pool_id).or_default();
        match state {
            MachineState::Available => {
                entry.free += n;
                entry.total += n;
            }
            MachineState::Retired | MachineState::Maintenance => {}
            _ => entry.total += n,
        }
    }
    let waiting: Vec<(PoolId, i64)> = loans::table
        .filter(loans::state.eq(LoanState::Waiting))
        .group_by(loans::pool_id)
        .select((loans::pool_id, diesel::dsl::count_star()))
        .load(conn)
        .await?;
    for (pool_id, n) in waiting {
        counts.entry(pool_id).or_default().waiting = n;
    }
    Ok(counts)
}

fn card(pool: &Pool, site: &SiteDefaults, counts: &HashMap<PoolId, Counts>) -> PoolCard {
    let c = counts.get(&pool.id).copied().unwrap_or_default();
    let policy = policy::resolve(site, &pool.overrides());
    PoolCard {
        slug: pool.slug.clone(),
        name: pool.name.clone(),
        platform: pool.platform.clone(),
        description: pool.description.clone(),
        description_html: markdown::render(&pool.description),
        image_name: pool.image_name.clone(),
        image_version: pool.image_version.clone(),
        free: c.free,
        total: c.total,
        waiting: c.waiting,
        caps: policy.caps(),
        policy,
    }
}
