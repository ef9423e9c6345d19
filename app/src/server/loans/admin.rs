//! What admins do to loans beyond what borrowers can: take a machine back early (with a reason,
//! and the borrower told), move a loan to another machine, extend past the pool's policy.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::{lock, start_cleanup, LoanError};
use crate::error::FieldError;
use crate::rules::lifecycle::{self, LoanAction};
use crate::rules::policy::format_hours;
use crate::server::events::{self, Event, EventKind};
use crate::server::models::{Machine, User};
use crate::server::queue::{self, Job};
use crate::server::schema::{loans, machines};
use crate::server::{audit, lifecycle as deadlines, mail, pools};
use crate::types::{MachineState, MailKind};

fn admin_only(actor: &User) -> Result<(), LoanError> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(LoanError::NotYours)
    }
}

fn required(field: &str, value: &str, message: &str) -> Result<String, LoanError> {
    let value = value.trim();
    if value.is_empty() {
        Err(LoanError::Invalid(vec![FieldError::new(field, message)]))
    } else {
        Ok(value.to_owned())
    }
}

/// Takes the machine back now: the borrower is told why, and the clean-up starts.
pub async fn force_return(
    conn: &mut AsyncPgConnection,
    admin: &User,
    loan_id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    admin_only(admin)?;
    let reason = required("reason", reason, "Say why: the borrower is told.")?;
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(admin), now).await?;
        let loan = lock(conn, loan_id).await?;
        let to = lifecycle::next(loan.state(), LoanAction::Return)?;
        diesel::update(loans::table.find(loan.id))
            .set((
                loans::state.eq(to.as_str()),
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

/// The machines a loan could move to: free machines of its pool.
pub async fn move_targets(
    conn: &mut AsyncPgConnection,
    loan_id: i64,
) -> Result<Vec<(i64, String)>, LoanError> {
    let pool_id: i64 = loans::table
        .find(loan_id)
        .select(loans::pool_id)
        .first(conn)
        .await?;
    Ok(machines::table
        .filter(machines::pool_id.eq(pool_id))
        .filter(machines::state.eq(MachineState::Available.as_str()))
        .order(machines::fqdn)
        .select((machines::id, machines::fqdn))
        .load(conn)
        .await?)
}

/// Moves a ready loan to another free machine of its pool: the new one is provisioned (the
/// deadline stays), the old one cleaned and returned to the pool.
pub async fn move_to(
    conn: &mut AsyncPgConnection,
    admin: &User,
    loan_id: i64,
    machine_id: i64,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    admin_only(admin)?;
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(admin), now).await?;
        let loan = lock(conn, loan_id).await?;
        let to = lifecycle::next(loan.state(), LoanAction::Move)?;
        let target: Machine = machines::table
            .find(machine_id)
            .filter(machines::pool_id.eq(loan.pool_id))
            .filter(machines::state.eq(MachineState::Available.as_str()))
            .for_update()
            .select(Machine::as_select())
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| {
                LoanError::Invalid(vec![FieldError::new("machine", "Choose a free machine of the loan's pool.")])
            })?;
        let old = loan.machine_id.ok_or(LoanError::NotFound(loan_id))?;
        let old_fqdn: String = machines::table.find(old).select(machines::fqdn).first(conn).await?;
        diesel::update(loans::table.find(loan.id))
            .set((loans::state.eq(to.as_str()), loans::machine_id.eq(target.id), loans::updated_at.eq(now)))
            .execute(conn)
            .await?;
        crate::server::machines::set_state(conn, target.id, MachineState::Provisioning, None, now).await?;
        crate::server::machines::set_state(conn, old, MachineState::Reclaiming, None, now).await?;
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
        queue::enqueue(conn, &Job::ReclaimStep { loan_id: loan.id, step: 0, machine_id: Some(old) }, now, now).await?;
        queue::enqueue(conn, &Job::ProvisionStep { loan_id: loan.id, step: 0 }, now, now).await?;
        Ok(())
    })
    .await
}

/// Extends a ready loan by `hours`, whatever the pool's policy says; recorded as an override.
pub async fn extend_beyond_policy(
    conn: &mut AsyncPgConnection,
    admin: &User,
    loan_id: i64,
    hours: i32,
    reason: &str,
    site_offsets: &[i32],
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, LoanError> {
    admin_only(admin)?;
    if !(1..=24 * 90).contains(&hours) {
        return Err(LoanError::Invalid(vec![FieldError::new(
            "hours",
            "Extend by 1 hour up to 90 days.",
        )]));
    }
    let reason = required("reason", reason, "Say why the policy does not apply here.")?;
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(admin), now).await?;
        let loan = lock(conn, loan_id).await?;
        lifecycle::next(loan.state(), LoanAction::Extend)?;
        let old = loan.expires_at.ok_or(LoanError::NotFound(loan_id))?;
        let new = old + Duration::hours(i64::from(hours));
        diesel::update(loans::table.find(loan.id))
            .set((loans::expires_at.eq(new), loans::decision_reason.eq(&reason), loans::updated_at.eq(now)))
            .execute(conn)
            .await?;
        let pool = pools::find(conn, loan.pool_id).await?;
        queue::cancel_deadline_jobs(conn, loan.id).await?;
        deadlines::arm_deadline(conn, loan.id, &pool, new, site_offsets, now).await?;
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
        mail::send(conn, MailKind::Extended, loan.id, Some(new), now).await?;
        Ok(new)
    })
    .await
}
