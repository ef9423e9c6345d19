//! The end of a phase: the loan is ready, or its machine is clean and back in the pool (or
//! broken, or on hold for an admin), or provisioning failed and the machine is cleaned.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::deadlines::arm_deadline;
use super::end::start_cleanup;
use super::steps::{phase_wanted, StepRecord};
use super::{lock, set_state, LoanError};
use crate::rules::lifecycle::{self as rules, LoanAction};
use crate::server::events::{self, Event};
use crate::server::models::{Loan, Pool};
use crate::server::schema::loans;
use crate::server::{machines, mail};
use crate::types::{EventKind, LoanId, LoanState, MachineId, MachineState, MailKind, Phase};

/// The phase's steps are all done (or there were none): the loan is ready, or the machine is
/// clean and back in the pool.
pub async fn finish_phase(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    pool: &Pool,
    phase: Phase,
    machine_id: Option<MachineId>,
    site_offsets: &[i32],
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    let loan = lock(conn, loan_id).await?;
    if !phase_wanted(phase, loan.state) {
        return Ok(());
    }
    match phase {
        Phase::Provision => mark_ready(conn, &loan, pool, site_offsets, now).await,
        Phase::Reclaim => finish_cleanup(conn, &loan, pool, machine_id, now).await,
        Phase::Suspend => {
            let event = Event::new(
                EventKind::AccessRevoked,
                "Access revoked; the machine waits for the end of the grace period",
            );
            Ok(events::record(conn, loan.id, now, event).await?)
        }
        Phase::Resume => {
            let event = Event::new(EventKind::AccessRestored, "Access restored");
            Ok(events::record(conn, loan.id, now, event).await?)
        }
    }
}

async fn mark_ready(
    conn: &mut AsyncPgConnection,
    loan: &Loan,
    pool: &Pool,
    site_offsets: &[i32],
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    let ready = rules::next(loan.state, LoanAction::MarkReady)?;
    let Some(machine_id) = loan.machine_id else {
        return Err(LoanError::NotFound(loan.id));
    };
    let machine = machines::find(conn, machine_id).await?;
    // A loan moved to another machine keeps its deadline.
    let expires_at = loan
        .expires_at
        .unwrap_or_else(|| now + Duration::hours(i64::from(loan.duration_hours)));
    diesel::update(loans::table.find(loan.id))
        .set((
            loans::state.eq(ready),
            loans::ready_at.eq(now),
            loans::expires_at.eq(expires_at),
            loans::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    machines::set_state(conn, machine_id, MachineState::Loaned, None, now).await?;
    events::record(
        conn,
        loan.id,
        now,
        Event::new(
            EventKind::Ready,
            format!(
                "Ready: connect with ssh {}@{}. The loan ends {} UTC.",
                pool.login_user,
                machine.fqdn,
                expires_at.format("%Y-%m-%d %H:%M")
            ),
        ),
    )
    .await?;
    arm_deadline(conn, loan.id, pool, expires_at, site_offsets, now).await?;
    mail::send(conn, MailKind::Ready, loan.id, None, now).await?;
    Ok(())
}

async fn finish_cleanup(
    conn: &mut AsyncPgConnection,
    loan: &Loan,
    pool: &Pool,
    machine_id: Option<MachineId>,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    let Some(machine_id) = machine_id.or(loan.machine_id) else {
        return Ok(());
    };
    // The old machine of a moved loan: clean it, leave the loan alone.
    if loan.machine_id != Some(machine_id) {
        machines::mark_clean(conn, machine_id, &pool.image_label(), now).await?;
        events::record(
            conn,
            loan.id,
            now,
            Event::new(
                EventKind::CleanupFinished,
                "The machine the loan moved away from was cleaned",
            )
            .details(serde_json::json!({ "moved_away": machine_id })),
        )
        .await?;
        return Ok(());
    }
    // The loan lets go of the machine first: a clean machine goes straight to the first loan
    // waiting for its pool.
    if let Ok(to) = rules::next(loan.state, LoanAction::FinishCleanup) {
        set_state(conn, loan.id, to, now).await?;
        if to == LoanState::Reclaimed {
            mail::send(conn, MailKind::Reclaimed, loan.id, None, now).await?;
        }
    }
    let machine_state = machines::mark_clean(conn, machine_id, &pool.image_label(), now).await?;
    let whereto = match machine_state {
        MachineState::Available => "back in the pool".to_owned(),
        other => format!("set to {} as an admin asked", other.label().to_lowercase()),
    };
    events::record(
        conn,
        loan.id,
        now,
        Event::new(
            EventKind::CleanupFinished,
            format!(
                "Machine cleaned, re-imaged to {} and {whereto}",
                pool.image_label()
            ),
        ),
    )
    .await?;
    Ok(())
}

/// Provisioning gave up: the loan fails and whatever was done to the machine is cleaned up.
pub async fn provision_failed(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    step: &StepRecord,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    let loan = lock(conn, loan_id).await?;
    if loan.state != LoanState::Provisioning {
        return Ok(());
    }
    let failed = rules::next(loan.state, LoanAction::Fail)?;
    set_state(conn, loan.id, failed, now).await?;
    events::record(
        conn,
        loan.id,
        now,
        Event::new(
            EventKind::Failed,
            format!(
                "Provisioning failed at \"{}\": {error}. The machine is being cleaned up; please request again.",
                step.name
            ),
        ),
    )
    .await?;
    mail::send(conn, MailKind::ProvisioningFailed, loan.id, None, now).await?;
    start_cleanup(conn, &loan, now).await
}

/// Clean-up gave up: the machine is marked broken (admins look at it) and the loan ends.
pub async fn cleanup_failed(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    step: &StepRecord,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    let loan = lock(conn, loan_id).await?;
    let Some(machine_id) = step.machine_id.or(loan.machine_id) else {
        return Ok(());
    };
    let moved_away = loan.machine_id != Some(machine_id);
    let reason = format!(
        "Clean-up step \"{}\" failed after loan {}: {error}",
        step.name, loan.id
    );
    machines::mark_broken(conn, machine_id, &reason, now).await?;
    if !moved_away {
        if let Ok(to) = rules::next(loan.state, LoanAction::FinishCleanup) {
            set_state(conn, loan.id, to, now).await?;
        }
    }
    mail::send(conn, MailKind::CleanupFailed, loan.id, None, now).await?;
    events::record(
        conn,
        loan.id,
        now,
        Event::new(
            EventKind::MachineBroken,
            format!(
                "Clean-up failed at \"{}\": {error}. The machine was marked broken and taken out of the pool for an admin to look at.",
                step.name
            ),
        )
        .details(match moved_away {
            true => serde_json::json!({ "moved_away": machine_id }),
            false => serde_json::json!({}),
        }),
    )
    .await?;
    Ok(())
}
