//! Writing checked pools, machines and the site policy, in one transaction each (or in the
//! caller's, for inventory sync).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::{check_machine, check_pool, invalid, InventoryError, MachineSpec, PoolSpec};
use crate::rules::{policy, validate};
use crate::server::commands::DriverSetup;
use crate::server::models::{NewMachine, User};
use crate::server::schema::{machines, pools, site_policy};
use crate::server::waiting;
use crate::server::{audit, db::is_unique_violation, machines as machine_states, policies};
use crate::types::{MachineId, MachineState, PolicyOverrides, PoolId, SiteDefaults};

fn groups(policy: &PolicyOverrides) -> Option<Vec<Option<String>>> {
    policy
        .allowed_groups
        .as_ref()
        .map(|g| g.iter().cloned().map(Some).collect())
}

/// Creates a pool (`existing` = None) or changes the pool with slug `existing`. Returns its id.
pub async fn save_pool(
    conn: &mut AsyncPgConnection,
    actor: &User,
    existing: Option<&str>,
    spec: &PoolSpec,
    setup: &DriverSetup,
    now: DateTime<Utc>,
) -> Result<PoolId, InventoryError> {
    let site = policies::site_defaults(conn).await?;
    let spec = check_pool(spec, &site, setup).map_err(InventoryError::Invalid)?;
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(actor), now).await?;
        write_pool(conn, existing, &spec, now).await
    })
    .await
}

/// Writes a checked pool in the caller's transaction.
pub async fn write_pool(
    conn: &mut AsyncPgConnection,
    existing: Option<&str>,
    spec: &PoolSpec,
    now: DateTime<Utc>,
) -> Result<PoolId, InventoryError> {
    let p = &spec.policy;
    let values = (
        pools::slug.eq(&spec.slug),
        pools::name.eq(&spec.name),
        pools::description.eq(&spec.description),
        pools::platform.eq(&spec.platform),
        pools::image_name.eq(&spec.image_name),
        pools::image_version.eq(&spec.image_version),
        pools::login_user.eq(&spec.login_user),
        pools::provision_steps.eq(serde_json::to_value(&spec.provision_steps).unwrap_or_default()),
        pools::reclaim_steps.eq(serde_json::to_value(&spec.reclaim_steps).unwrap_or_default()),
        pools::driver_settings.eq(&spec.driver_settings),
        (
            pools::approval_mode.eq(p.approval_mode),
            pools::default_duration_hours.eq(p.default_duration_hours),
            pools::max_duration_hours.eq(p.max_duration_hours),
            pools::extension_hours.eq(p.extension_hours),
            pools::max_extensions.eq(p.max_extensions),
            pools::max_total_hours.eq(p.max_total_hours),
            pools::bug_required.eq(p.bug_required),
            pools::grace_period_minutes.eq(p.grace_period_minutes),
            pools::max_loans_per_user.eq(p.max_loans_per_user),
            pools::allowed_groups.eq(groups(p)),
        ),
        pools::updated_at.eq(now),
    );
    if let Some(slug) = existing.filter(|slug| validate::slug(slug).is_err()) {
        return Err(InventoryError::NotFound(format!("Pool \"{slug}\"")));
    }
    let result = match existing {
        None => {
            diesel::insert_into(pools::table)
                .values(values)
                .returning(pools::id)
                .get_result(conn)
                .await
        }
        Some(slug) => {
            diesel::update(pools::table.filter(pools::slug.eq(slug)))
                .set(values)
                .returning(pools::id)
                .get_result(conn)
                .await
        }
    };
    match result {
        Ok(id) => Ok(id),
        Err(diesel::result::Error::NotFound) => Err(InventoryError::NotFound(format!(
            "Pool \"{}\"",
            existing.unwrap_or_default()
        ))),
        Err(err) if is_unique_violation(&err, "pools_slug_key") => Err(invalid(
            "slug",
            format!("A pool called \"{}\" exists already.", spec.slug),
        )),
        Err(err) => Err(err.into()),
    }
}

/// Takes a pool out of the catalogue (its loans run to their end) or brings it back.
pub async fn set_pool_retired(
    conn: &mut AsyncPgConnection,
    actor: &User,
    slug: &str,
    retired: bool,
    now: DateTime<Utc>,
) -> Result<(), InventoryError> {
    if validate::slug(slug).is_err() {
        return Err(InventoryError::NotFound(format!("Pool \"{slug}\"")));
    }
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(actor), now).await?;
        let changed = diesel::update(pools::table.filter(pools::slug.eq(slug)))
            .set((
                pools::retired_at.eq(retired.then_some(now)),
                pools::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        if changed == 0 {
            return Err(InventoryError::NotFound(format!("Pool \"{slug}\"")));
        }
        Ok(())
    })
    .await
}

