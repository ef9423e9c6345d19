//! Machines: claiming a free one, moving them between states, and the admin's table.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::models::Machine;
use super::schema::{loans, machines, pools, users};
use super::DbError;
use crate::types::{LoanState, MachineRow, MachineState};

/// Locks and returns a free machine of the pool, skipping machines another transaction is
/// claiming right now, least recently used first. `None` when the pool has nothing free.
pub async fn claim_free(
    conn: &mut AsyncPgConnection,
    pool_id: i64,
) -> Result<Option<Machine>, DbError> {
    Ok(machines::table
        .filter(machines::pool_id.eq(pool_id))
        .filter(machines::state.eq(MachineState::Available.as_str()))
        .order((machines::updated_at.asc(), machines::id.asc()))
        .for_update()
        .skip_locked()
        .select(Machine::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Finds a machine by id.
pub async fn find(conn: &mut AsyncPgConnection, id: i64) -> Result<Machine, DbError> {
    Ok(machines::table
        .find(id)
        .select(Machine::as_select())
        .first(conn)
        .await?)
}

/// Moves a machine to `state`, recording why (for `broken`, `maintenance`, `retired`).
pub async fn set_state(
    conn: &mut AsyncPgConnection,
    id: i64,
    state: MachineState,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::update(machines::table.find(id))
        .set((
            machines::state.eq(state.as_str()),
            machines::state_reason.eq(reason),
            machines::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records that a machine was cleaned and now runs `image`: it goes back to the pool, or to the
/// state an admin put on hold for it while it was loaned. Returns the state it went to.
pub async fn mark_clean(
    conn: &mut AsyncPgConnection,
    id: i64,
    image: &str,
    now: DateTime<Utc>,
) -> Result<MachineState, DbError> {
    let machine = find(conn, id).await?;
    let state = machine
        .hold_state
        .as_deref()
        .and_then(MachineState::parse)
        .unwrap_or(MachineState::Available);
    let reason = (state != MachineState::Available).then_some(machine.hold_reason);
    diesel::update(machines::table.find(id))
        .set((
            machines::state.eq(state.as_str()),
            machines::state_reason.eq(reason.flatten()),
            machines::hold_state.eq(None::<String>),
            machines::hold_reason.eq(None::<String>),
            machines::current_image.eq(image),
            machines::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(state)
}

/// Every machine with its pool and, when loaned, the loan and borrower.
pub async fn table(conn: &mut AsyncPgConnection) -> Result<Vec<MachineRow>, DbError> {
    let active: Vec<&str> = LoanState::ALL
        .iter()
        .filter(|s| s.holds_machine())
        .map(|s| s.as_str())
        .collect();
    type Row = (Machine, String, String, Option<i64>, Option<String>);
    let rows: Vec<Row> = machines::table
        .inner_join(pools::table)
        .left_join(
            loans::table.on(loans::machine_id
                .eq(machines::id.nullable())
                .and(loans::state.eq_any(active))),
        )
        .left_join(users::table.on(users::id.nullable().eq(loans::user_id.nullable())))
        .order((super::db::lower(pools::name), machines::fqdn.asc()))
        .select((
            Machine::as_select(),
            pools::slug,
            pools::name,
            loans::id.nullable(),
            users::name.nullable(),
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(machine, pool_slug, pool_name, loan_id, borrower_name)| MachineRow {
                id: machine.id,
                state: machine.state(),
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
        .collect())
}
