//! Moving a deadline later: the borrower's extension within the pool's policy, an admin's
//! extension beyond it (an override, with a reason), and an admin restoring an expired loan in
//! its grace period. Each replaces the deadline's timers in the same transaction.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::deadlines::move_deadline;
use super::{admin_only, authorize, lock_for, LoanError};
use crate::error::FieldError;
use crate::rules::lifecycle::{self as rules, LoanAction};
use crate::rules::policy::{self, format_hours};
use crate::rules::validate;
use crate::server::events::{self, Event};
use crate::server::models::User;
use crate::server::queue::{self, Job};
use crate::server::schema::loans as loans_table;
use crate::server::{policies, pools};
use crate::types::{EventKind, LoanId, Phase};

/// Extends a ready loan by the pool's extension length, within its policy. `actor` is the
/// borrower or an admin; `via` says how (shown on the timeline). Returns the new deadline.
pub async fn extend(
    conn: &mut AsyncPgConnection,
    actor: &User,
    loan_id: LoanId,
    via: &str,
    site_offsets: &[i32],
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, LoanError> {
    conn.transaction(async |conn| {
        let loan = lock_for(conn, actor, loan_id, now).await?;
        authorize(actor, &loan)?;
        rules::next(loan.state, LoanAction::Extend)?;
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
        move_deadline(conn, loan.id, &pool, new, site_offsets, now).await?;
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
        Ok(new)
    })
    .await
}

/// Extends a ready loan by `hours`, whatever the pool's policy says; recorded as an override.
pub async fn extend_beyond_policy(
    conn: &mut AsyncPgConnection,
    admin: &User,
    loan_id: LoanId,
    hours: i32,
    reason: &str,
    site_offsets: &[i32],
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, LoanError> {
    admin_only(admin)?;
    let mut errors = Vec::new();
    if !(1..=24 * 90).contains(&hours) {
        errors.push(FieldError::new("hours", "Extend by 1 hour up to 90 days."));
    }
    let reason = validate::note(reason, "Say why the policy does not apply here.")
        .map_err(|m| errors.push(FieldError::new("reason", m)))
        .unwrap_or_default();
    if !errors.is_empty() {
        return Err(LoanError::Invalid(errors));
    }
    conn.transaction(async |conn| {
        let loan = lock_for(conn, admin, loan_id, now).await?;
        rules::next(loan.state, LoanAction::Extend)?;
        let old = loan.expires_at.ok_or(LoanError::NotFound(loan_id))?;
        let new = old + Duration::hours(i64::from(hours));
        diesel::update(loans_table::table.find(loan.id))
            .set((
                loans_table::expires_at.eq(new),
                loans_table::decision_reason.eq(&reason),
                loans_table::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        let pool = pools::find(conn, loan.pool_id).await?;
        move_deadline(conn, loan.id, &pool, new, site_offsets, now).await?;
        events::record(
            conn,
            loan.id,
            now,
            Event::new(
                EventKind::Override,
                format!(
                    "Extended by {} by admin {} beyond the pool's policy (override): {reason}. The loan now ends {} UTC",
                    format_hours(hours),
                    admin.name,
                    new.format("%Y-%m-%d %H:%M")
                ),
            )
            .by(admin.id)
            .details(json!({ "from": old, "to": new, "override": true })),
        )
        .await?;
        Ok(new)
    })
    .await
}

/// An admin gives an expired loan (in its grace period) back to its borrower for another
/// extension length; access is restored by the pool's power-on and grant-access steps.
pub async fn restore(
    conn: &mut AsyncPgConnection,
    admin: &User,
    loan_id: LoanId,
    site_offsets: &[i32],
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, LoanError> {
    admin_only(admin)?;
    conn.transaction(async |conn| {
        let loan = lock_for(conn, admin, loan_id, now).await?;
        let to = rules::next(loan.state, LoanAction::Restore)?;
        let pool = pools::find(conn, loan.pool_id).await?;
        let rules = policies::effective(conn, &pool).await?;
        let deadline = now + Duration::hours(i64::from(rules.extension_hours));
        diesel::update(loans_table::table.find(loan.id))
            .set((
                loans_table::state.eq(to),
                loans_table::expires_at.eq(deadline),
                loans_table::expired_at.eq(None::<DateTime<Utc>>),
                loans_table::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        move_deadline(conn, loan.id, &pool, deadline, site_offsets, now).await?;
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
        Ok(deadline)
    })
    .await
}
