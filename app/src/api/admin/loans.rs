//! Admin server functions about loans: the dashboard, the approval queue, manual-step tasks,
//! and what admins do to a loan (restore, force return, move, extend beyond policy).

use leptos::prelude::*;

use crate::error::AppError;
use crate::types::{AdminOverview, ApprovalRow, LoanId, LoanPage, MachineId, TaskId};

/// One page of every loan, newest first: those requested before loan `before` (the newest
/// without it).
#[server(prefix = "/api/admin", endpoint = "list_loans")]
pub async fn admin_list_loans(before: Option<LoanId>) -> Result<LoanPage, AppError> {
    use crate::server::{context, loans};
    let (state, _) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::list_all(&mut conn, before)
        .await
        .map_err(context::fail)
}

/// Gives an expired loan in its grace period back to its borrower.
#[server(prefix = "/api/admin", endpoint = "restore_loan")]
pub async fn restore_loan(id: LoanId) -> Result<(), AppError> {
    use crate::server::{context, loans};
    let (state, admin) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::restore(
        &mut conn,
        &admin,
        id,
        &state.site.reminder_offsets_minutes,
        state.clock.now(),
    )
    .await
    .map_err(context::fail)?;
    Ok(())
}

/// What needs an admin now.
#[server(prefix = "/api/admin", endpoint = "overview")]
pub async fn get_overview() -> Result<AdminOverview, AppError> {
    use crate::server::{admin_views, context};
    let (state, _) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    admin_views::overview(&mut conn)
        .await
        .map_err(context::fail)
}

/// Requests waiting for an admin.
#[server(prefix = "/api/admin", endpoint = "list_approvals")]
pub async fn list_approvals() -> Result<Vec<ApprovalRow>, AppError> {
    use crate::server::{context, loans};
    let (state, _) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    let mut rows = loans::queue(&mut conn).await.map_err(context::fail)?;
    for row in &mut rows {
        row.bug_url = row
            .summary
            .bug_ref
            .as_deref()
            .and_then(|bug| state.site.bug_url(bug));
    }
    Ok(rows)
}

/// Approves requests; `duration_hours` (empty: as asked) shortens them.
#[server(prefix = "/api/admin", endpoint = "approve_loans")]
pub async fn approve_loans(
    ids: Vec<LoanId>,
    duration_hours: Option<String>,
) -> Result<usize, AppError> {
    use crate::server::{context, forms::Form, loans};
    let (state, admin) = context::require_admin().await?;
    let mut form = Form::default();
    let hours = form.optional_int(
        "duration_hours",
        duration_hours.as_deref().unwrap_or_default(),
    );
    form.finish()
        .map_err(|e| context::fail(AppError::Validation(e)))?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::approve_many(&mut conn, &admin, &ids, hours, state.clock.now())
        .await
        .map_err(context::fail)?;
    Ok(ids.len())
}

/// Denies a request; the reason goes to the requester.
#[server(prefix = "/api/admin", endpoint = "deny_loan")]
pub async fn deny_loan(id: LoanId, reason: String) -> Result<(), AppError> {
    use crate::server::{context, loans};
    let (state, admin) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::deny(&mut conn, &admin, id, &reason, state.clock.now())
        .await
        .map_err(context::fail)
}

/// Marks an admin task done (the loan moves on) or failed.
#[server(prefix = "/api/admin", endpoint = "close_task")]
pub async fn close_task(id: TaskId, outcome: String, note: Option<String>) -> Result<(), AppError> {
    use crate::server::{context, tasks};
    use crate::types::TaskOutcome;
    let (state, admin) = context::require_admin().await?;
    let outcome = TaskOutcome::parse(&outcome)
        .ok_or_else(|| context::fail(AppError::field("outcome", "Choose done or failed.")))?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    tasks::close(
        &mut conn,
        &admin,
        id,
        outcome,
        note.as_deref().unwrap_or_default(),
        &state.site.reminder_offsets_minutes,
        state.clock.now(),
    )
    .await
    .map_err(context::fail)
}

/// Takes a machine back early; the borrower is told why.
#[server(prefix = "/api/admin", endpoint = "force_return")]
pub async fn force_return(id: LoanId, reason: String) -> Result<(), AppError> {
    use crate::server::{context, loans};
    let (state, admin) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::force_return(&mut conn, &admin, id, &reason, state.clock.now())
        .await
        .map_err(context::fail)
}

/// The free machines a loan could move to: (id, name).
#[server(prefix = "/api/admin", endpoint = "move_targets")]
pub async fn move_targets(id: LoanId) -> Result<Vec<(MachineId, String)>, AppError> {
    use crate::server::{context, loans};
    let (state, admin) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::move_targets(&mut conn, &admin, id)
        .await
        .map_err(context::fail)
}

/// Moves a ready loan to another machine of its pool.
#[server(prefix = "/api/admin", endpoint = "move_loan")]
pub async fn move_loan(id: LoanId, machine: String) -> Result<(), AppError> {
    use crate::server::{context, loans};
    let (state, admin) = context::require_admin().await?;
    let machine: MachineId = machine
        .parse()
        .map_err(|_| context::fail(AppError::field("machine", "Choose a machine.")))?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::move_to(&mut conn, &admin, id, machine, state.clock.now())
        .await
        .map_err(context::fail)
}

/// Extends a loan past its pool's policy (an override, with a reason).
#[server(prefix = "/api/admin", endpoint = "extend_override")]
pub async fn extend_override(id: LoanId, hours: String, reason: String) -> Result<(), AppError> {
    use crate::server::{context, forms::Form, loans};
    let (state, admin) = context::require_admin().await?;
    let mut form = Form::default();
    let hours = form.int("hours", &hours);
    form.finish()
        .map_err(|e| context::fail(AppError::Validation(e)))?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::extend_beyond_policy(
        &mut conn,
        &admin,
        id,
        hours,
        &reason,
        &state.site.reminder_offsets_minutes,
        state.clock.now(),
    )
    .await
    .map(|_| ())
    .map_err(context::fail)
}
