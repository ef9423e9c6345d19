//! The approval queue: requests to pools that need an admin. Approving (optionally for a shorter
//! time) assigns a free machine or puts the loan in line; denying needs a reason. The requester
//! is told by email and on the loan's timeline.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::request::approve_and_assign;
use super::views::list_for_user_id;
use super::{admin_only, lock_for, LoanError};
use crate::error::FieldError;
use crate::rules::lifecycle::{self, LoanAction};
use crate::rules::policy::format_hours;
use crate::rules::validate;
use crate::server::events::{self, Event};
use crate::server::models::{Loan, User};
use crate::server::schema::loans as loans_table;
use crate::server::{mail, pools};
use crate::types::{ApprovalRow, EventKind, LoanId, LoanState, MailKind};

/// Approves a request, for `duration_hours` if the admin shortens it. Returns the loan's state
/// afterwards (provisioning, or waiting when no machine is free).
pub async fn approve(
    conn: &mut AsyncPgConnection,
    admin: &User,
    loan_id: LoanId,
    duration_hours: Option<i32>,
    now: DateTime<Utc>,
) -> Result<LoanState, LoanError> {
    admin_only(admin)?;
    conn.transaction(async |conn| {
        let loan = lock_for(conn, admin, loan_id, now).await?;
        lifecycle::next(loan.state, LoanAction::Approve)?;
        if let Some(hours) = duration_hours {
            if hours < 1 || hours > loan.duration_hours {
                return Err(LoanError::Invalid(vec![FieldError::new(
                    "duration_hours",
                    format!(
                        "Approve for 1 hour up to the {} asked for.",
                        format_hours(loan.duration_hours)
                    ),
                )]));
            }
            if hours < loan.duration_hours {
                diesel::update(loans_table::table.find(loan.id))
                    .set((
                        loans_table::duration_hours.eq(hours),
                        loans_table::decision_reason.eq(format!(
                            "Shortened from {}",
                            format_hours(loan.duration_hours)
                        )),
                    ))
                    .execute(conn)
                    .await?;
                events::record(
                    conn,
                    loan.id,
                    now,
                    Event::new(
                        EventKind::Shortened,
                        format!(
                            "{} shortened the loan from {} to {}",
                            admin.name,
                            format_hours(loan.duration_hours),
                            format_hours(hours)
                        ),
                    )
                    .by(admin.id),
                )
                .await?;
            }
        }
        let pool = pools::find(conn, loan.pool_id).await?;
        let state = approve_and_assign(conn, loan.id, &pool, Some(admin), true, now).await?;
        mail::send(conn, MailKind::Approved, loan.id, None, now).await?;
        Ok(state)
    })
    .await
}

/// Approves several requests at once, all or none: when one cannot be approved (another admin
/// decided it meanwhile, or it asked for less than `duration_hours`) nothing changes.
pub async fn approve_many(
    conn: &mut AsyncPgConnection,
    admin: &User,
    loan_ids: &[LoanId],
    duration_hours: Option<i32>,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    conn.transaction(async |conn| {
        for id in loan_ids {
            approve(conn, admin, *id, duration_hours, now).await?;
        }
        Ok(())
    })
    .await
}

/// Denies a request; the reason is required and goes to the requester.
pub async fn deny(
    conn: &mut AsyncPgConnection,
    admin: &User,
    loan_id: LoanId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    admin_only(admin)?;
    let reason = validate::note(
        reason,
        "Say why, so the requester knows what to do instead.",
    )
    .map_err(|m| LoanError::Invalid(vec![FieldError::new("reason", m)]))?;
    conn.transaction(async |conn| {
        let loan = lock_for(conn, admin, loan_id, now).await?;
        let denied = lifecycle::next(loan.state, LoanAction::Deny)?;
        diesel::update(loans_table::table.find(loan.id))
            .set((
                loans_table::state.eq(denied),
                loans_table::decision_reason.eq(&reason),
                loans_table::approved_by.eq(admin.id),
                loans_table::ended_at.eq(now),
                loans_table::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        events::record(
            conn,
            loan.id,
            now,
            Event::new(
                EventKind::Denied,
                format!("Denied by {}: {reason}", admin.name),
            )
            .by(admin.id),
        )
        .await?;
        mail::send(conn, MailKind::Denied, loan.id, None, now).await?;
        Ok(())
    })
    .await
}

/// Requests waiting for an admin, oldest first, each with its requester's current loans.
pub async fn queue(conn: &mut AsyncPgConnection) -> Result<Vec<ApprovalRow>, LoanError> {
    let requested: Vec<Loan> = loans_table::table
        .filter(loans_table::state.eq(LoanState::Requested))
        .order(loans_table::requested_at.asc())
        .select(Loan::as_select())
        .load(conn)
        .await?;
    let mut rows = Vec::with_capacity(requested.len());
    for loan in requested {
        let all = list_for_user_id(conn, loan.user_id).await?;
        let (this, others): (Vec<_>, Vec<_>) = all.into_iter().partition(|s| s.id == loan.id);
        let Some(summary) = this.into_iter().next() else {
            continue;
        };
        rows.push(ApprovalRow {
            bug_url: None,
            summary,
            duration_hours: loan.duration_hours,
            current_loans: others
                .into_iter()
                .filter(|s| LoanState::ACTIVE.contains(&s.state))
                .collect(),
        });
    }
    Ok(rows)
}
