//! Writing a checked inventory in the caller's transaction: pools and machines created,
//! changed, retired or brought back, each change recorded for the report. Rows that already
//! match the file are not touched, so the audit triggers record only real changes.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use app::server::inventory::{write_machine, write_pool, InventoryError, MachineSpec};
use app::server::machines as machine_states;
use app::server::models::{Machine, Pool};
use app::server::schema::{machines, pools};
use app::types::{MachineId, MachineState, PoolId};

use super::check::{Inventory, PoolItem};
use super::diff;
use super::{SyncError, SyncReport};

/// Why the sync retires a machine; only machines retired for this reason come back when the
/// file lists them again.
pub const REMOVED: &str = "removed from the inventory file";

/// Makes the database match `inventory`, recording every change in `report`.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    inventory: &Inventory,
    now: DateTime<Utc>,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let db_pools: Vec<Pool> = pools::table
        .select(Pool::as_select())
        .order(pools::id)
        .load(conn)
        .await?;
    let pool_by_slug: HashMap<&str, &Pool> =
        db_pools.iter().map(|p| (p.slug.as_str(), p)).collect();
    for item in &inventory.pools {
        let db = pool_by_slug.get(item.spec.slug.as_str()).copied();
        sync_pool(conn, db, item, now, report).await?;
    }
    let listed: HashSet<&str> = inventory
        .pools
        .iter()
        .map(|p| p.spec.slug.as_str())
        .collect();
    for pool in &db_pools {
        if !listed.contains(pool.slug.as_str()) && pool.retired_at.is_none() {
            set_pool_retired(conn, &pool.slug, Some(now), now).await?;
            report.retired(format!("- pool {} (retired)", pool.slug));
        }
    }

    let slug_by_id: HashMap<PoolId, &str> =
        db_pools.iter().map(|p| (p.id, p.slug.as_str())).collect();
    let db_machines: Vec<Machine> = machines::table
        .select(Machine::as_select())
        .order(machines::id)
        .load(conn)
        .await?;
    let machine_by_fqdn: HashMap<&str, &Machine> =
        db_machines.iter().map(|m| (m.fqdn.as_str(), m)).collect();
    for spec in &inventory.machines {
        match machine_by_fqdn.get(spec.fqdn.as_str()) {
            None => {
                write_machine(conn, None, spec, now)
                    .await
                    .map_err(|e| refused(format!("machine {}", spec.fqdn), e))?;
                report.created(format!("+ machine {} (pool {})", spec.fqdn, spec.pool));
            }
            Some(db) => {
                let pool = slug_by_id.get(&db.pool_id).copied().unwrap_or_default();
                sync_machine(conn, db, pool, spec, now, report).await?;
            }
        }
    }
    let listed: HashSet<&str> = inventory.machines.iter().map(|m| m.fqdn.as_str()).collect();
    for machine in &db_machines {
        let retiring = machine.state == MachineState::Retired
            || machine.hold_state == Some(MachineState::Retired);
        if listed.contains(machine.fqdn.as_str()) || retiring {
            continue;
        }
        match retire_machine(conn, machine.id, now).await? {
            Some(Retirement::Now) => {
                report.retired(format!("- machine {} (retired: {REMOVED})", machine.fqdn));
            }
            Some(Retirement::AfterLoan) => report.retired(format!(
                "- machine {} (retired when its loan ends: {REMOVED})",
                machine.fqdn
            )),
            None => {}
        }
    }
    Ok(())
}

fn refused(target: String, err: InventoryError) -> SyncError {
    match err {
        InventoryError::Invalid(fields) => SyncError::Refused {
            target,
            message: fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; "),
        },
        other => SyncError::Inventory(other),
    }
}

