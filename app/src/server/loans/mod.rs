//! Every loan transition lives here, one function each, one transaction each: a person's
//! request, an admin's decision, the scheduler's steps, deadlines, extensions, returns and moves.
//! Each locks the loan, asks `rules::lifecycle::next` whether the move is allowed, and writes the
//! loan, its history event, its audit stamp and its follow-up job together. Jobs and server
//! functions call these; they decide nothing themselves.

mod approve;
mod deadlines;
mod detail;
mod end;
mod extend;
mod form;
mod moves;
mod phases;
mod request;
mod steps;
mod timeline;
mod views;

pub use approve::{approve, approve_many, deny, queue};
pub use deadlines::{arm_deadline, end_grace, expire};
pub use detail::detail;
pub use end::{cancel, force_return, return_loan};
pub use extend::{extend, extend_beyond_policy, restore};
pub use form::LoanRequest;
pub use moves::{move_targets, move_to};
pub use phases::{cleanup_failed, finish_phase, provision_failed};
pub use request::request;
pub use steps::{
    next_step, phase_wanted, record_step_attempt_failed, record_step_started, step_succeeded,
    StepFailure, StepPlan, StepRecord, StepRun,
};
pub use views::{
    context, list_all, list_for_machine, list_for_user, search, watchable, LoanContext, LoanSearch,
    LOAN_PAGE,
};

pub(crate) use request::start_provisioning;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::models::{Loan, User};
use super::schema::loans;
use super::{audit, DbError};
use crate::error::{AppError, FieldError};
use crate::rules::lifecycle::TransitionError;
use crate::rules::policy::{ExtendError, RequestRefusal};
use crate::types::{LoanId, LoanState, TaskId};

#[derive(Debug, thiserror::Error)]
pub enum LoanError {
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("No {pool} machine is free right now. Try again in a while, or pick another pool.")]
    PoolExhausted { pool: String },
    #[error("{0}")]
    Refused(RequestRefusal),
    /// The loan does not exist, or belongs to someone else: the caller cannot tell which.
    #[error("Loan {0} was not found.")]
    NotFound(LoanId),
    #[error("Only admins may do that.")]
    AdminsOnly,
    #[error("Loan {0} has no machine to run a step on.")]
    NoMachine(LoanId),
    #[error("This loan can no longer change that way: {0}.")]
    Transition(#[from] TransitionError),
    #[error("{0}")]
    ExtensionRefused(ExtendError),
    #[error("Task {0} was not found.")]
    TaskNotFound(TaskId),
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
            LoanError::PoolExhausted { .. } | LoanError::Transition(_) | LoanError::TaskClosed => {
                AppError::Conflict(err.to_string())
            }
            LoanError::ExtensionRefused(refusal) => AppError::Refused {
                rule: refusal.rule().to_owned(),
                message: refusal.to_string(),
            },
            LoanError::Refused(refusal) => AppError::Refused {
                rule: refusal.rule().to_owned(),
                message: refusal.to_string(),
            },
            LoanError::NotFound(id) => AppError::NotFound(format!("Loan {id}")),
            LoanError::TaskNotFound(id) => AppError::NotFound(format!("Task {id}")),
            LoanError::AdminsOnly => AppError::Forbidden,
            LoanError::BadSteps { .. } | LoanError::NoMachine(_) => {
                tracing::error!(error = %err, "pool configuration error");
                AppError::Internal
            }
            LoanError::Db(db) => db.into(),
        }
    }
}

/// Locks a loan row for the rest of the transaction.
pub(crate) async fn lock(conn: &mut AsyncPgConnection, loan_id: LoanId) -> Result<Loan, LoanError> {
    loans::table
        .find(loan_id)
        .for_update()
        .select(Loan::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(LoanError::NotFound(loan_id))
}

/// Locks a loan for a change `actor` makes now: the audit rows of the rest of the transaction
/// name them and this time.
pub(crate) async fn lock_for(
    conn: &mut AsyncPgConnection,
    actor: &User,
    loan_id: LoanId,
    now: DateTime<Utc>,
) -> Result<Loan, LoanError> {
    audit::stamp(conn, Some(actor), now).await?;
    lock(conn, loan_id).await
}

/// A developer sees and acts on their own loans only; admins on any. Someone else's loan is
/// answered exactly like one that does not exist, so ids cannot be probed.
pub(crate) fn authorize(actor: &User, loan: &Loan) -> Result<(), LoanError> {
    if loan.user_id == actor.id || actor.is_admin() {
        Ok(())
    } else {
        Err(LoanError::NotFound(loan.id))
    }
}

pub(crate) fn admin_only(actor: &User) -> Result<(), LoanError> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(LoanError::AdminsOnly)
    }
}

/// Moves the loan to `state`; a terminal state also ends it.
pub(crate) async fn set_state(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    state: LoanState,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let ended = state.is_terminal().then_some(now);
    diesel::update(loans::table.find(loan_id))
        .set((
            loans::state.eq(state),
            loans::updated_at.eq(now),
            loans::ended_at.eq(ended),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
