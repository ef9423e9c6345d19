//! Deadlines. Every ready loan has `expires_at`; its expiry and its reminders are jobs due at
//! exact times (`run_at`), keyed by the deadline they serve, so moving the deadline (an
//! extension) replaces them and a stale one that runs anyway does nothing.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::end::start_cleanup;
use super::{lock, set_state, LoanError};
use crate::rules::lifecycle::{self as rules, LoanAction};
use crate::rules::policy;
use crate::server::events::{self, Event};
use crate::server::models::{Loan, Pool};
use crate::server::queue::{self, Job};
use crate::server::schema::loans as loans_table;
use crate::server::{mail, policies, pools, DbError};
use crate::types::{EventKind, LoanId, LoanState, MailKind, Phase};

/// Schedules the expiry of `loan_id` at `deadline` and the reminders before it.
pub async fn arm_deadline(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    pool: &Pool,
    deadline: DateTime<Utc>,
    site_offsets: &[i32],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    queue::enqueue_timer(conn, &Job::ExpireLoan { loan_id, deadline }, deadline, now).await?;
    for (offset, at) in policy::reminder_times(deadline, &pool.reminder_offsets(site_offsets), now)
    {
        mail::schedule(
            conn,
            MailKind::Reminder,
            Some(loan_id),
            Some(deadline),
            Some(offset),
            at,
            now,
        )
        .await?;
    }
    Ok(())
}

/// The loan's deadline moved to `deadline` (an extension, an override, a restore): the old
/// timers and reminders go, new ones are armed, and the borrower is told.
pub(super) async fn move_deadline(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    pool: &Pool,
    deadline: DateTime<Utc>,
    site_offsets: &[i32],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    queue::cancel_deadline_jobs(conn, loan_id).await?;
    arm_deadline(conn, loan_id, pool, deadline, site_offsets, now).await?;
    mail::send(conn, MailKind::Extended, loan_id, Some(deadline), now).await?;
    Ok(())
}

/// The deadline passed. Without a grace period the machine is reclaimed now; with one, access
/// is cut, the machine kept, and re-imaged when the grace period ends. Does nothing when the
/// deadline moved or the loan ended meanwhile. Runs in the caller's (the timer job's)
/// transaction. Returns whether the loan expired.
pub async fn expire(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, LoanError> {
    let loan = lock(conn, loan_id).await?;
    if loan.state != LoanState::Ready || loan.expires_at != Some(deadline) {
        return Ok(false);
    }
    let pool = pools::find(conn, loan.pool_id).await?;
    let grace_minutes = policies::effective(conn, &pool).await?.grace_period_minutes;
    let late_ms = (now - deadline).num_milliseconds();
    if grace_minutes > 0 {
        let to = rules::next(loan.state, LoanAction::Expire)?;
        let grace_end = now + Duration::minutes(i64::from(grace_minutes));
        diesel::update(loans_table::table.find(loan.id))
            .set((
                loans_table::state.eq(to),
                loans_table::expired_at.eq(now),
                loans_table::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        events::record(
            conn,
            loan.id,
            now,
            Event::new(
                EventKind::Expired,
                format!(
                    "The loan ended at {} UTC. Access is being revoked; the machine is kept until {} UTC in case an admin restores the loan, then it is re-imaged.",
                    deadline.format("%H:%M"),
                    grace_end.format("%Y-%m-%d %H:%M")
                ),
            )
            .details(json!({ "deadline": deadline, "late_ms": late_ms, "grace_until": grace_end })),
        )
        .await?;
        queue::enqueue(conn, &Job::step(Phase::Suspend, loan.id, 0), now, now).await?;
        queue::enqueue_timer(conn, &Job::EndGrace { loan_id, deadline }, grace_end, now).await?;
    } else {
        start_reclaim(conn, &loan, deadline, now, late_ms).await?;
    }
    mail::send(conn, MailKind::Expired, loan.id, Some(deadline), now).await?;
    Ok(true)
}

/// The grace period of an expired loan ended: re-image the machine. Runs in the caller's
/// transaction; does nothing when an admin restored the loan meanwhile.
pub async fn end_grace(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, LoanError> {
    let loan = lock(conn, loan_id).await?;
    if loan.state != LoanState::Expired || loan.expires_at != Some(deadline) {
        return Ok(false);
    }
    let late_ms = (now - deadline).num_milliseconds();
    start_reclaim(conn, &loan, deadline, now, late_ms).await?;
    Ok(true)
}

async fn start_reclaim(
    conn: &mut AsyncPgConnection,
    loan: &Loan,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
    late_ms: i64,
) -> Result<(), LoanError> {
    let to = rules::next(loan.state, LoanAction::Reclaim)?;
    set_state(conn, loan.id, to, now).await?;
    events::record(
        conn,
        loan.id,
        now,
        Event::new(
            EventKind::ReclaimStarted,
            format!(
                "The loan ended at {} UTC: reclaiming the machine (access revoked, re-imaged)",
                deadline.format("%Y-%m-%d %H:%M:%S")
            ),
        )
        .details(json!({ "deadline": deadline, "late_ms": late_ms })),
    )
    .await?;
    start_cleanup(conn, loan, now).await
}
