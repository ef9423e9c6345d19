//! Ending a loan early or on time: the borrower's "I'm done", calling off a request that is not
//! ready yet, and an admin taking a machine back. Each starts the machine's clean-up.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::{admin_only, authorize, lock_for, set_state, LoanError};
use crate::error::FieldError;
use crate::rules::lifecycle::{self, LoanAction};
use crate::rules::validate;
use crate::server::events::{self, Event};
use crate::server::models::{Loan, User};
use crate::server::queue::{self, Job};
use crate::server::schema::loans;
use crate::server::{machines, mail, tasks};
use crate::types::{EventKind, LoanId, MachineState, MailKind, Phase};

/// "I'm done": the machine goes to clean-up and comes back to the pool when that succeeds.
pub async fn return_loan(
    conn: &mut AsyncPgConnection,
    actor: &User,
    loan_id: LoanId,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    conn.transaction(async |conn| {
        let loan = lock_for(conn, actor, loan_id, now).await?;
        authorize(actor, &loan)?;
        let to = lifecycle::next(loan.state, LoanAction::Return)?;
        set_state(conn, loan.id, to, now).await?;
        let message = if actor.id == loan.user_id {
            format!("{} returned the machine", actor.name)
        } else {
            format!("Returned by admin {}", actor.name)
        };
        events::record(
            conn,
            loan.id,
            now,
            Event::new(EventKind::ReturnRequested, message).by(actor.id),
        )
        .await?;
        queue::cancel_deadline_jobs(conn, loan.id).await?;
        mail::send(conn, MailKind::Returned, loan.id, None, now).await?;
        start_cleanup(conn, &loan, now).await
    })
    .await
}

/// Calls off a loan that is not ready yet; a machine already assigned is cleaned up.
pub async fn cancel(
    conn: &mut AsyncPgConnection,
    actor: &User,
    loan_id: LoanId,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    conn.transaction(async |conn| {
        let loan = lock_for(conn, actor, loan_id, now).await?;
        authorize(actor, &loan)?;
        let to = lifecycle::next(loan.state, LoanAction::Cancel)?;
        set_state(conn, loan.id, to, now).await?;
        events::record(
            conn,
            loan.id,
            now,
            Event::new(EventKind::Cancelled, format!("Cancelled by {}", actor.name)).by(actor.id),
        )
        .await?;
        tasks::cancel_for_loan(conn, loan.id, now).await?;
        if loan.machine_id.is_some() {
            start_cleanup(conn, &loan, now).await?;
        }
        Ok(())
    })
    .await
}

/// Takes the machine back now: the borrower is told why, and the clean-up starts.
pub async fn force_return(
    conn: &mut AsyncPgConnection,
    admin: &User,
    loan_id: LoanId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    admin_only(admin)?;
    let reason = validate::note(reason, "Say why: the borrower is told.")
        .map_err(|m| LoanError::Invalid(vec![FieldError::new("reason", m)]))?;
    conn.transaction(async |conn| {
        let loan = lock_for(conn, admin, loan_id, now).await?;
        let to = lifecycle::next(loan.state, LoanAction::Return)?;
        diesel::update(loans::table.find(loan.id))
            .set((
                loans::state.eq(to),
                loans::decision_reason.eq(&reason),
                loans::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        events::record(
            conn,
            loan.id,
            now,
            Event::new(
                EventKind::ForcedReturn,
                format!("Taken back by admin {}: {reason}", admin.name),
            )
            .by(admin.id),
        )
        .await?;
        queue::cancel_deadline_jobs(conn, loan.id).await?;
        mail::send(conn, MailKind::Returned, loan.id, None, now).await?;
        start_cleanup(conn, &loan, now).await
    })
    .await
}

/// Marks the loan's machine as being cleaned and queues the first clean-up step.
pub(super) async fn start_cleanup(
    conn: &mut AsyncPgConnection,
    loan: &Loan,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    if let Some(machine_id) = loan.machine_id {
        machines::set_state(conn, machine_id, MachineState::Reclaiming, None, now).await?;
        queue::enqueue(conn, &Job::step(Phase::Reclaim, loan.id, 0), now, now).await?;
    }
    Ok(())
}
