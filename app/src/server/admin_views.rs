//! What the admin pages read: the dashboard's numbers, the policies, and pools and machines
//! as their editors show them.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::inventory::InventoryError;
use super::models::{Machine, Pool};
use super::schema::{loans, machines, pools};
use super::{policies, tasks, DbError};
use crate::rules::policy;
use crate::types::{
    AdminOverview, LoanState, MachineEdit, MachineId, MachineState, PoliciesView, PolicyRow,
    PoolAdminRow, PoolEdit, PoolId,
};

async fn count_loans(conn: &mut AsyncPgConnection, states: &[LoanState]) -> Result<i64, DbError> {
    Ok(loans::table
        .filter(loans::state.eq_any(states))
        .count()
        .get_result(conn)
        .await?)
}

/// The dashboard: what needs an admin now.
pub async fn overview(conn: &mut AsyncPgConnection) -> Result<AdminOverview, DbError> {
    Ok(AdminOverview {
        approvals: count_loans(conn, &[LoanState::Requested]).await?,
        waiting: count_loans(conn, &[LoanState::Waiting]).await?,
        active_loans: count_loans(
            conn,
            &[
                LoanState::Provisioning,
                LoanState::Ready,
                LoanState::Expired,
            ],
        )
        .await?,
        broken_machines: machines::table
            .filter(machines::state.eq(MachineState::Broken))
            .count()
            .get_result(conn)
            .await?,
        tasks: tasks::list_open(conn).await?,
    })
}

/// The site's defaults and every pool's policy.
pub async fn policies(conn: &mut AsyncPgConnection) -> Result<PoliciesView, DbError> {
    let site = policies::site_defaults(conn).await?;
    let all: Vec<Pool> = pools::table
        .filter(pools::retired_at.is_null())
        .order(super::db::lower(pools::name))
        .select(Pool::as_select())
        .load(conn)
        .await?;
    Ok(PoliciesView {
        pools: all
            .into_iter()
            .map(|p| PolicyRow {
                effective: policy::resolve(&site, &p.overrides()),
                overrides: p.overrides(),
                slug: p.slug,
                name: p.name,
            })
            .collect(),
        site,
    })
}

/// Every pool, retired ones last.
pub async fn pools(conn: &mut AsyncPgConnection) -> Result<Vec<PoolAdminRow>, DbError> {
    let site = policies::site_defaults(conn).await?;
    let all: Vec<Pool> = pools::table
        .order(super::db::lower(pools::name))
        .select(Pool::as_select())
        .load(conn)
        .await?;
    let counts: Vec<(PoolId, i64)> = machines::table
        .filter(machines::state.ne(MachineState::Retired))
        .group_by(machines::pool_id)
        .select((machines::pool_id, diesel::dsl::count_star()))
        .load(conn)
        .await?;
    let mut rows: Vec<PoolAdminRow> = all
        .into_iter()
        .map(|p| PoolAdminRow {
            machines: counts
                .iter()
                .find(|(id, _)| *id == p.id)
                .map_or(0, |(_, n)| *n),
            approval_mode: policy::resolve(&site, &p.overrides()).approval_mode,
            image: p.image_label(),
            retired: p.retired_at.is_some(),
            slug: p.slug,
            name: p.name,
            platform: p.platform,
        })
        .collect();
    rows.sort_by_key(|r| r.retired);
    Ok(rows)
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// A pool for its editor; `None` slug gives an empty form for a new pool.
pub async fn pool_edit(
    conn: &mut AsyncPgConnection,
    slug: Option<&str>,
) -> Result<PoolEdit, InventoryError> {
    let site = policies::site_defaults(conn).await?;
    let Some(slug) = slug else {
        return Ok(PoolEdit {
            slug: String::new(),
            name: String::new(),
            description: String::new(),
            platform: String::new(),
            image_name: String::new(),
            image_version: String::new(),
            login_user: "loaner".into(),
            provision_steps: "[]".into(),
            reclaim_steps: "[]".into(),
            driver_settings: "{}".into(),
            overrides: Default::default(),
            site,
            retired: false,
        });
    };
    let pool = super::pools::find_by_slug(conn, slug)
        .await?
        .ok_or_else(|| InventoryError::NotFound(format!("Pool \"{slug}\"")))?;
    Ok(PoolEdit {
        provision_steps: pretty(&pool.provision_steps),
        reclaim_steps: pretty(&pool.reclaim_steps),
        driver_settings: pretty(&pool.driver_settings),
        overrides: pool.overrides(),
        retired: pool.retired_at.is_some(),
        slug: pool.slug,
        name: pool.name,
        description: pool.description,
        platform: pool.platform,
        image_name: pool.image_name,
        image_version: pool.image_version,
        login_user: pool.login_user,
        site,
    })
}

/// A machine for its editor; `None` gives an empty form for a new machine.
pub async fn machine_edit(
    conn: &mut AsyncPgConnection,
    id: Option<MachineId>,
) -> Result<MachineEdit, InventoryError> {
    let choices: Vec<(String, String)> = pools::table
        .filter(pools::retired_at.is_null())
        .order(super::db::lower(pools::name))
        .select((pools::slug, pools::name))
        .load(conn)
        .await?;
    let Some(id) = id else {
        return Ok(MachineEdit {
            id: None,
            fqdn: String::new(),
            pool: <[(String, String)]>::first(&choices)
                .map(|p| p.0.clone())
                .unwrap_or_default(),
            driver_settings: "{}".into(),
            notes: String::new(),
            state: MachineState::Available,
            state_reason: None,
            hold_state: None,
            pools: choices,
            current_image: None,
            last_health_check_at: None,
            health_note: None,
        });
    };
    let (machine, pool): (Machine, String) = machines::table
        .find(id)
        .inner_join(pools::table)
        .select((Machine::as_select(), pools::slug))
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| InventoryError::NotFound(format!("Machine {id}")))?;
    Ok(MachineEdit {
        id: Some(machine.id),
        state: machine.state,
        hold_state: machine.hold_state,
        driver_settings: pretty(&machine.driver_settings),
        fqdn: machine.fqdn,
        pool,
        notes: machine.notes,
        state_reason: machine.state_reason,
        pools: choices,
        current_image: machine.current_image,
        last_health_check_at: machine.last_health_check_at,
        health_note: machine.health_note,
    })
}
