//! A developer's loans: request, follow, return, cancel.

use leptos::prelude::*;

use crate::error::AppError;
use crate::types::{LoanDetail, LoanId, LoanSummary};

/// Requests a loan; returns its id.
#[server(endpoint = "request_loan")]
pub async fn request_loan(
    pool: String,
    reason: String,
    bug_ref: String,
    duration_hours: String,
    ssh_public_key: String,
    wait: Option<String>,
) -> Result<LoanId, AppError> {
    use crate::server::{context, loans};
    let (state, user) = context::require_user().await?;
    state
        .limits
        .check_loan_request(user.id)
        .map_err(context::fail)?;
    let input = loans::LoanRequest {
        pool,
        reason,
        bug_ref,
        duration_hours,
        ssh_public_key,
        // A checked checkbox sends "on"; an unchecked one sends nothing.
        wait: wait.is_some_and(|w| !w.is_empty() && w != "false"),
    };
    let mut conn = state.conn().await.map_err(context::fail)?;
    let id = loans::request(&mut conn, &user, &input, state.clock.now())
        .await
        .map_err(context::fail)?;
    context::redirect_plain_form(&format!("/loans/{id}"));
    Ok(id)
}

/// One loan with its timeline, for its borrower or an admin. `polling`: the open page asks
/// for news by itself, which does not keep the session alive.
#[server(endpoint = "get_loan")]
pub async fn get_loan(id: LoanId, polling: Option<bool>) -> Result<LoanDetail, AppError> {
    use crate::server::{context, loans};
    let (state, user) = if polling == Some(true) {
        context::require_user_polling().await?
    } else {
        context::require_user().await?
    };
    let mut conn = state.conn().await.map_err(context::fail)?;
    let mut detail = loans::detail(&mut conn, &user, id)
        .await
        .map_err(context::fail)?;
    detail.bug_url = detail
        .summary
        .bug_ref
        .as_deref()
        .and_then(|bug| state.site.bug_url(bug));
    Ok(detail)
}

/// The caller's loans, newest first.
#[server(endpoint = "my_loans")]
pub async fn my_loans() -> Result<Vec<LoanSummary>, AppError> {
    use crate::server::{context, loans};
    let (state, user) = context::require_user().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::list_for_user(&mut conn, &user)
        .await
        .map_err(context::fail)
}

/// "I'm done": the machine is cleaned and goes back to the pool.
#[server(endpoint = "return_loan")]
pub async fn return_loan(id: LoanId) -> Result<(), AppError> {
    use crate::server::{context, loans};
    let (state, user) = context::require_user().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::return_loan(&mut conn, &user, id, state.clock.now())
        .await
        .map_err(context::fail)?;
    context::redirect_plain_form(&format!("/loans/{id}"));
    Ok(())
}

/// Calls off a loan that is not ready yet.
#[server(endpoint = "cancel_loan")]
pub async fn cancel_loan(id: LoanId) -> Result<(), AppError> {
    use crate::server::{context, loans};
    let (state, user) = context::require_user().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::cancel(&mut conn, &user, id, state.clock.now())
        .await
        .map_err(context::fail)?;
    context::redirect_plain_form(&format!("/loans/{id}"));
    Ok(())
}

/// Extends a ready loan by the pool's extension length, within its policy.
#[server(endpoint = "extend_loan")]
pub async fn extend_loan(id: LoanId) -> Result<(), AppError> {
    use crate::server::{context, loans};
    let (state, user) = context::require_user().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::extend(
        &mut conn,
        &user,
        id,
        &format!("by {}", user.name),
        &state.site.reminder_offsets_minutes,
        state.clock.now(),
    )
    .await
    .map_err(context::fail)?;
    context::redirect_plain_form(&format!("/loans/{id}"));
    Ok(())
}