async fn sync_pool(
    conn: &mut AsyncPgConnection,
    db: Option<&Pool>,
    item: &PoolItem,
    now: DateTime<Utc>,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let spec = &item.spec;
    let Some(db) = db else {
        write_pool(conn, None, spec, now)
            .await
            .map_err(|e| refused(format!("pool {}", spec.slug), e))?;
        let mut line = format!("+ pool {} ({})", spec.slug, spec.name);
        if item.retired {
            set_pool_retired(conn, &spec.slug, Some(now), now).await?;
            line.push_str(", retired");
        }
        report.created(line);
        return Ok(());
    };
    let mut changes = diff::pool(db, spec);
    if !changes.is_empty() {
        write_pool(conn, Some(&db.slug), spec, now)
            .await
            .map_err(|e| refused(format!("pool {}", spec.slug), e))?;
    }
    let was_retired = db.retired_at.is_some();
    if item.retired != was_retired {
        set_pool_retired(conn, &spec.slug, item.retired.then_some(now), now).await?;
    }
    match (was_retired, item.retired) {
        (false, true) if changes.is_empty() => {
            report.retired(format!("- pool {} (retired)", spec.slug))
        }
        (false, true) => report.retired(format!(
            "- pool {} (retired): {}",
            spec.slug,
            changes.join(", ")
        )),
        (true, false) => {
            changes.insert(0, "retired → back in the catalogue".to_owned());
            report.updated(format!("~ pool {}: {}", spec.slug, changes.join(", ")));
        }
        _ if !changes.is_empty() => {
            report.updated(format!("~ pool {}: {}", spec.slug, changes.join(", ")))
        }
        _ => {}
    }
    Ok(())
}

async fn set_pool_retired(
    conn: &mut AsyncPgConnection,
    slug: &str,
    retired_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), SyncError> {
    diesel::update(pools::table.filter(pools::slug.eq(slug)))
        .set((pools::retired_at.eq(retired_at), pools::updated_at.eq(now)))
        .execute(conn)
        .await?;
    Ok(())
}

async fn sync_machine(
    conn: &mut AsyncPgConnection,
    db: &Machine,
    pool: &str,
    spec: &MachineSpec,
    now: DateTime<Utc>,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let mut changes = diff::machine(db, pool, spec);
    if !changes.is_empty() {
        write_machine(conn, Some(db.id), spec, now)
            .await
            .map_err(|e| refused(format!("machine {}", spec.fqdn), e))?;
    }
    let by_us = |reason: &Option<String>| reason.as_deref() == Some(REMOVED);
    let retired_by_us = db.state == MachineState::Retired && by_us(&db.state_reason);
    let held_by_us = db.hold_state == Some(MachineState::Retired) && by_us(&db.hold_reason);
    if retired_by_us || held_by_us {
        // Listed again after the sync retired it: back into service (or no longer retired
        // when its loan ends).
        let machine = machine_states::lock(conn, db.id)
            .await?
            .ok_or_else(|| SyncError::Inventory(InventoryError::NotFound(spec.fqdn.clone())))?;
        machine_states::set_or_hold(conn, &machine, MachineState::Available, None, now).await?;
        changes.push(if retired_by_us {
            "retired → available".to_owned()
        } else {
            "no longer retired when its loan ends".to_owned()
        });
    }
    if !changes.is_empty() {
        report.updated(format!("~ machine {}: {}", spec.fqdn, changes.join(", ")));
    }
    Ok(())
}

enum Retirement {
    Now,
    AfterLoan,
}

/// Retires a machine the file no longer lists. One in an active loan keeps serving it and is
/// retired when the loan's clean-up is done (as an admin's retirement is). `None`: it was
/// retired already.
async fn retire_machine(
    conn: &mut AsyncPgConnection,
    id: MachineId,
    now: DateTime<Utc>,
) -> Result<Option<Retirement>, SyncError> {
    let Some(machine) = machine_states::lock(conn, id).await? else {
        return Ok(None);
    };
    if machine.state == MachineState::Retired {
        return Ok(None);
    }
    let state =
        machine_states::set_or_hold(conn, &machine, MachineState::Retired, Some(REMOVED), now)
            .await?;
    Ok(Some(if state == MachineState::Retired {
        Retirement::Now
    } else {
        Retirement::AfterLoan
    }))
}
