//! Deadlines. Every ready loan has `expires_at`; its expiry and its reminders are jobs due at
//! exact times (`run_at`), keyed by the deadline they serve, so moving the deadline (an
//! extension) replaces them and a stale one that runs anyway does nothing.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::events::{self, Event, EventKind};
use super::loans::{self, LoanError};
use super::models::{Loan, Pool, User};
use super::queue::{self, Job};
use super::schema::loans as loans_table;
use super::{audit, mail, policies, pools, DbError};
use crate::rules::lifecycle::{self as rules, LoanAction};
use crate::rules::policy::{self, format_hours};
use crate::types::{LoanState, MailKind, Phase};

/// Schedules the expiry of `loan_id` at `deadline` and the reminders before it.
pub async fn arm_deadline(
    conn: &mut AsyncPgConnection,
    loan_id: i64,
    pool: &Pool,
    deadline: DateTime<Utc>,
    site_offsets: &[i32],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    queue::enqueue_once(
        conn,
        &Job::ExpireLoan { loan_id, deadline },
        deadline,
        now,
        &format!("expire:{loan_id}:{}", deadline.timestamp_micros()),
    )
    .await?;
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

/// Extends a ready loan by the pool's extension length, within its policy. `actor` is the
/// borrower or an admin; `via` says how (shown on the timeline). Returns the new deadline.
pub async fn extend(
    conn: &mut AsyncPgConnection,
    actor: &User,
    loan_id: i64,
    via: &str,
    site_offsets: &[i32],
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, LoanError> {
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(actor), now).await?;
        let loan = loans::lock(conn, loan_id).await?;
        loans::authorize(actor, &loan)?;
        rules::next(loan.state(), LoanAction::Extend)?;
        let pool = pools::find(conn, loan.pool_id).await?;
        let rules = policies::effective(conn, &pool).await?;
        let old = loan.expires_at.ok_or(LoanError::NotFound(loan_id))?;
        let new = policy::may_extend(
            loan.duration_hours,
            loan.extensions_used,
            old,
            rules.extension(),
        )
        .map_err(LoanError::ExtensionRefused)?;
        diesel::update(loans_table::table.find(loan.id))
            .set((
                loans_table::expires_at.eq(new),
                loans_table::extensions_used.eq(loan.extensions_used + 1),
                loans_table::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        queue::cancel_deadline_jobs(conn, loan.id).await?;
        arm_deadline(conn, loan.id, &pool, new, site_offsets, now).await?;
        events::record(
            conn,
            loan.id,
            now,
            Event::new(
                EventKind::Extended,
                format!(
                    "Extended by {} {via}; the loan now ends {} UTC ({} of {} extensions used)",
                    format_hours(rules.extension_hours),
                    new.format("%Y-%m-%d %H:%M"),
                    loan.extensions_used + 1,
                    rules.max_extensions
                ),
            )
            .by(actor.id)
            .details(json!({ "from": old, "to": new })),
        )
        .await?;
        mail::send(conn, MailKind::Extended, loan.id, Some(new), now).await?;
        Ok(new)
    })
    .await
}

/// The deadline passed. Without a grace period the machine is reclaimed now; with one, access
/// is cut, the machine kept, and re-imaged when the grace period ends. Does nothing when the
/// deadline moved or the loan ended meanwhile. Returns whether the loan expired.
pub async fn expire(
    conn: &mut AsyncPgConnection,
    loan_id: i64,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, LoanError> {
    let loan = loans::lock(conn, loan_id).await?;
    if loan.state() != LoanState::Ready || loan.expires_at != Some(deadline) {
        return Ok(false);
    }
    let pool = pools::find(conn, loan.pool_id).await?;
    let grace_minutes = policies::effective(conn, &pool).await?.grace_period_minutes;
    let late_ms = (now - deadline).num_milliseconds();
    if grace_minutes > 0 {
        let to = rules::next(loan.state(), LoanAction::Expire)?;
        let grace_end = now + Duration::minutes(i64::from(grace_minutes));
        diesel::update(loans_table::table.find(loan.id))
            .set((
                loans_table::state.eq(to.as_str()),
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
        queue::enqueue_once(
            conn,
            &Job::EndGrace { loan_id, deadline },
            grace_end,
            now,
            &format!("grace:{loan_id}:{}", deadline.timestamp_micros()),
        )
        .await?;
    } else {
        start_reclaim(conn, &loan, deadline, now, late_ms).await?;
    }
    mail::send(conn, MailKind::Expired, loan.id, Some(deadline), now).await?;
    Ok(true)
}

/// The grace period of an expired loan ended: re-image the machine.
pub async fn end_grace(
    conn: &mut AsyncPgConnection,
    loan_id: i64,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, LoanError> {
    let loan = loans::lock(conn, loan_id).await?;
    if loan.state() != LoanState::Expired || loan.expires_at != Some(deadline) {
        return Ok(false);
    }
    start_reclaim(
        conn,
        &loan,
        deadline,
        now,
        (now - deadline).num_milliseconds(),
    )
    .await?;
    Ok(true)
}

async fn start_reclaim(
    conn: &mut AsyncPgConnection,
    loan: &Loan,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
    late_ms: i64,
) -> Result<(), LoanError> {
    let to = rules::next(loan.state(), LoanAction::Reclaim)?;
    loans::set_state(conn, loan.id, to, now).await?;
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
    loans::start_cleanup(conn, loan, now).await
}

/// An admin gives an expired loan (in its grace period) back to its borrower for another
/// extension length; access is restored by the pool's power-on and grant-access steps.
pub async fn restore(
    conn: &mut AsyncPgConnection,
    admin: &User,
    loan_id: i64,
    site_offsets: &[i32],
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, LoanError> {
    if !admin.is_admin() {
        return Err(LoanError::NotYours);
    }
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(admin), now).await?;
        let loan = loans::lock(conn, loan_id).await?;
        let to = rules::next(loan.state(), LoanAction::Restore)?;
        let pool = pools::find(conn, loan.pool_id).await?;
        let rules = policies::effective(conn, &pool).await?;
        let deadline = now + Duration::hours(i64::from(rules.extension_hours));
        diesel::update(loans_table::table.find(loan.id))
            .set((
                loans_table::state.eq(to.as_str()),
                loans_table::expires_at.eq(deadline),
                loans_table::expired_at.eq(None::<DateTime<Utc>>),
                loans_table::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        queue::cancel_deadline_jobs(conn, loan.id).await?;
        arm_deadline(conn, loan.id, &pool, deadline, site_offsets, now).await?;
        queue::enqueue(conn, &Job::step(Phase::Resume, loan.id, 0), now, now).await?;
        events::record(
            conn,
            loan.id,
            now,
            Event::new(
                EventKind::Restored,
                format!(
                    "Restored by admin {}: access is being given back; the loan now ends {} UTC",
                    admin.name,
                    deadline.format("%Y-%m-%d %H:%M")
                ),
            )
            .by(admin.id),
        )
        .await?;
        mail::send(conn, MailKind::Extended, loan.id, Some(deadline), now).await?;
        Ok(deadline)
    })
    .await
}
