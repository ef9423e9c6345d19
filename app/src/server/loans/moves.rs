//! An admin moves a ready loan to another free machine of its pool: the new machine is
//! provisioned (the deadline stays), the old one cleaned and returned to the pool.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::{admin_only, lock_for, LoanError};
use crate::error::FieldError;
use crate::rules::lifecycle::{self, LoanAction};
use crate::server::events::{self, Event};
use crate::server::machines;
use crate::server::models::{Machine, User};
use crate::server::queue::{self, Job};
use crate::server::schema::{loans, machines as machines_table};
use crate::types::{EventKind, LoanId, MachineId, MachineState, Phase, PoolId};

/// The machines a loan could move to: free machines of its pool, (id, name).
pub async fn move_targets(
    conn: &mut AsyncPgConnection,
    admin: &User,
    loan_id: LoanId,
) -> Result<Vec<(MachineId, String)>, LoanError> {
    admin_only(admin)?;
    let pool_id: PoolId = loans::table
        .find(loan_id)
        .select(loans::pool_id)
        .first(conn)
        .await
        .optional()?
        .ok_or(LoanError::NotFound(loan_id))?;
    Ok(machines_table::table
        .filter(machines_table::pool_id.eq(pool_id))
        .filter(machines_table::state.eq(MachineState::Available))
        .order(machines_table::fqdn)
        .select((machines_table::id, machines_table::fqdn))
        .load(conn)
        .await?)
}

/// Moves a ready loan to `machine_id`, a free machine of its pool.
pub async fn move_to(
    conn: &mut AsyncPgConnection,
    admin: &User,
    loan_id: LoanId,
    machine_id: MachineId,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    admin_only(admin)?;
    conn.transaction(async |conn| {
        let loan = lock_for(conn, admin, loan_id, now).await?;
        let to = lifecycle::next(loan.state, LoanAction::Move)?;
        let target: Machine = machines_table::table
            .find(machine_id)
            .filter(machines_table::pool_id.eq(loan.pool_id))
            .filter(machines_table::state.eq(MachineState::Available))
            .for_update()
            .select(Machine::as_select())
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| {
                LoanError::Invalid(vec![FieldError::new(
                    "machine",
                    "Choose a free machine of the loan's pool.",
                )])
            })?;
        let old = loan.machine_id.ok_or(LoanError::NotFound(loan_id))?;
        let old_fqdn = machines::find(conn, old).await?.fqdn;
        diesel::update(loans::table.find(loan.id))
            .set((
                loans::state.eq(to),
                loans::machine_id.eq(target.id),
                loans::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        machines::set_state(conn, target.id, MachineState::Provisioning, None, now).await?;
        machines::set_state(conn, old, MachineState::Reclaiming, None, now).await?;
        events::record(
            conn,
            loan.id,
            now,
            Event::new(
                EventKind::Moved,
                format!(
                    "Moved by admin {} from {old_fqdn} to {}: the new machine is being prepared (the deadline stays), the old one cleaned",
                    admin.name, target.fqdn
                ),
            )
            .by(admin.id)
            .details(json!({ "from": old, "to": target.id, "fqdn": target.fqdn })),
        )
        .await?;
        let clean_old = Job::ReclaimStep {
            loan_id: loan.id,
            step: 0,
            machine_id: Some(old),
        };
        queue::enqueue(conn, &clean_old, now, now).await?;
        queue::enqueue(conn, &Job::step(Phase::Provision, loan.id, 0), now, now).await?;
        Ok(())
    })
    .await
}
