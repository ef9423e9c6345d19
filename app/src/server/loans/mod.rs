//! Loans: the borrower's actions (request, cancel, return), the views of them, and the state
//! changes the scheduler makes as steps finish. Each change writes the loan, its history event
//! and its follow-up job in one transaction.

mod admin;
mod request;
mod steps;
mod views;

pub use admin::{extend_beyond_policy, force_return, move_targets, move_to};
pub(crate) use request::approve_and_assign;
pub use request::{request, start_provisioning, LoanRequest, ACTIVE};
pub use steps::{
    cleanup_failed, finish_phase, phase_wanted, provision_failed, record_step_attempt_failed,
    record_step_started, step_succeeded, StepRecord,
};
pub use views::{context, detail, list_all, list_for_user, list_for_user_id, LoanContext};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::events::{self, Event, EventKind};
use super::models::{Loan, User};
use super::queue::{self, Job};
use super::schema::loans;
use super::{audit, machines, mail, tasks, DbError};
use crate::error::{AppError, FieldError};
use crate::rules::lifecycle::{self, LoanAction, TransitionError};
use crate::types::{LoanState, MachineState, MailKind, Phase};

#[derive(Debug, thiserror::Error)]
pub enum LoanError {
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("No {pool} machine is free right now. Try again in a while, or pick another pool.")]
    PoolExhausted { pool: String },
    #[error("{0}")]
    Refused(crate::rules::policy::RequestRefusal),
    #[error("Loan {0} was not found.")]
    NotFound(i64),
    #[error("That loan belongs to someone else.")]
    NotYours,
    #[error("This loan can no longer change that way: {0}.")]
    Transition(#[from] TransitionError),
    #[error("{0}")]
    ExtensionRefused(crate::rules::policy::ExtendError),
    #[error("That task was closed already.")]
    TaskClosed,
    #[error("pool {pool} has steps that do not parse: {message}")]
    BadSteps { pool: String, message: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for LoanError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Db(err.into())
    }
}

impl From<LoanError> for AppError {
    fn from(err: LoanError) -> Self {
        match err {
            LoanError::Invalid(fields) => AppError::Validation(fields),
            LoanError::PoolExhausted { .. }
            | LoanError::Transition(_)
            | LoanError::ExtensionRefused(_)
            | LoanError::TaskClosed => AppError::Conflict(err.to_string()),
            LoanError::Refused(_) => AppError::Forbidden,
            LoanError::NotFound(id) => AppError::NotFound(format!("Loan {id}")),
            LoanError::NotYours => AppError::Forbidden,
            LoanError::BadSteps { .. } => {
                tracing::error!(error = %err, "pool configuration error");
                AppError::Internal
            }
            LoanError::Db(db) => db.into(),
        }
    }
}

/// Locks a loan row for the rest of the transaction.
pub(crate) async fn lock(conn: &mut AsyncPgConnection, loan_id: i64) -> Result<Loan, LoanError> {
    loans::table
        .find(loan_id)
        .for_update()
        .select(Loan::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(LoanError::NotFound(loan_id))
}

/// A developer acts on their own loans only; admins on any.
pub(crate) fn authorize(actor: &User, loan: &Loan) -> Result<(), LoanError> {
    if loan.user_id == actor.id || actor.is_admin() {
        Ok(())
    } else {
        Err(LoanError::NotYours)
    }
}

pub(crate) async fn set_state(
    conn: &mut AsyncPgConnection,
    loan_id: i64,
    state: LoanState,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let ended = state.is_terminal().then_some(now);
    diesel::update(loans::table.find(loan_id))
        .set((
            loans::state.eq(state.as_str()),
            loans::updated_at.eq(now),
            loans::ended_at.eq(ended),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// "I'm done": the machine goes to clean-up and comes back to the pool when that succeeds.
pub async fn return_loan(
    conn: &mut AsyncPgConnection,
    actor: &User,
    loan_id: i64,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(actor), now).await?;
        let loan = lock(conn, loan_id).await?;
        authorize(actor, &loan)?;
        let to = lifecycle::next(loan.state(), LoanAction::Return)?;
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
    loan_id: i64,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(actor), now).await?;
        let loan = lock(conn, loan_id).await?;
        authorize(actor, &loan)?;
        let to = lifecycle::next(loan.state(), LoanAction::Cancel)?;
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

/// Marks the loan's machine as being cleaned and queues the first clean-up step.
pub(crate) async fn start_cleanup(
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
