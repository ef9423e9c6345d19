//! Machines: every change of a machine's state goes through here. Loans move their machine
//! (`set_state`) while they hold it; clean-up ends in `mark_clean` or `mark_broken`; admins,
//! inventory sync and health checks use `set_or_hold`, which never disturbs a loan: a machine in
//! use keeps its state and takes the new one when its loan's clean-up is done. Whenever a machine
//! becomes available, the first loan waiting for its pool gets it in the same transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::loans::LoanError;
use super::models::Machine;
use super::schema::{loans, machines, pools, users};
use super::{waiting, DbError};
use crate::types::{LoanId, LoanState, MachineId, MachinePage, MachineRow, MachineState, PoolId};

/// Locks and returns a free machine of the pool, skipping machines another transaction is
/// claiming right now, least recently used first. `None` when the pool has nothing free.
pub async fn claim_free(
    conn: &AsyncPgConnection,
    pool_id: PoolId,
) -> Result<Option<Machine>, DbError> {
    Ok(machines::table
        .filter(machines::pool_id.eq(pool_id))
        .filter(machines::state.eq(MachineState::Available))
        .order((machines::updated_at.asc(), machines::id.asc()))
        .for_update()
        .skip_locked()
        .select(Machine::as_select())
        .first(&mut &*conn)
        .await
        .optional()?)
}

/// Finds a machine by id.
pub async fn find(conn: &mut AsyncPgConnection, id: MachineId) -> Result<Machine, DbError> {
    Ok(machines::table
        .find(id)
        .select(Machine::as_select())
        .first(conn)
        .await?)
}

