//! Health checks of machines out of loans. Every `interval` the sweep queues a check of each
//! available machine whose drivers can tell its status (and of each machine a failed check took
//! out, so good checks can bring it back). A check runs the driver's `status` and the pool's
//! optional `health_check` step. A failure takes an available machine out of the pool as
//! `broken` with the reason, and the admins get one email for it (not one per check); a machine
//! goes back after `return_after` good checks in a row, when configured, or when an admin marks
//! it available.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::loans::LoanError;
use super::models::{Machine, Pool};
use super::schema::{machines, pools};
use super::{mail, waiting, DbError};
use crate::types::{MachineDrivers, MachineId, MachineState, MailKind};

/// The machines a sweep checks: available ones, and those a failed check took out.
pub async fn due(conn: &mut AsyncPgConnection) -> Result<Vec<(Machine, Pool)>, DbError> {
    Ok(machines::table
        .inner_join(pools::table)
        .filter(pools::retired_at.is_null())
        .filter(
            machines::state
                .eq(MachineState::Available)
                .or(machines::state
                    .eq(MachineState::Broken)
                    .and(machines::health_failed_at.is_not_null())),
        )
        .order(machines::id)
        .select((Machine::as_select(), Pool::as_select()))
        .load(conn)
        .await?)
}

/// Whether a machine has anything a health check can ask: a driver that reads its status.
pub fn checkable(machine: &Machine, pool: &Pool) -> bool {
    MachineDrivers::merged(&pool.driver_settings, &machine.driver_settings)
        .is_ok_and(|d| super::machine_actions::way(crate::types::Action::Status, &d).is_ok())
}

/// Records a good check; returns true when it brought a machine back into the pool.
pub async fn record_good(
    conn: &mut AsyncPgConnection,
    id: MachineId,
    note: &str,
    return_after: u32,
    now: DateTime<Utc>,
) -> Result<bool, LoanError> {
    let Some(machine) = super::machines::lock(conn, id).await? else {
        return Ok(false);
    };
    let streak = machine.health_ok_streak.saturating_add(1);
    diesel::update(machines::table.find(id))
        .set((
            machines::last_health_check_at.eq(now),
            machines::health_note.eq(note),
            machines::health_ok_streak.eq(streak),
        ))
        .execute(conn)
        .await?;
    let back = machine.state == MachineState::Broken
        && machine.health_failed_at.is_some()
        && return_after > 0
        && streak >= i32::try_from(return_after).unwrap_or(i32::MAX);
    if back {
        diesel::update(machines::table.find(id))
            .set((
                machines::state.eq(MachineState::Available),
                machines::state_reason.eq(None::<String>),
                machines::health_failed_at.eq(None::<DateTime<Utc>>),
                machines::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        waiting::fill(conn, machine.pool_id, now).await?;
    }
    Ok(back)
}

/// Records a failed check; returns true when it took an available machine out of the pool
/// (and queued the admins' email).
pub async fn record_bad(
    conn: &mut AsyncPgConnection,
    id: MachineId,
    problem: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let Some(machine) = super::machines::lock(conn, id).await? else {
        return Ok(false);
    };
    diesel::update(machines::table.find(id))
        .set((
            machines::last_health_check_at.eq(now),
            machines::health_note.eq(problem),
            machines::health_ok_streak.eq(0),
        ))
        .execute(conn)
        .await?;
    // A machine a loan took meanwhile is the loan's steps' business now.
    if machine.state != MachineState::Available {
        return Ok(false);
    }
    diesel::update(machines::table.find(id))
        .set((
            machines::state.eq(MachineState::Broken),
            machines::state_reason.eq(format!("Health check failed: {problem}")),
            machines::health_failed_at.eq(now),
            machines::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    mail::schedule(
        conn,
        MailKind::HealthFailed,
        None,
        Some(now),
        None,
        now,
        now,
    )
    .await?;
    Ok(true)
}

/// The machines a failed check took out at `at` (what the admins' email lists).
pub async fn failed_at(
    conn: &mut AsyncPgConnection,
    at: DateTime<Utc>,
) -> Result<Vec<(Machine, Pool)>, DbError> {
    Ok(machines::table
        .inner_join(pools::table)
        .filter(machines::health_failed_at.eq(at))
        .select((Machine::as_select(), Pool::as_select()))
        .load(conn)
        .await?)
}