/// Creates a machine (`id` = None) or changes one. Returns its id.
pub async fn save_machine(
    conn: &mut AsyncPgConnection,
    actor: &User,
    id: Option<MachineId>,
    spec: &MachineSpec,
    setup: &DriverSetup,
    now: DateTime<Utc>,
) -> Result<MachineId, InventoryError> {
    let spec = check_machine(spec, setup).map_err(InventoryError::Invalid)?;
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(actor), now).await?;
        write_machine(conn, id, &spec, now).await
    })
    .await
}

/// Writes a checked machine in the caller's transaction; a new machine serves the pool's
/// waiting line at once.
pub async fn write_machine(
    conn: &mut AsyncPgConnection,
    id: Option<MachineId>,
    spec: &MachineSpec,
    now: DateTime<Utc>,
) -> Result<MachineId, InventoryError> {
    let no_such_pool = || {
        invalid(
            "pool",
            format!("There is no pool called \"{}\".", spec.pool),
        )
    };
    if validate::slug(&spec.pool).is_err() {
        return Err(no_such_pool());
    }
    let pool_id: PoolId = pools::table
        .filter(pools::slug.eq(&spec.pool))
        .select(pools::id)
        .first(conn)
        .await
        .optional()?
        .ok_or_else(no_such_pool)?;
    let result = match id {
        None => {
            diesel::insert_into(machines::table)
                .values(NewMachine {
                    fqdn: spec.fqdn.clone(),
                    pool_id,
                    driver_settings: spec.driver_settings.clone(),
                    notes: spec.notes.clone(),
                    current_image: None,
                })
                .returning(machines::id)
                .get_result(conn)
                .await
        }
        Some(id) => {
            diesel::update(machines::table.find(id))
                .set((
                    machines::fqdn.eq(&spec.fqdn),
                    machines::pool_id.eq(pool_id),
                    machines::driver_settings.eq(&spec.driver_settings),
                    machines::notes.eq(&spec.notes),
                    machines::updated_at.eq(now),
                ))
                .returning(machines::id)
                .get_result(conn)
                .await
        }
    };
    let machine_id = match result {
        Ok(machine_id) => machine_id,
        Err(diesel::result::Error::NotFound) => {
            return Err(InventoryError::NotFound(format!(
                "Machine {}",
                id.map_or(0, |id| id.0)
            )))
        }
        Err(err) if is_unique_violation(&err, "machines_fqdn_key") => {
            return Err(invalid(
                "fqdn",
                format!("{} is in the inventory already.", spec.fqdn),
            ))
        }
        Err(err) => return Err(err.into()),
    };
    waiting::fill(conn, pool_id, now).await?;
    Ok(machine_id)
}

/// Moves a machine into or out of service. A machine in an active loan is not disturbed: the
/// new state waits until the loan's clean-up is done. `reason` is required except for
/// `available`.
pub async fn set_machine_state(
    conn: &mut AsyncPgConnection,
    actor: &User,
    id: MachineId,
    target: MachineState,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<MachineState, InventoryError> {
    if !matches!(
        target,
        MachineState::Available
            | MachineState::Maintenance
            | MachineState::Broken
            | MachineState::Retired
    ) {
        return Err(invalid(
            "state",
            "Choose available, maintenance, broken or retired.",
        ));
    }
    let reason = match target {
        MachineState::Available => validate::optional_note(reason),
        _ => validate::note(reason, "Say why, for whoever looks at the machine next."),
    }
    .map_err(|m| invalid("reason", m))?;
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(actor), now).await?;
        let machine = machine_states::lock(conn, id)
            .await?
            .ok_or_else(|| InventoryError::NotFound(format!("Machine {id}")))?;
        Ok(machine_states::set_or_hold(conn, &machine, target, Some(&reason), now).await?)
    })
    .await
}

/// Changes the site's defaults (every pool that does not set a value inherits it).
pub async fn save_site_policy(
    conn: &mut AsyncPgConnection,
    actor: &User,
    site: &SiteDefaults,
    now: DateTime<Utc>,
) -> Result<(), InventoryError> {
    if let Err((field, message)) =
        policy::check_policy(&policy::resolve(site, &PolicyOverrides::default()))
    {
        return Err(invalid(field, message));
    }
    if site.max_loans_per_user_per_pool.is_some_and(|n| n < 1) {
        return Err(invalid(
            "max_loans_per_user_per_pool",
            "Must be at least 1 (leave empty for no cap).",
        ));
    }
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(actor), now).await?;
        diesel::update(site_policy::table)
            .set((
                site_policy::approval_mode.eq(site.approval_mode),
                site_policy::default_duration_hours.eq(site.default_duration_hours),
                site_policy::max_duration_hours.eq(site.max_duration_hours),
                site_policy::extension_hours.eq(site.extension_hours),
                site_policy::max_extensions.eq(site.max_extensions),
                site_policy::max_total_hours.eq(site.max_total_hours),
                site_policy::bug_required.eq(site.bug_required),
                site_policy::grace_period_minutes.eq(site.grace_period_minutes),
                site_policy::max_loans_per_user.eq(site.max_loans_per_user),
                site_policy::max_loans_per_user_per_pool.eq(site.max_loans_per_user_per_pool),
                site_policy::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
    .await
}