/// Locks a machine for the rest of the transaction; `None` when there is no such machine.
pub async fn lock(conn: &mut AsyncPgConnection, id: MachineId) -> Result<Option<Machine>, DbError> {
    Ok(machines::table
        .find(id)
        .for_update()
        .select(Machine::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Moves a machine a loan holds to `state` (provisioning, loaned, reclaiming).
pub async fn set_state(
    conn: &AsyncPgConnection,
    id: MachineId,
    state: MachineState,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::update(machines::table.find(id))
        .set((
            machines::state.eq(state),
            machines::state_reason.eq(reason),
            machines::updated_at.eq(now),
        ))
        .execute(&mut &*conn)
        .await?;
    Ok(())
}

/// The active loan that holds the machine, if any.
async fn holding_loan(
    conn: &mut AsyncPgConnection,
    id: MachineId,
) -> Result<Option<LoanId>, DbError> {
    Ok(loans::table
        .filter(loans::machine_id.eq(id))
        .filter(loans::state.eq_any(LoanState::HOLDING_MACHINE))
        .select(loans::id)
        .first(conn)
        .await
        .optional()?)
}

/// Puts a (locked) machine into `target` with `reason`, unless a loan is using it: then the
/// machine keeps its state and goes to `target` when the loan's clean-up is done (`available`
/// cancels such a plan). A machine that becomes available serves its pool's waiting line.
/// Returns the state the machine is in afterwards.
pub async fn set_or_hold(
    conn: &mut AsyncPgConnection,
    machine: &Machine,
    target: MachineState,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<MachineState, LoanError> {
    let busy = machine.state.is_busy() || holding_loan(conn, machine.id).await?.is_some();
    let reason = reason.filter(|_| target != MachineState::Available);
    if busy {
        let hold = (target != MachineState::Available).then_some(target);
        diesel::update(machines::table.find(machine.id))
            .set((
                machines::hold_state.eq(hold),
                machines::hold_reason.eq(reason),
                machines::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        return Ok(machine.state);
    }
    diesel::update(machines::table.find(machine.id))
        .set((
            machines::state.eq(target),
            machines::state_reason.eq(reason),
            machines::hold_state.eq(None::<MachineState>),
            machines::hold_reason.eq(None::<String>),
            // An admin's decision: good health checks no longer bring it back by themselves.
            machines::health_failed_at.eq(None::<DateTime<Utc>>),
            machines::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    if target == MachineState::Available {
        waiting::fill(conn, machine.pool_id, now).await?;
    }
    Ok(target)
}

/// Records that a machine was cleaned and now runs `image`: it goes back to the pool (serving
/// the waiting line), or to the state an admin put on hold for it while it was loaned. Returns
/// the state it went to.
pub async fn mark_clean(
    conn: &mut AsyncPgConnection,
    id: MachineId,
    image: &str,
    now: DateTime<Utc>,
) -> Result<MachineState, LoanError> {
    let machine = find(conn, id).await?;
    let state = machine.hold_state.unwrap_or(MachineState::Available);
    let reason = (state != MachineState::Available)
        .then_some(machine.hold_reason)
        .flatten();
    diesel::update(machines::table.find(id))
        .set((
            machines::state.eq(state),
            machines::state_reason.eq(reason),
            machines::hold_state.eq(None::<MachineState>),
            machines::hold_reason.eq(None::<String>),
            machines::current_image.eq(image),
            machines::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    if state == MachineState::Available {
        waiting::fill(conn, machine.pool_id, now).await?;
    }
    Ok(state)
}

/// Records what a driver action changed: the machine's own driver settings (a cloud instance
/// replaced by a re-image) and the image it was confirmed to run.
pub async fn record_driver_change(
    conn: &mut AsyncPgConnection,
    id: MachineId,
    settings: Option<&serde_json::Value>,
    image: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    if let Some(settings) = settings {
        diesel::update(machines::table.find(id))
            .set((
                machines::driver_settings.eq(settings),
                machines::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
    }
    if let Some(image) = image {
        diesel::update(machines::table.find(id))
            .set((
                machines::current_image.eq(image),
                machines::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// A clean-up gave up: the machine is out of the pool until an admin looks at it.
pub async fn mark_broken(
    conn: &mut AsyncPgConnection,
    id: MachineId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    set_state(conn, id, MachineState::Broken, Some(reason), now).await
}

/// Machines on one page of the admin's table.
pub const MACHINE_PAGE: i64 = 100;

/// The admin's machine table: page `page` (from 1) of the machines in `state` (all with
/// `None`), by pool then name, each with its pool and, when loaned, the loan and borrower; and
/// how many machines are in each state.
pub async fn table(
    conn: &mut AsyncPgConnection,
    state: Option<MachineState>,
    page: i64,
) -> Result<MachinePage, DbError> {
    type Row = (Machine, String, String, Option<LoanId>, Option<String>);
    let by_state: Vec<(MachineState, i64)> = machines::table
        .group_by(machines::state)
        .select((machines::state, diesel::dsl::count_star()))
        .load(conn)
        .await?;
    let counts: Vec<(MachineState, i64)> = MachineState::ALL
        .iter()
        .map(|s| {
            let n = by_state.iter().find(|(b, _)| b == s).map_or(0, |(_, n)| *n);
            (*s, n)
        })
        .collect();
    let matching: i64 = match state {
        Some(state) => counts
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n),
        None => counts.iter().map(|(_, n)| n).sum(),
    };
    let pages = ((matching + MACHINE_PAGE - 1) / MACHINE_PAGE).max(1);
    let page = page.clamp(1, pages);
    let mut query = machines::table
        .inner_join(pools::table)
        .left_join(
            loans::table.on(loans::machine_id
                .eq(machines::id.nullable())
                .and(loans::state.eq_any(LoanState::HOLDING_MACHINE))),
        )
        .left_join(users::table.on(users::id.nullable().eq(loans::user_id.nullable())))
        .order((
            super::db::lower(pools::name),
            machines::fqdn.asc(),
            machines::id.asc(),
        ))
        .select((
            Machine::as_select(),
            pools::slug,
            pools::name,
            loans::id.nullable(),
            users::name.nullable(),
        ))
        .into_boxed();
    if let Some(state) = state {
        query = query.filter(machines::state.eq(state));
    }
    let rows: Vec<Row> = query
        .limit(MACHINE_PAGE)
        .offset((page - 1) * MACHINE_PAGE)
        .load(conn)
        .await?;
    let rows = rows
        .into_iter()
        .map(
            |(machine, pool_slug, pool_name, loan_id, borrower_name)| MachineRow {
                id: machine.id,
                state: machine.state,
                fqdn: machine.fqdn,
                pool_slug,
                pool_name,
                state_reason: machine.state_reason,
                current_image: machine.current_image,
                loan_id,
                borrower_name,
                updated_at: machine.updated_at,
            },
        )
        .collect();
    Ok(MachinePage {
        rows,
        counts,
        state,
        page,
        pages,
    })
}
